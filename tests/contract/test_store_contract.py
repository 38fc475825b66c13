"""The ``TrialStore`` contract, run against every adapter (see ``conftest.store``).

Each test names one guarantee of ``hyperstep.stores.base``; the races live in
``test_store_races.py``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest

from hyperstep.errors import ConflictError, JobExistsError, NotFoundError, TrialExistsError
from hyperstep.models import Charge, Job, JobStatus, MetricReport, StopReason, Trial, TrialState, trial_id
from hyperstep.spec import JobSpec
from hyperstep.spec_base import STORED
from hyperstep.stores.base import TrialStore, place
from tests.contract.conftest import Clock, add, full_spec, trials_of

MakeJob = Callable[..., Job]


# jobs


def test_job_round_trips_exactly(store: TrialStore) -> None:
    job = Job(
        id="round-trip",
        spec=full_spec("maximize"),
        created_at=1732662000.1234567,
        ended_at=1732665600.000001,
        reopened_at=1732664400.0000003,
        status=JobStatus.STOPPING,
        trial_seq=7,
        budget_used=6,
        completed=4,
        failed=1,
        best_trial_id="t0003",
        best_value=0.30000000000000004,
        execution_id="arn:aws:states:us-east-1:123456789012:execution:tuning:round-trip",
        error="a reason, with ünïcode",
        parents=("earlier-job-1", "earlier-job-2"),
        seed=2**31 - 1,
        owner="arn:aws:iam::123456789012:role/pipeline",
    )
    store.create_job(job)
    assert store.get_job(job.id) == job
    assert store.list_jobs() == [job]


def test_a_spec_stored_under_older_rules_stays_readable(store: TrialStore) -> None:
    """A spec is checked when it comes in; reading it back does not repeat the checks that
    depend on the code (here: options no strategy takes any more), or one old job would
    make every listing fail."""
    document = full_spec().model_dump(mode="json")
    document["strategy"]["options"] = {"kappa": 2.5}
    job = Job(id="old-rules", spec=JobSpec.model_validate(document, context=STORED))
    store.create_job(job)
    assert store.get_job(job.id) == job and store.list_jobs() == [job] and store.list_unfinished_jobs() == [job]


def test_create_job_refuses_a_taken_id_and_keeps_the_first(store: TrialStore, make_job: MakeJob) -> None:
    first = make_job()
    with pytest.raises(JobExistsError):
        store.create_job(Job(id=first.id, spec=full_spec("maximize")))
    assert store.get_job(first.id) == first


def test_missing_records_raise_not_found(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    with pytest.raises(NotFoundError):
        store.get_job("no-such-job")
    with pytest.raises(NotFoundError):
        store.set_job_status("no-such-job", JobStatus.COMPLETED)
    with pytest.raises(NotFoundError):
        add(store, Job(id="no-such-job", spec=full_spec()), 1, 5)
    with pytest.raises(NotFoundError):
        store.get_trial(job.id, "t9999")
    with pytest.raises(NotFoundError):
        store.start_trial(job.id, "t9999", "ref")
    with pytest.raises(NotFoundError):
        store.finish_trial(job.id, "t9999", TrialState.COMPLETED, 1.0)


def test_list_jobs_newest_first_and_limited(store: TrialStore, make_job: MakeJob) -> None:
    middle, old, new = (make_job(created_at=t) for t in (1_700_000_200.5, 1_700_000_100.0, 1_700_000_300.25))
    assert [j.id for j in store.list_jobs()] == [new.id, middle.id, old.id]
    assert [j.id for j in store.list_jobs(limit=2)] == [new.id, middle.id]


def test_list_jobs_of_an_owner_holds_only_its_jobs_newest_first(store: TrialStore) -> None:
    alice, bob = "arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:role/bob"
    owners = {"a-old": alice, "b-1": bob, "local": None, "a-new": alice, "a-mid": alice}
    for number, (job_id, owner) in enumerate(owners.items()):
        store.create_job(Job(id=job_id, spec=full_spec(), created_at=1_700_000_000.0 + number, owner=owner))
    store.set_job_status("a-mid", JobStatus.COMPLETED)  # a status write keeps the job in its owner's list
    assert [j.id for j in store.list_jobs(owner=alice)] == ["a-mid", "a-new", "a-old"]
    assert [j.id for j in store.list_jobs(owner=alice, limit=2)] == ["a-mid", "a-new"]
    assert [j.id for j in store.list_jobs(owner=bob)] == ["b-1"]
    assert store.list_jobs(owner="arn:aws:iam::123456789012:user/nobody") == []
    assert len(store.list_jobs()) == 5


def test_list_jobs_after_a_place_pages_through_every_job_once(store: TrialStore) -> None:
    """Pages from ``after`` (the last job of the page before) neither repeat nor skip a job,
    jobs created at the same time included (ordered by id, last first); with an owner, only
    that owner's jobs, whatever place is given; a job created after the first page is not
    slipped into a later one."""
    alice, bob = "arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:role/bob"
    times = [1_700_000_000.0, 1_700_000_001.5, 1_700_000_001.5, 1_700_000_001.5, 1_700_000_002.0, 1_700_000_003.0]
    for number, created_at in enumerate(times):
        store.create_job(Job(id=f"a-{number}", spec=full_spec(), created_at=created_at, owner=alice))
        store.create_job(Job(id=f"b-{number}", spec=full_spec(), created_at=created_at + 0.25, owner=bob))
    everyone = [j.id for j in store.list_jobs(limit=100)]
    assert everyone[:4] == ["b-5", "a-5", "b-4", "a-4"] and everyone[4:10] == ["b-3", "b-2", "b-1", "a-3", "a-2", "a-1"]
    for owner, expected in ((None, everyone), (alice, [i for i in everyone if i.startswith("a-")])):
        first = store.list_jobs(limit=2, owner=owner)
        store.create_job(Job(id=f"new-{owner is None}", spec=full_spec(), created_at=1_800_000_000.0, owner=owner))
        seen, page = [j.id for j in first], first
        while page and len(seen) <= len(expected):  # bounded: a place ignored would page forever
            page = store.list_jobs(limit=2, owner=owner, after=place(page[-1]))
            seen += [j.id for j in page]
        assert seen == expected
    bobs_place = place(store.get_job("b-3"))
    assert [j.id for j in store.list_jobs(owner=alice, after=bobs_place)] == ["a-3", "a-2", "a-1", "a-0"]


def test_list_unfinished_jobs_holds_every_running_or_stopping_job_and_only_those(
    store: TrialStore, make_job: MakeJob
) -> None:
    running, stopping, finished, refused = make_job(), make_job(status=JobStatus.STOPPING), make_job(), make_job()
    born_done = make_job(status=JobStatus.COMPLETED)
    reopened, stopped = make_job(status=JobStatus.FAILED), make_job()
    store.set_job_status(finished.id, JobStatus.COMPLETED)
    store.set_job_status(reopened.id, JobStatus.RUNNING)
    store.set_job_status(stopped.id, JobStatus.STOPPING)
    store.set_job_status(stopped.id, JobStatus.STOPPED)
    with pytest.raises(ConflictError):  # a refused write changes nothing
        store.set_job_status(refused.id, JobStatus.COMPLETED, expected=[JobStatus.STOPPING])
    with pytest.raises(NotFoundError):
        store.set_job_status("no-such-job", JobStatus.RUNNING)
    unfinished = {job.id: job for job in store.list_unfinished_jobs()}
    assert set(unfinished) == {running.id, stopping.id, refused.id, reopened.id}
    assert all(job == store.get_job(job_id) for job_id, job in unfinished.items())
    assert born_done.id not in unfinished and store.get_job(born_done.id).status is JobStatus.COMPLETED


def test_set_job_status_stamps_end_and_stores_details(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    running = store.set_job_status(job.id, JobStatus.RUNNING, execution_id="exec-1")
    assert running.execution_id == "exec-1" and running.ended_at is None
    done = store.set_job_status(job.id, JobStatus.FAILED, expected=[JobStatus.RUNNING], error="boom")
    assert (done.status, done.error, done.execution_id) == (JobStatus.FAILED, "boom", "exec-1")
    assert done.ended_at is not None and done.ended_at >= job.created_at
    assert store.get_job(job.id) == done
    reopened = store.set_job_status(job.id, JobStatus.RUNNING)
    assert reopened.ended_at is None and reopened.error is None  # the failure was the earlier end's
    assert store.get_job(job.id) == reopened


def test_set_job_status_keeps_an_error_given_or_of_a_finished_job(store: TrialStore, make_job: MakeJob) -> None:
    """Only a reopened job drops its error: a finished status keeps why the job failed (a
    failed start then stopped by its user), and an error given is stored whatever the status."""
    job = make_job()
    store.set_job_status(job.id, JobStatus.FAILED, error="could not start execution: throttled")
    stopped = store.set_job_status(job.id, JobStatus.STOPPED, expected=[JobStatus.FAILED])
    assert stopped.error == "could not start execution: throttled"
    reopened = store.set_job_status(job.id, JobStatus.RUNNING, error="noted")
    assert reopened.error == "noted" and store.get_job(job.id) == reopened


def test_a_reopened_job_drops_its_last_end_s_stop_reason_a_draining_one_is_kept(
    store: TrialStore, make_job: MakeJob
) -> None:
    """``run --resume`` of a job stopped with Ctrl-C showed stopped_by_user while it ran again
    (and Suggest, seeing a reason set, recorded no rule that drains it). A move to running
    without ``reopen`` is how such a rule is recorded: its reason stays."""
    job = make_job()
    store.set_job_status(job.id, JobStatus.STOPPED, stop_reason=StopReason.STOPPED_BY_USER, stop_detail="Ctrl-C")
    reopened = store.set_job_status(job.id, JobStatus.RUNNING, reopen=True)
    assert (reopened.stop_reason, reopened.stop_detail) == (None, None) and store.get_job(job.id) == reopened
    draining = store.set_job_status(
        job.id, JobStatus.RUNNING, expected=[JobStatus.RUNNING], stop_reason=StopReason.TARGET_REACHED, stop_detail="t"
    )
    assert store.set_job_status(job.id, JobStatus.RUNNING, execution_id="exec-2").stop_reason == draining.stop_reason
    given = store.set_job_status(job.id, JobStatus.RUNNING, reopen=True, stop_reason=StopReason.MAX_TRIALS)
    assert (given.stop_reason, store.get_job(job.id).stop_reason) == (StopReason.MAX_TRIALS, StopReason.MAX_TRIALS)


def test_a_reopening_is_stamped_and_a_write_over_a_job_as_read_holds_only_while_it_is(
    store: TrialStore, make_job: MakeJob, clock: Clock
) -> None:
    """``reopen`` stamps ``reopened_at`` (a start's grace counts from it); ``as_read``
    (the reaper failing a job whose start recorded no execution, a failed start) lands only
    while the job's recorded execution is the one read (none, or an earlier run's) and it
    was not reopened since: a record or a reopening that lands first refuses it."""
    job = make_job()
    read = store.get_job(job.id)
    recorded = store.set_job_status(job.id, JobStatus.RUNNING, expected=[JobStatus.RUNNING], execution_id="exec-1")
    with pytest.raises(ConflictError):
        store.set_job_status(job.id, JobStatus.FAILED, expected=[JobStatus.RUNNING], as_read=read)
    assert store.get_job(job.id) == recorded and recorded.reopened_at is None

    job = make_job()
    read = store.get_job(job.id)
    store.set_job_status(job.id, JobStatus.FAILED, error="start failed")
    clock.now += 10
    reopened = store.set_job_status(job.id, JobStatus.RUNNING, expected=[JobStatus.FAILED], reopen=True)
    assert reopened.reopened_at == clock.now and reopened.opened_at == clock.now
    assert store.get_job(job.id) == reopened
    with pytest.raises(ConflictError):  # read before the reopening
        store.set_job_status(job.id, JobStatus.FAILED, expected=[JobStatus.RUNNING], as_read=read)
    assert store.get_job(job.id) == reopened
    failed = store.set_job_status(job.id, JobStatus.FAILED, expected=[JobStatus.RUNNING], as_read=reopened)
    assert failed.status is JobStatus.FAILED and failed.reopened_at == reopened.reopened_at

    earlier_run = store.set_job_status(job.id, JobStatus.RUNNING, execution_id="exec-old", reopen=True)
    store.set_job_status(job.id, JobStatus.RUNNING, expected=[JobStatus.RUNNING], execution_id="exec-new")
    with pytest.raises(ConflictError):  # read with the earlier run's execution
        store.set_job_status(job.id, JobStatus.FAILED, expected=[JobStatus.RUNNING], as_read=earlier_run)
    assert store.get_job(job.id).status is JobStatus.RUNNING
    current = store.get_job(job.id)
    assert store.set_job_status(job.id, JobStatus.FAILED, as_read=current).status is JobStatus.FAILED


def test_set_job_status_from_an_unexpected_status_conflicts(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    stopped = store.set_job_status(job.id, JobStatus.STOPPED)
    with pytest.raises(ConflictError):
        store.set_job_status(job.id, JobStatus.COMPLETED, expected=[JobStatus.RUNNING, JobStatus.STOPPING])
    assert store.get_job(job.id) == stopped


# budget


def test_reserve_hands_out_consecutive_numbers_within_budget(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    assert add(store, job, 3, 5) == [1, 2, 3]
    assert add(store, job, 3, 5) == [4, 5]
    assert add(store, job, 3, 5) == []
    after = store.get_job(job.id)
    assert (after.trial_seq, after.budget_used) == (5, 5)


def test_reserve_without_limit_and_zero_requests(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    assert add(store, job, 0) == []
    assert add(store, job, -2) == []
    assert add(store, job, -2, 3) == []
    assert add(store, job, 4) == [1, 2, 3, 4]
    assert add(store, job, 2, 3) == []
    assert store.get_job(job.id).budget_used == 4


def test_stopped_trial_gives_its_budget_back(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    assert add(store, job, 2, 2) == [1, 2]
    assert store.finish_trial(job.id, trial_id(1), TrialState.STOPPED)
    after = store.get_job(job.id)
    assert (after.budget_used, after.completed, after.failed) == (1, 0, 0)
    assert add(store, job, 2, 2) == [3]  # a fresh number, never a reused one


# trials


def test_trials_round_trip_exactly_and_list_by_number(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    params = {"lr": 1e-300, "m": 0.1, "neg": -0.0, "big": 2**62, "n": 3, "s": "relu", "t": True, "f": False}
    trials = [
        Trial(job_id=job.id, id=trial_id(k), number=k, params={**params, "k": k}, created_at=1.5 + k)
        for k in (10000, 2, 9999)
    ]
    store.put_trials(trials)
    listed = store.list_trials(job.id)
    assert [t.number for t in listed] == [2, 9999, 10000]
    assert listed == sorted(trials, key=lambda t: t.number)
    got = store.get_trial(job.id, trial_id(2)).params
    assert [type(got[k]) for k in params] == [float, float, float, int, int, str, bool, bool]
    assert store.list_trials(make_job().id) == []


def test_put_trials_is_all_or_none(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    store.put_trials(trials_of(job, [1]))
    with pytest.raises(TrialExistsError):
        store.put_trials(trials_of(job, [2, 1, 3]))
    with pytest.raises(TrialExistsError):
        store.put_trials(trials_of(job, [4, 5, 4]))
    assert [t.number for t in store.list_trials(job.id)] == [1]


def test_start_trial_only_from_pending(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    store.put_trials(trials_of(job, [1, 2]))
    started = store.start_trial(job.id, trial_id(1), "training-job-1")
    assert (started.state, started.backend_ref) == (TrialState.RUNNING, "training-job-1")
    assert started.started_at is not None and store.get_trial(job.id, trial_id(1)) == started
    with pytest.raises(ConflictError):
        store.start_trial(job.id, trial_id(1), "again")
    store.finish_trial(job.id, trial_id(2), TrialState.FAILED, error="lost")
    with pytest.raises(ConflictError):
        store.start_trial(job.id, trial_id(2), "late")
    assert store.get_trial(job.id, trial_id(1)) == started


@pytest.mark.parametrize("status", [JobStatus.STOPPED, JobStatus.COMPLETED, JobStatus.FAILED])
def test_start_trial_only_while_the_job_is_unfinished(store: TrialStore, make_job: MakeJob, status: JobStatus) -> None:
    """A job closed after its trial was planned starts it no more: the trial stays pending
    (the launcher stops what it launched and records the trial stopped). A stopping job's
    trial starts: its loop stops it with the others."""
    job = make_job()
    store.put_trials(trials_of(job, [1, 2]))
    store.set_job_status(job.id, JobStatus.STOPPING)
    assert store.start_trial(job.id, trial_id(1), "training-job-1").state is TrialState.RUNNING
    store.set_job_status(job.id, status)
    with pytest.raises(ConflictError, match=f"job {job.id!r} is {status.value}"):
        store.start_trial(job.id, trial_id(2), "training-job-2")
    assert store.get_trial(job.id, trial_id(2)).state is TrialState.PENDING


def at_step(value: float, step: int | None = None, final: bool = False, at: float | None = None) -> MetricReport:
    return MetricReport(value=value, step=step, final=final, at=at)


def test_report_metrics_merges_while_active_only(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    store.put_trials(trials_of(job, [1]))
    assert store.report_metrics(job.id, trial_id(1), {"loss": at_step(0.5, 1), "acc": at_step(0.1, 1)})
    written = store.report_metrics(job.id, trial_id(1), {"loss": at_step(0.25, 2)})
    assert written == store.get_trial(job.id, trial_id(1))
    assert written is not None and written.metrics == {"loss": 0.25, "acc": 0.1}
    store.finish_trial(job.id, trial_id(1), TrialState.COMPLETED, 0.2, {"loss": 0.2})
    assert store.report_metrics(job.id, trial_id(1), {"loss": at_step(9.0, 3)}) is None
    assert store.get_trial(job.id, trial_id(1)).metrics == {"loss": 0.2}


def test_reports_keep_their_step_and_finality_and_merge_in_any_order(store: TrialStore, make_job: MakeJob) -> None:
    """Steps, a final report and duplicates, arriving in six different orders, leave the
    same trial: per metric the final report, else the highest step's."""
    job = make_job()
    reports = [
        {"loss": at_step(0.9, 1, at=10.0), "acc": at_step(0.5, 1, at=10.0)},
        {"loss": at_step(0.6, 2, at=20.0)},
        {"loss": at_step(0.4, final=True, at=30.0)},
        {"loss": at_step(0.9, 1, at=10.0)},  # a duplicate of the first
    ]
    orders = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2], [2, 1, 3, 0], [0, 2, 1, 3]]
    store.put_trials(trials_of(job, list(range(1, len(orders) + 1))))
    for number, order in enumerate(orders, start=1):
        for k in order:
            store.report_metrics(job.id, trial_id(number), reports[k])
    trials = store.list_trials(job.id)
    expected = {"loss": at_step(0.4, final=True, at=30.0), "acc": at_step(0.5, 1, at=10.0)}
    assert [t.reports for t in trials] == [expected] * len(orders)
    assert [t.metrics for t in trials] == [{"loss": 0.4, "acc": 0.5}] * len(orders)


def test_await_result_keeps_the_first_end_and_the_trial_active(
    store: TrialStore, make_job: MakeJob, clock: Clock
) -> None:
    job = make_job()
    add(store, job, 1)
    store.start_trial(job.id, trial_id(1), "ref")
    clock.now = 1000.5
    first = store.await_result(job.id, trial_id(1))
    assert first is not None and first.awaiting_result_since == 1000.5 and first.state is TrialState.RUNNING
    clock.now = 2000.0
    again = store.await_result(job.id, trial_id(1))  # a duplicate end event
    assert again == first == store.get_trial(job.id, trial_id(1))
    assert store.get_job(job.id).completed == 0
    store.finish_trial(job.id, trial_id(1), TrialState.FAILED, error="no objective")
    clock.now = 3000.0
    assert store.await_result(job.id, trial_id(1)) is None
    assert store.get_trial(job.id, trial_id(1)).awaiting_result_since == 1000.5


def test_note_stop_keeps_why_the_job_stops_a_running_trial_until_its_end(store: TrialStore, make_job: MakeJob) -> None:
    """stop-23: the job's reason for stopping a running trial (a completion rule's, not its
    scheduler's) is kept on the trial before its backend is told, so its "stopped" end can
    say so; only a running trial takes it, and the end's own record replaces it."""
    job = make_job()
    add(store, job, 2)
    store.start_trial(job.id, trial_id(1), "ref")
    assert not store.note_stop(job.id, trial_id(2), "stopped by the job (target 0.2 reached)")  # pending
    assert store.note_stop(job.id, trial_id(1), "stopped by the job (target 0.2 reached)")
    noted = store.get_trial(job.id, trial_id(1))
    assert (noted.state, noted.error) == (TrialState.RUNNING, "stopped by the job (target 0.2 reached)")
    assert store.get_trial(job.id, trial_id(2)).error is None
    store.finish_trial(job.id, trial_id(1), TrialState.PRUNED, 0.5, error="stopped by the job (x) at step 2")
    assert not store.note_stop(job.id, trial_id(1), "stopped by the job (finishing)")  # ended
    assert store.get_trial(job.id, trial_id(1)).error == "stopped by the job (x) at step 2"


def test_every_time_a_store_writes_comes_from_its_clock(store: TrialStore, make_job: MakeJob, clock: Clock) -> None:
    job = make_job()
    add(store, job, 2)
    clock.now = 100.25
    store.start_trial(job.id, trial_id(1), "ref-1")
    store.start_trial(job.id, trial_id(2), "ref-2")
    clock.now = 200.5
    store.await_result(job.id, trial_id(2))
    clock.now = 300.75
    store.finish_trial(job.id, trial_id(1), TrialState.COMPLETED, 0.5)
    clock.now = 400.125
    done = store.set_job_status(job.id, JobStatus.STOPPED)
    first, second = store.get_trial(job.id, trial_id(1)), store.get_trial(job.id, trial_id(2))
    assert (first.started_at, first.ended_at) == (100.25, 300.75)
    assert (second.started_at, second.awaiting_result_since) == (100.25, 200.5)
    assert done.ended_at == store.get_job(job.id).ended_at == 400.125


# exactly once


def test_finish_with_expected_states_ends_only_a_trial_in_one_of_them(store: TrialStore, make_job: MakeJob) -> None:
    """A stop meant for a pending trial leaves one its launch started (the caller stops it
    on its backend instead) and ends one still pending."""
    job = make_job()
    add(store, job, 2)
    started = store.start_trial(job.id, trial_id(1), "ref")
    before = store.get_job(job.id)
    assert not store.finish_trial(job.id, trial_id(1), TrialState.STOPPED, expected=(TrialState.PENDING,))
    assert store.get_trial(job.id, trial_id(1)) == started
    assert store.get_job(job.id) == before
    assert store.finish_trial(job.id, trial_id(2), TrialState.STOPPED, expected=(TrialState.PENDING,))
    assert store.get_trial(job.id, trial_id(2)).state is TrialState.STOPPED
    assert store.get_job(job.id).budget_used == before.budget_used - 1


def test_finish_keeps_an_unseen_end_out_of_every_dump_and_a_late_end_clears_it(
    store: TrialStore, make_job: MakeJob
) -> None:
    """A prune recorded before its platform's end (``end_unseen``: the reaper reads that end
    back should its event be lost) keeps the flag with the trial, as the store alone keeps it
    (no answer shows it), and a revision of the end that clears it clears it."""
    job = make_job()
    add(store, job, 1)
    store.start_trial(job.id, trial_id(1), "ref")
    assert store.finish_trial(job.id, trial_id(1), TrialState.PRUNED, 0.5, end_unseen=True)
    pruned = store.get_trial(job.id, trial_id(1))
    assert pruned.end_unseen and "end_unseen" not in pruned.model_dump()
    seen = store.report_after_end(job.id, trial_id(1), {}, None, lambda t: t.model_copy(update={"end_unseen": False}))
    assert seen is not None and not store.get_trial(job.id, trial_id(1)).end_unseen
    assert store.get_job(job.id).pruned == 1  # the same end: no counter moved


def test_finish_records_once_and_a_repeat_changes_nothing(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    add(store, job, 1)
    store.start_trial(job.id, trial_id(1), "ref")
    assert store.finish_trial(job.id, trial_id(1), TrialState.COMPLETED, 0.75, {"val-loss": 0.75, "acc": 0.5})
    trial, after = store.get_trial(job.id, trial_id(1)), store.get_job(job.id)
    assert (trial.state, trial.value, trial.metrics) == (TrialState.COMPLETED, 0.75, {"val-loss": 0.75, "acc": 0.5})
    assert trial.ended_at is not None and trial.backend_ref == "ref"
    assert (after.completed, after.failed, after.budget_used, after.best_value) == (1, 0, 1, 0.75)
    assert not store.finish_trial(job.id, trial_id(1), TrialState.FAILED, error="late duplicate")
    assert not store.finish_trial(job.id, trial_id(1), TrialState.STOPPED)
    assert store.get_trial(job.id, trial_id(1)) == trial
    assert store.get_job(job.id) == after


@pytest.mark.parametrize("state", [TrialState.COMPLETED, TrialState.FAILED, TrialState.STOPPED, TrialState.PRUNED])
def test_finish_keeps_the_charge_and_adds_it_to_the_job_whatever_the_end(
    store: TrialStore, make_job: MakeJob, state: TrialState
) -> None:
    """A stopped or failed trial cost money too: every end adds its cost to the job's total,
    once (a repeated end adds nothing)."""
    job = make_job()
    add(store, job, 2)
    first = Charge(cost_usd=0.125, billable_seconds=1957.0, cost_basis="1 x ml.m5.xlarge at $0.23/h")
    assert store.finish_trial(job.id, trial_id(1), state, 0.5, charge=first)
    assert store.finish_trial(job.id, trial_id(2), TrialState.COMPLETED, 0.25, charge=Charge(cost_usd=1e-05))
    assert not store.finish_trial(job.id, trial_id(1), TrialState.FAILED, charge=Charge(cost_usd=9.0))
    trial = store.get_trial(job.id, trial_id(1))
    assert (trial.cost_usd, trial.billable_seconds, trial.cost_basis) == (0.125, 1957.0, first.cost_basis)
    assert store.get_trial(job.id, trial_id(2)).billable_seconds is None
    assert store.get_job(job.id).cost_usd == pytest.approx(0.12501)


@pytest.mark.parametrize(
    ("state", "value", "counts"),
    [
        (TrialState.FAILED, None, (0, 1, 2)),
        (TrialState.FAILED, 0.1, (0, 1, 2)),
        (TrialState.COMPLETED, None, (0, 1, 2)),
        (TrialState.COMPLETED, 0.1, (1, 0, 2)),
        (TrialState.STOPPED, 0.1, (0, 0, 1)),
    ],
)
def test_finish_moves_the_right_counter(
    store: TrialStore, make_job: MakeJob, state: TrialState, value: float | None, counts: tuple[int, int, int]
) -> None:
    job = make_job()
    add(store, job, 2)
    assert store.finish_trial(job.id, trial_id(1), state, value)  # a pending trial may finish too
    after = store.get_job(job.id)
    assert (after.completed, after.failed, after.budget_used) == counts
    assert after.best_value == (value if counts[0] else None)


@pytest.mark.parametrize(
    ("goal", "values", "best"),
    [
        ("minimize", [0.5, 0.7, -0.25, 0.1, -0.25], (-0.25, 3)),
        ("maximize", [0.5, 0.7, -0.25, 0.7, 0.1], (0.7, 2)),
    ],
)
def test_best_tracks_the_goal(
    store: TrialStore, make_job: MakeJob, goal: str, values: list[float], best: tuple[float, int]
) -> None:
    job = make_job(goal)
    numbers = list(range(1, len(values) + 1))
    store.put_trials(trials_of(job, numbers))
    for k, value in zip(numbers, values):
        assert store.finish_trial(job.id, trial_id(k), TrialState.COMPLETED, value)
    after = store.get_job(job.id)
    assert (after.best_value, after.best_trial_id) == (best[0], trial_id(best[1]))  # ties keep the first


# task tokens


def test_task_token_is_taken_once(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    assert store.take_task_token(job.id) is None
    store.put_task_token(job.id, "token-1")
    store.put_task_token(job.id, "token-2")  # a newer wait replaces the old token
    assert store.take_task_token(job.id) == "token-2"
    assert store.take_task_token(job.id) is None


def test_a_returned_task_token_is_kept_unless_a_newer_one_was_parked(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    store.put_task_token(job.id, "token-1")
    taken = store.take_task_token(job.id)
    store.return_task_token(job.id, taken)  # its send failed: the next waker gets it
    assert store.take_task_token(job.id) == "token-1"
    store.put_task_token(job.id, "token-2")  # the next round parked while a send of token-1 failed
    store.return_task_token(job.id, "token-1")
    assert store.take_task_token(job.id) == "token-2"
    assert store.take_task_token(job.id) is None


def test_a_schedules_spec_is_kept_with_its_owner_replaced_and_forgotten(store: TrialStore) -> None:
    assert store.get_schedule_spec("0123456789abcdef-nightly") is None
    store.put_schedule_spec("0123456789abcdef-nightly", "arn:aws:iam::123456789012:user/alice", {"name": "nightly"})
    store.put_schedule_spec("nightly", None, {"name": "nightly", "budget": {"max_trials": 3}})
    kept = store.get_schedule_spec("0123456789abcdef-nightly")
    assert kept is not None and (kept.owner, kept.spec) == ("arn:aws:iam::123456789012:user/alice", {"name": "nightly"})
    store.put_schedule_spec("0123456789abcdef-nightly", "arn:aws:iam::123456789012:user/alice", {"name": "v2"})
    assert store.get_schedule_spec("0123456789abcdef-nightly").spec == {"name": "v2"}  # type: ignore[union-attr]
    store.delete_schedule_spec("0123456789abcdef-nightly")
    store.delete_schedule_spec("0123456789abcdef-nightly")  # gone already: nothing happens
    assert store.get_schedule_spec("0123456789abcdef-nightly") is None
    assert store.get_schedule_spec("nightly").owner is None  # type: ignore[union-attr]


# several objectives and constraints


def multi_objective_job(job: Job) -> Job:
    """``job`` with two objectives and two constraints (one two-sided)."""
    document = job.spec.model_dump(exclude_none=True)
    del document["objective"]
    document["trial"]["metric_definitions"] += [
        {"name": "kb", "regex": r"kb=([0-9.]+)"},
        {"name": "ms", "regex": r"ms=([0-9.]+)"},
    ]
    document["budget"].pop("target")  # a target is for one objective
    document["objectives"] = [{"metric": "val-loss", "goal": "minimize"}, {"metric": "kb", "goal": "maximize"}]
    document["constraints"] = [{"metric": "ms", "max": 50.5, "min": 0.25}, {"metric": "kb", "max": 1e6}]
    return job.model_copy(update={"id": job.id + "-mo", "spec": JobSpec.model_validate(document)})


def test_several_values_and_constraint_metrics_round_trip(store: TrialStore, make_job: MakeJob) -> None:
    job = multi_objective_job(make_job())
    store.create_job(job)
    assert store.get_job(job.id) == job
    store.put_trials(trials_of(job, [1, 2]))
    values = [0.1 + 0.2, -1e-300]
    assert store.finish_trial(job.id, trial_id(1), TrialState.COMPLETED, values[0], {"ms": 41.0}, values=values)
    assert store.finish_trial(job.id, trial_id(2), TrialState.FAILED, error="crashed")
    done = store.get_trial(job.id, trial_id(1))
    assert done.values == values and done.value == values[0] and done.metrics == {"ms": 41.0}
    assert store.get_trial(job.id, trial_id(2)).values is None
    after = store.get_job(job.id)
    assert after.completed == 1 and after.failed == 1 and after.best_trial_id is None  # a front, no best


def test_best_is_only_ever_a_feasible_trial(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    document = job.spec.model_dump(exclude_none=True)
    document["constraints"] = [{"metric": "val-loss", "min": 0.0}]
    job = job.model_copy(update={"id": job.id + "-c", "spec": JobSpec.model_validate(document)})
    store.create_job(job)
    store.put_trials(trials_of(job, [1, 2, 3]))
    store.finish_trial(job.id, trial_id(1), TrialState.COMPLETED, 0.5, {"val-loss": 0.5})
    store.finish_trial(job.id, trial_id(2), TrialState.COMPLETED, -1.0, {"val-loss": -1.0})  # better, infeasible
    store.finish_trial(job.id, trial_id(3), TrialState.COMPLETED, 0.25)  # better, its metric missing
    after = store.get_job(job.id)
    assert (after.best_value, after.best_trial_id, after.completed) == (0.5, trial_id(1), 3)


def test_a_curve_merges_step_reports_in_any_order_and_stays_with_a_finished_trial(
    store: TrialStore, make_job: MakeJob
) -> None:
    """A trial's curve is kept apart from its record; whatever the order of its step
    reports (and repeats), every read shows the same curve, also once the trial ended."""
    job = make_job()
    steps = {1: 0.9, 2: 0.7, 3: 0.6, 1500: 0.3, 2999: 0.25}  # past 1,000 steps: more than one DynamoDB chunk
    orders = [[1, 2, 3, 1500, 2999, 2], [2999, 1500, 3, 2, 1, 1]]
    store.put_trials(trials_of(job, [1, 2]))
    for number, order in enumerate(orders, start=1):
        for step in order:
            written = store.report_metrics(job.id, trial_id(number), {"loss": at_step(steps[step], step)}, "loss")
            assert written is not None and written == store.get_trial(job.id, trial_id(number))
        assert written.curve == steps and written.metrics == {"loss": 0.25}
    assert [t.curve for t in store.list_trials(job.id)] == [steps, steps]
    store.report_metrics(job.id, trial_id(1), {"loss": at_step(0.1, final=True)}, "loss")  # no point of the curve
    store.finish_trial(job.id, trial_id(1), TrialState.PRUNED, 0.25)
    assert store.report_metrics(job.id, trial_id(1), {"loss": at_step(0.2, 3000)}, "loss") is None
    assert store.get_trial(job.id, trial_id(1)).curve == steps == store.list_trials(job.id)[0].curve


def test_a_report_that_asks_for_no_whole_curve_gets_its_step_and_keeps_every_step(
    store: TrialStore, make_job: MakeJob
) -> None:
    """``whole_curve=False`` returns only the reported step and the curve's two newest
    (what ``Scheduler.decides`` reads); a later whole read, out of order steps among them,
    still has every step."""
    job = make_job()
    store.put_trials(trials_of(job, [1]))
    reported = [
        (3, 0.6, {3: 0.6}),
        (1, 0.9, {3: 0.6, 1: 0.9}),
        (2999, 0.25, {2999: 0.25, 3: 0.6}),
        (2, 0.7, {2999: 0.25, 3: 0.6, 2: 0.7}),
        (3, 0.5, {2999: 0.25, 3: 0.5}),
    ]
    for step, value, curve in reported:
        written = store.report_metrics(job.id, trial_id(1), {"loss": at_step(value, step)}, "loss", whole_curve=False)
        assert written is not None and written.curve == curve
        assert written.model_copy(update={"curve": {}}) == store.get_trial(job.id, trial_id(1)).model_copy(
            update={"curve": {}}
        )
    final = store.report_metrics(job.id, trial_id(1), {"loss": at_step(0.1, final=True)}, "loss", whole_curve=False)
    assert final is not None and final.curve == {}  # no point of the curve
    whole = store.report_metrics(job.id, trial_id(1), {"loss": at_step(0.65, 2)}, "loss")  # at a rung: all of it
    assert whole is not None and whole.curve == {1: 0.9, 2: 0.65, 3: 0.5, 2999: 0.25}
    assert store.get_trial(job.id, trial_id(1)).curve == whole.curve == store.list_trials(job.id)[0].curve


def test_a_curve_at_its_cap_drops_new_steps_and_still_takes_repeats(store: TrialStore, make_job: MakeJob) -> None:
    """Past ``MAX_CURVE_STEPS`` points (10,000; 3 here) a new step is dropped, whichever
    way the report asks for the curve, and a step it holds still takes a newer value."""
    job = make_job()
    store.put_trials(trials_of(job, [1]))
    modules = ("messages", "stores.sqlite", "stores.dynamodb")
    # Imported before any is patched: one first imported under the patch of ``messages`` would
    # bind its 3 for good (``from hyperstep.messages import MAX_CURVE_STEPS``), and the patch
    # would restore that 3 (a later test's 10,000th step dropped, when no DynamoDB test ran first).
    for module in modules:
        importlib.import_module(f"hyperstep.{module}")
    capped = [mock.patch(f"hyperstep.{module}.MAX_CURVE_STEPS", 3) for module in modules]
    with capped[0], capped[1], capped[2]:
        for step in (5, 1, 1200):
            store.report_metrics(job.id, trial_id(1), {"loss": at_step(1.0 / step, step)}, "loss", whole_curve=False)
        dropped = store.report_metrics(job.id, trial_id(1), {"loss": at_step(0.3, 3)}, "loss", whole_curve=False)
        assert dropped is not None and dropped.curve == {1200: 1.0 / 1200, 5: 0.2}  # the newest two, not step 3
        whole = store.report_metrics(job.id, trial_id(1), {"loss": at_step(0.4, 4)}, "loss")
        assert whole is not None and whole.curve == {1: 1.0, 5: 0.2, 1200: 1.0 / 1200}
        # a newer step past the cap is no point, but the trial's latest value (what a local
        # trial's log tail sends past the cap: its newest line's)
        past = store.report_metrics(job.id, trial_id(1), {"loss": at_step(0.05, 1300)}, "loss")
        assert past is not None and (past.metrics["loss"], 1300 in past.curve) == (0.05, False)
        repeat = store.report_metrics(job.id, trial_id(1), {"loss": at_step(0.1, 5)}, "loss", whole_curve=False)
        assert repeat is not None and repeat.curve == {5: 0.1, 1200: 1.0 / 1200}
    assert store.get_trial(job.id, trial_id(1)).curve == {1: 1.0, 5: 0.1, 1200: 1.0 / 1200}


def completed_by_final_report(trial: Trial) -> Trial | None:
    """``report_after_end``'s ``complete`` as the service's, cut down: a final report of the
    objective completes the trial with its value."""
    final = trial.reports.get("val-loss")
    if final is None or not final.final:
        return None
    update = {"state": TrialState.COMPLETED, "value": final.value, "metrics": {**trial.metrics}, "error": None}
    return trial.model_copy(update=update)


@pytest.mark.parametrize("was", [TrialState.STOPPED, TrialState.PRUNED])
def test_reports_after_a_stopped_or_pruned_end_are_kept_and_a_completion_replaces_it_once(
    store: TrialStore, make_job: MakeJob, was: TrialState
) -> None:
    """Events come in no order: reports that reach a trial recorded stopped or pruned are
    kept (a step joins its curve); the end ``complete`` makes of them replaces that end
    once, in one step with the job's counters (the stopped trial's unit of budget taken
    back, or ``pruned`` moved to ``completed``), its best, and its recently ended id; its
    charge, counted at the first end, is not counted again. A step alone lists it in no
    adapter's recently ended ids (its end stands)."""
    job = make_job()
    add(store, job, 3)
    store.report_metrics(job.id, trial_id(1), {"val-loss": at_step(0.9, 1)}, "val-loss")
    assert store.finish_trial(job.id, trial_id(1), was, 0.9, {"val-loss": 0.9}, "stopped", Charge(cost_usd=0.5))
    assert store.finish_trial(job.id, trial_id(2), TrialState.COMPLETED, 0.6)
    store.forget_ended(job.id, [trial_id(1), trial_id(2)])
    before = store.get_job(job.id)
    step = store.report_after_end(
        job.id, trial_id(1), {"val-loss": at_step(0.7, 2)}, "val-loss", completed_by_final_report
    )
    assert step is not None and step == store.get_trial(job.id, trial_id(1))
    assert (step.state, step.curve, step.metrics) == (was, {1: 0.9, 2: 0.7}, {"val-loss": 0.7})
    assert store.get_job(job.id) == before
    assert store.recently_ended(job.id) == frozenset()  # its end stands: nothing a Suggest round reads changed
    final = {"val-loss": at_step(0.4, final=True)}
    ended = store.report_after_end(job.id, trial_id(1), final, "val-loss", completed_by_final_report)
    assert ended is not None and ended == store.get_trial(job.id, trial_id(1))
    assert (ended.state, ended.value, ended.error, ended.curve) == (TrialState.COMPLETED, 0.4, None, {1: 0.9, 2: 0.7})
    assert ended.cost_usd == 0.5
    after = store.get_job(job.id)
    assert (after.completed, after.pruned, after.failed, after.budget_used) == (2, 0, 0, 3)
    assert (after.best_trial_id, after.best_value, after.cost_usd) == (trial_id(1), 0.4, 0.5)
    assert store.recently_ended(job.id) == {trial_id(1)}
    assert store.report_after_end(job.id, trial_id(1), final, "val-loss", completed_by_final_report) is None
    assert store.get_job(job.id) == after


@pytest.mark.parametrize("was", [TrialState.STOPPED, TrialState.PRUNED])
def test_a_revised_end_with_a_larger_charge_adds_only_the_difference_to_the_job_s_cost(
    store: TrialStore, make_job: MakeJob, was: TrialState
) -> None:
    """The completed end ``complete`` makes may carry a larger charge than the stopped or
    pruned end it replaces (its usage covers the whole run): the trial keeps that charge,
    and the job's cost grows by the difference only, counted once."""
    job = make_job()
    add(store, job, 2)
    assert store.finish_trial(job.id, trial_id(2), TrialState.COMPLETED, 0.6, charge=Charge(cost_usd=0.25))
    assert store.finish_trial(job.id, trial_id(1), was, 0.9, charge=Charge(cost_usd=0.5, billable_seconds=100.0))
    assert store.get_job(job.id).cost_usd == 0.75
    larger = Charge(cost_usd=0.625, billable_seconds=125.0, cost_basis="1 x $18/h (cost_per_hour)")

    def completed_and_charged(trial: Trial) -> Trial | None:
        ended = completed_by_final_report(trial)
        return None if ended is None else ended.model_copy(update=larger.fields())

    final = {"val-loss": at_step(0.4, final=True)}
    ended = store.report_after_end(job.id, trial_id(1), final, "val-loss", completed_and_charged)
    assert ended is not None and ended == store.get_trial(job.id, trial_id(1))
    assert (ended.state, ended.cost_usd, ended.billable_seconds, ended.cost_basis) == (
        TrialState.COMPLETED,
        0.625,
        125.0,
        larger.cost_basis,
    )
    after = store.get_job(job.id)
    assert (after.completed, after.cost_usd) == (2, 0.875)
    assert store.report_after_end(job.id, trial_id(1), final, "val-loss", completed_and_charged) is None
    assert store.get_job(job.id) == after


@pytest.mark.parametrize("state", [TrialState.PENDING, TrialState.RUNNING, TrialState.COMPLETED, TrialState.FAILED])
def test_report_after_end_leaves_an_active_completed_or_failed_trial_as_it_is(
    store: TrialStore, make_job: MakeJob, state: TrialState
) -> None:
    job = make_job()
    add(store, job, 1)
    if state is not TrialState.PENDING:
        store.start_trial(job.id, trial_id(1), "ref")
    if state.finished:
        store.finish_trial(job.id, trial_id(1), state, 0.5 if state is TrialState.COMPLETED else None)
    trial, counters = store.get_trial(job.id, trial_id(1)), store.get_job(job.id)
    complete = mock.Mock(side_effect=completed_by_final_report)
    assert (
        store.report_after_end(job.id, trial_id(1), {"val-loss": at_step(0.1, final=True)}, "val-loss", complete)
        is None
    )
    assert complete.call_count == 0
    assert (store.get_trial(job.id, trial_id(1)), store.get_job(job.id)) == (trial, counters)


def test_a_step_report_writes_kilobytes_not_the_whole_curve(dynamodb: Any, table: str) -> None:
    """At 10,000 steps a curve packs into 120 KB: a step report rewrites neither it nor
    the trial's record with it (each write a DynamoDB item's few KB, not ~160 KB)."""
    from hyperstep.stores import dynamodb_items as items
    from hyperstep.stores.dynamodb import DynamoDBStore

    store = DynamoDBStore(table, client=dynamodb)
    job = Job(id="long-curve", spec=full_spec())
    store.create_job(job)
    store.put_trials(trials_of(job, [1]))
    curve = {step: 1.0 / step for step in range(1, 10_000)}
    for written in range(10):  # the curve so far, as chunk items
        chunk = {s: v for s, v in curve.items() if s // items.CURVE_CHUNK_STEPS == written}
        dynamodb.put_item(TableName=table, Item=items.curve_item(job.id, trial_id(1), written, chunk, 0))
    sizes: list[int] = []
    real = store._call

    def measured(operation: str, **kwargs: Any) -> dict:
        if operation in ("put_item", "update_item"):
            sizes.append(len(json.dumps(kwargs, default=lambda b: "x" * len(b))))
        return real(operation, **kwargs)

    def transacted(actions: list[dict[str, Any]]) -> None:
        sizes.extend(len(json.dumps(action, default=lambda b: "x" * len(b))) for action in actions)
        real_transact(actions)

    real_transact = store._transact
    with mock.patch.object(store, "_call", side_effect=measured), mock.patch.object(store, "_transact", transacted):
        after = store.report_metrics(job.id, trial_id(1), {"loss": at_step(1e-4, 10_000)}, "loss")
    assert after is not None and after.curve == {**curve, 10_000: 1e-4}
    assert sizes and max(sizes) < 16_000
    body = dynamodb.get_item(TableName=table, Key=items.key(job.id, items.trial_sk(trial_id(1))))["Item"]["body"]
    assert len(body["S"]) < 2_000


def test_recently_ended_holds_each_ended_trial_until_forgotten(store: TrialStore, make_job: MakeJob) -> None:
    """What ``TrialView`` reads each round instead of every trial: ended ids, active ones never."""
    job = make_job()
    add(store, job, 3)
    store.start_trial(job.id, trial_id(1), "ref")
    assert store.recently_ended(job.id) == frozenset()
    store.finish_trial(job.id, trial_id(1), TrialState.COMPLETED, 0.5)
    store.finish_trial(job.id, trial_id(2), TrialState.STOPPED)
    assert store.recently_ended(job.id) == {trial_id(1), trial_id(2)}
    store.forget_ended(job.id, [trial_id(1)])
    store.finish_trial(job.id, trial_id(3), TrialState.FAILED, error="boom")
    assert {trial_id(2), trial_id(3)} <= store.recently_ended(job.id)
    assert store.get_job(job.id).completed == 1  # the ids ride along with the counters, changing none


def test_forget_ended_drops_the_ids_it_is_given_so_a_round_reads_only_new_ends(
    store: TrialStore, make_job: MakeJob
) -> None:
    """Every adapter keeps the ids itself (SQLite in its ``ended`` table): a Suggest round of
    a long job reads the few trials ended since the last, not an id per trial of the job."""
    job = make_job()
    add(store, job, 3)
    store.finish_trial(job.id, trial_id(1), TrialState.COMPLETED, 0.5)
    store.finish_trial(job.id, trial_id(2), TrialState.PRUNED, 0.7)
    store.forget_ended(job.id, [trial_id(1), trial_id(2)])
    assert store.recently_ended(job.id) == frozenset()
    store.finish_trial(job.id, trial_id(3), TrialState.COMPLETED, 0.4)
    assert store.recently_ended(job.id) == {trial_id(3)}
