"""Collect and step reports with early stopping: the rule a backend's "stopped" end follows,
and what one step report reads to be judged."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from hyperstep.backends.local.adapter import LocalProcessBackend
from hyperstep.messages import LaunchRequest, TrialResult
from hyperstep.models import JobStatus, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend, FakeOrchestrator

ASHA = {"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3, "curve_model": False}


@pytest.fixture
def service() -> TuningService:
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator())
    spec = parse_spec(spec_document(early_stopping=ASHA, budget={"max_trials": 6, "max_parallel": 3}))
    job = service.submit(spec, job_id="job")
    for trial in Study.from_job(service.store, job).ask(3):
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    return service


def test_a_stop_that_landed_on_the_backend_but_not_in_the_store_still_ends_pruned(service: TuningService) -> None:
    """stop_early stops the trial on its backend, then its own write is lost (a crash, a
    timeout). The backend's "stopped" end comes later, after the script reported one more
    step (a training job takes a while to stop), so asking the scheduler again would find
    no rung crossed: the trial was stopped by the scheduler all the same, so it ends pruned,
    keeping its curve and its unit of budget, instead of stopped (budget given back)."""
    backend = service.backends["local"]
    service.report_metrics("job", "t0001", {"loss": 0.1}, step=1)
    lost = mock.patch.object(service.store, "finish_trial", side_effect=TimeoutError("write lost"))
    with lost, pytest.raises(TimeoutError):
        service.report_metrics("job", "t0002", {"loss": 0.5}, step=1)  # behind t0001: stop
    assert backend.stopped == ["t0002"] and service.store.get_trial("job", "t0002").state is TrialState.RUNNING
    service.report_metrics("job", "t0002", {"loss": 0.4}, step=2)  # on its way down: no rung at step 2
    assert service.collect(TrialResult(job_id="job", trial_id="t0002", state="stopped"))
    stopped = service.store.get_trial("job", "t0002")
    assert (stopped.state, stopped.value, stopped.curve) == (TrialState.PRUNED, 0.4, {1: 0.5, 2: 0.4})
    job = service.store.get_job("job")
    assert (job.budget_used, job.pruned) == (3, 1)


def test_an_older_report_of_a_step_arriving_after_the_newer_one_is_not_what_is_judged(service: TuningService) -> None:
    """t0002's script reports step 1 twice (restarted from a checkpoint); EventBridge delivers
    the newer report first, then the older one (out of order, or the older one replayed).
    Early stopping judges the newer value, which leads t0001 at rung 1: the trial runs on.
    (Before, the curve took the older value, behind t0001, and the trial was pruned.)"""
    service.report_metrics("job", "t0001", {"loss": 0.1}, step=1, at=50.0)
    service.report_metrics("job", "t0002", {"loss": 0.05}, step=1, at=200.0)
    service.report_metrics("job", "t0002", {"loss": 0.95}, step=1, at=100.0)
    trial = service.store.get_trial("job", "t0002")
    assert (trial.state, trial.curve) == (TrialState.RUNNING, {1: 0.05})
    assert service.backends["local"].stopped == []


def test_a_trial_stopped_without_a_curve_or_by_a_job_stop_gives_its_budget_back(service: TuningService) -> None:
    service.report_metrics("job", "t0001", {"loss": 0.1}, step=1)
    assert service.collect(TrialResult(job_id="job", trial_id="t0002", state="stopped"))  # no curve
    assert service.store.get_trial("job", "t0002").state is TrialState.STOPPED
    service.stop("job")  # the user stops the job: its running trials are stopped, not pruned
    assert service.collect(TrialResult(job_id="job", trial_id="t0001", state="stopped"))
    assert service.store.get_trial("job", "t0001").state is TrialState.STOPPED
    assert service.store.get_job("job").budget_used == 1


def test_a_step_report_builds_no_strategy_and_reads_other_trials_only_at_a_rung(service: TuningService) -> None:
    """With early stopping each step report is judged; judging needs the scheduler and,
    only as a trial passes a rung (steps 1 and 3 of 9 here), the other trials' curves."""
    listed = mock.patch.object(service.store, "list_trials", wraps=service.store.list_trials)
    no_strategy = mock.patch("hyperstep.study.make_strategy", side_effect=AssertionError("a strategy was built"))
    with listed as list_trials, no_strategy:
        for step, loss in enumerate([0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35], start=1):
            assert service.report_metrics("job", "t0001", {"loss": loss}, step=step)
        assert list_trials.call_count == 2  # rungs 1 and 3; steps 2 and 4-8 read nothing more
        service.report_metrics("job", "t0002", {"loss": 0.95}, step=1)  # behind t0001 at rung 1: stopped
    assert service.store.get_trial("job", "t0002").state is TrialState.PRUNED


def test_a_trial_stopped_after_its_curve_reached_max_resource_completes_with_its_value(
    service: TuningService,
) -> None:
    """Ctrl-C (the job stopping) kills a trial that had printed all 9 of its 9 steps, while
    it saved its model: its result is its training's. It ends completed with the value a
    normal end gives (the log's last value), keeps its curve and its unit of budget, and
    becomes the job's best; the repeated end changes nothing. (Old code: stopped, no value,
    its budget given back, so a resumed job trained a replacement.) A trial stopped at
    step 5 of 9 still ends stopped and gives its budget back."""
    for step in range(1, 10):
        service.report_metrics("job", "t0001", {"loss": 1.0 / step}, step=step)
    service.report_metrics("job", "t0002", {"loss": 0.5}, step=1)
    service.stop("job")
    done = TrialResult(job_id="job", trial_id="t0001", state="stopped", error="stopped", metrics={"loss": 1.0 / 9})
    assert service.collect(done) and not service.collect(done)
    trial = service.store.get_trial("job", "t0001")
    assert (trial.state, trial.value, trial.error) == (TrialState.COMPLETED, 1.0 / 9, None)
    assert sorted(trial.curve) == list(range(1, 10))
    assert service.collect(TrialResult(job_id="job", trial_id="t0002", state="stopped", metrics={"loss": 0.5}))
    assert service.store.get_trial("job", "t0002").state is TrialState.STOPPED
    job = service.store.get_job("job")
    assert (job.completed, job.budget_used, job.best_trial_id, job.best_value) == (1, 2, "t0001", 1.0 / 9)


def test_a_trial_stopped_after_its_final_report_completes_with_it() -> None:
    """Without early stopping: a script that reported its final value (no step) and was
    stopped before its process ended (a user's stop, a late stop decision) ends completed
    with that value; a stopped event without metrics still finds it."""
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator())
    job = service.submit(parse_spec(spec_document(budget={"max_trials": 2, "max_parallel": 2})), job_id="job")
    for trial in Study.from_job(service.store, job).ask(2):
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    service.report_metrics("job", "t0001", {"loss": 0.7}, step=3)
    service.report_metrics("job", "t0001", {"loss": 0.25})  # final
    service.report_metrics("job", "t0002", {"loss": 0.3}, step=3)  # not final
    service.stop("job")
    assert service.collect(TrialResult(job_id="job", trial_id="t0001", state="stopped"))
    assert service.collect(TrialResult(job_id="job", trial_id="t0002", state="stopped"))
    first, second = service.store.get_trial("job", "t0001"), service.store.get_trial("job", "t0002")
    assert (first.state, first.value) == (TrialState.COMPLETED, 0.25)
    assert (second.state, second.value) == (TrialState.STOPPED, None)
    assert service.store.get_job("job").budget_used == 1


def test_ctrl_c_ends_a_trial_whose_result_never_came_by_the_same_rule(service: TuningService) -> None:
    """Ctrl-C's drain can give up before a killed trial's result arrives (and a resumed job
    finds the trials of a run that died): such a trial that had reported all 9 of its 9
    steps completes with its curve's newest value; one at step 2 ends stopped, interrupted;
    a pending one stopped. (Old code: all stopped, no value, budget given back.) Each end
    counts once in ``Trials*`` in ``handlers.log`` (before: in no invocation's metrics)."""
    import io
    import json
    from types import SimpleNamespace

    from hyperstep.local.runner import end_interrupted
    from hyperstep.local.telemetry import HandlerLog

    for step in range(1, 10):
        service.report_metrics("job", "t0001", {"loss": 1.0 / step}, step=step)
    for step in (1, 2):
        service.report_metrics("job", "t0002", {"loss": 0.5 / step}, step=step)
    service.store.set_job_status("job", JobStatus.STOPPING)
    log = io.StringIO()
    runtime = SimpleNamespace(store=service.store, service=service, handler_log=HandlerLog(log))
    end_interrupted(runtime, "job")  # type: ignore[arg-type]
    (emf,) = [json.loads(line) for line in log.getvalue().splitlines()]
    assert (emf["JobId"], emf["TrialsCompleted"], emf["TrialsStopped"]) == ("job", [1.0], [2.0])
    first, second, third = (service.store.get_trial("job", f"t000{n}") for n in (1, 2, 3))
    assert (first.state, first.value, len(first.curve)) == (TrialState.COMPLETED, 1.0 / 9, 9)
    assert (second.state, second.value, second.error) == (TrialState.STOPPED, None, "interrupted")
    assert third.state is TrialState.STOPPED
    assert service.store.get_job("job").budget_used == 1


def test_a_trial_of_a_run_that_died_is_charged_to_its_last_report_on_resume(service: TuningService) -> None:
    """``run --resume`` ends the trials whose process died with the last run: each is
    charged from its start to its newest report (here 5 s), not up to the resume, which may
    be days later; one that never reported, nothing beyond its start."""
    from types import SimpleNamespace

    from hyperstep.local.runner import end_interrupted
    from hyperstep.local.telemetry import Silent

    started = service.store.get_trial("job", "t0002").started_at
    assert started is not None
    service.report_metrics("job", "t0002", {"loss": 0.9}, step=1, at=started + 2)
    service.report_metrics("job", "t0002", {"loss": 0.8}, step=2, at=started + 5)
    service.store.set_job_status("job", JobStatus.STOPPED)
    runtime = SimpleNamespace(store=service.store, service=service, handler_log=Silent())
    end_interrupted(runtime, "job", died_earlier=True)  # type: ignore[arg-type]
    reported, silent = service.store.get_trial("job", "t0002"), service.store.get_trial("job", "t0003")
    assert (reported.state, reported.billable_seconds) == (TrialState.STOPPED, 5.0)
    assert (silent.state, silent.billable_seconds) == (TrialState.STOPPED, 0.0)


def test_the_trials_a_killed_run_left_are_recorded_stopped_not_pruned(service: TuningService) -> None:
    """probe-23: ``hyperstep run`` killed outright (SIGKILL) leaves its job running; ``hyperstep
    stop`` (and ``run --resume``) then ended its trials while it still was, so one with a
    curve was recorded pruned by early stopping's rule, ``stopped early by asha at step 3``,
    keeping its unit of budget, where README says they are recorded stopped, as Ctrl-C's are.
    The job is marked stopping first, as Ctrl-C marks it."""
    from types import SimpleNamespace

    from hyperstep.local.runner import end_interrupted
    from hyperstep.local.telemetry import Silent

    for step in (1, 2, 3):
        service.report_metrics("job", "t0002", {"loss": 0.5 / step}, step=step)
    assert service.store.get_job("job").status is JobStatus.RUNNING  # as the killed run left it
    runtime = SimpleNamespace(store=service.store, service=service, handler_log=Silent())
    end_interrupted(runtime, "job", died_earlier=True)  # type: ignore[arg-type]
    trial = service.store.get_trial("job", "t0002")
    assert (trial.state, trial.error, len(trial.curve)) == (TrialState.STOPPED, "interrupted", 3)
    job = service.store.get_job("job")
    assert (job.status, job.pruned, job.budget_used) == (JobStatus.STOPPING, 0, 0)


def test_a_pruned_trial_whose_late_reports_show_it_trained_out_completes_once(service: TuningService) -> None:
    """The stopped end of a trial the user stopped mid-way (a curve, the job running:
    pruned) is processed before the reports its script sent before the stop landed: a late
    step keeps to its curve; the step at ``max_resource`` (9) shows its training was over,
    so it ends completed with that value, as had the step come before the end; ``pruned``
    becomes ``completed``, its unit of budget held throughout; a repeat changes nothing."""
    for step in range(1, 8):
        service.report_metrics("job", "t0001", {"loss": 1.0 / step}, step=step)
    assert service.collect(TrialResult(job_id="job", trial_id="t0001", state="stopped"))
    assert service.store.get_trial("job", "t0001").state is TrialState.PRUNED
    assert service.store.get_job("job").pruned == 1
    assert service.report_metrics("job", "t0001", {"loss": 1.0 / 8}, step=8)
    kept = service.store.get_trial("job", "t0001")
    assert (kept.state, max(kept.curve)) == (TrialState.PRUNED, 8)
    assert service.report_metrics("job", "t0001", {"loss": 1.0 / 9}, step=9)
    assert not service.report_metrics("job", "t0001", {"loss": 1.0 / 9}, step=9)  # a duplicate: it ended completed
    trial = service.store.get_trial("job", "t0001")
    assert (trial.state, trial.value, sorted(trial.curve)) == (TrialState.COMPLETED, 1.0 / 9, list(range(1, 10)))
    job = service.store.get_job("job")
    assert (job.completed, job.pruned, job.budget_used, job.best_trial_id) == (1, 0, 3, "t0001")


def test_a_final_value_that_reaches_a_pruned_trial_in_either_order_leaves_it_pruned(service: TuningService) -> None:
    """ASHA stops t0002 and t0003 at rung 1 (behind t0001), short of ``max_resource`` (9).
    Each script still sends its final value (0.3) and its job ends completed before the
    stop lands: t0002's final report comes before the step report that is judged, t0003's
    after it. Both stay pruned at their curve's value, keep their unit of budget and are
    not the job's best (issue 9: "a trial that reaches ``max_resource`` is complete").
    (Old code: t0002 was never stopped and both ended completed with 0.3, the job's best.)"""
    backend = service.backends["local"]
    service.report_metrics("job", "t0001", {"loss": 0.1}, step=1)
    service.report_metrics("job", "t0002", {"loss": 0.3})  # final, first
    service.report_metrics("job", "t0002", {"loss": 0.5}, step=1)  # behind t0001 at rung 1
    service.report_metrics("job", "t0003", {"loss": 0.5}, step=1)
    service.report_metrics("job", "t0003", {"loss": 0.3})  # final, after the stop
    assert backend.stopped == ["t0002", "t0003"]
    for trial_id in ("t0002", "t0003"):
        assert not service.collect(TrialResult(job_id="job", trial_id=trial_id, state="completed"))
    ends = [(t.state, t.value, t.curve) for t in service.store.list_trials("job")[1:3]]
    assert ends == [(TrialState.PRUNED, 0.5, {1: 0.5})] * 2
    job = service.store.get_job("job")
    assert (job.completed, job.pruned, job.budget_used, job.best_trial_id) == (0, 2, 3, None)


class ClientError(Exception):
    """Shaped as botocore's: the AWS error code in ``response``, details in the message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.response = {"Error": {"Code": code, "Message": message}}


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ClientError("ThrottlingException", "rate exceeded; command: train.py --api-key s3cr3t"), "ClientError"),
        (KeyError("s3cr3t"), "KeyError"),
    ],
)
def test_an_unreadable_usage_record_still_ends_the_trial_and_logs_the_ids_only(
    service: TuningService, caplog: pytest.LogCaptureFixture, error: Exception, kind: str
) -> None:
    """The backend's record of what a trial used (``TrialBackend.usage``) cannot be read at
    its end (``_charge``): the trial ends all the same, priced from its wall time, and the
    log says which trial of which job and the error's type and AWS code, never its message."""
    unreadable = mock.patch.object(service.backends["local"], "usage", side_effect=error)
    with unreadable, caplog.at_level("WARNING", logger="hyperstep.service"):
        assert service.collect(TrialResult(job_id="job", trial_id="t0001", state="completed", metrics={"loss": 0.2}))
    trial = service.store.get_trial("job", "t0001")
    assert (trial.state, trial.value) == (TrialState.COMPLETED, 0.2)
    assert_one_warning_with_ids_only(caplog, "t0001", error, kind)


def assert_one_warning_with_ids_only(caplog: pytest.LogCaptureFixture, trial: str, error: Exception, kind: str) -> None:
    """One WARNING on ``hyperstep.service`` naming the trial, the job and the error's type
    (and its AWS code when it has one), never the error's message (``s3cr3t`` in it)."""
    (record,) = [r for r in caplog.records if r.name == "hyperstep.service"]
    assert record.levelname == "WARNING"
    message = record.getMessage()
    assert trial in message and "job" in message and kind in message and "s3cr3t" not in message
    if isinstance(error, ClientError):
        assert error.response["Error"]["Code"] in message


@pytest.mark.parametrize(
    "code",
    [
        "ThrottlingException",  # StopTrainingJob (SageMaker), as aws_like.py's CreateTrainingJob answers it
        "TooManyRequestsException",  # TerminateJob (Batch, HTTP 429: repost.aws, aws-batch-requests-error)
    ],
)
def test_a_throttled_stop_fails_the_collect_and_its_retry_stops_and_records_the_prune_once(
    service: TuningService, code: str
) -> None:
    """The stop call is throttled past the SDK's retries: nothing is recorded (the trial runs
    on, as on its platform) and the Collect invocation fails, so Lambda retries it with the
    same event. The retried report, a duplicate, is judged again: the stop is made, the
    trial recorded pruned, and its "stopped" end, delivered after (and twice), changes nothing."""
    backend = service.backends["local"]
    service.report_metrics("job", "t0001", {"loss": 0.1}, step=1)
    throttled = mock.patch.object(backend, "stop", side_effect=ClientError(code, "Rate exceeded"))
    with throttled, pytest.raises(ClientError):
        service.report_metrics("job", "t0002", {"loss": 0.5}, step=1)  # behind t0001: stop
    assert service.store.get_trial("job", "t0002").state is TrialState.RUNNING and not backend.stopped
    assert service.report_metrics("job", "t0002", {"loss": 0.5}, step=1)  # Lambda's retry of the invocation
    stopped = TrialResult(job_id="job", trial_id="t0002", state="stopped")
    assert not service.collect(stopped) and not service.collect(stopped)
    trial, job = service.store.get_trial("job", "t0002"), service.store.get_job("job")
    assert backend.stopped == ["t0002"] and (trial.state, trial.value) == (TrialState.PRUNED, 0.5)
    assert (job.pruned, job.failed, job.budget_used) == (1, 0, 3)


def test_a_stop_that_finds_the_job_ended_records_the_prune_and_its_late_steps_join_the_curve(
    service: TuningService,
) -> None:
    """A fast script has printed every epoch and exited 0 (a Batch job SUCCEEDED, a training
    job Completed) before its step reports are judged: the stop at rung 1 lands on an ended
    job. The decision is recorded all the same: pruned at step 1. The steps still on the way
    join its curve, and its completed end, with its final value, leaves it pruned: its curve
    stops at step 3 of ``max_resource`` 9. (Old code: nothing was recorded and its end
    completed it with 0.2, the job's best.)"""
    backend = service.backends["local"]
    exited = TrialResult(job_id="job", trial_id="t0002", state="completed", metrics={"loss": 0.2})
    service.report_metrics("job", "t0001", {"loss": 0.1}, step=1)
    service.report_metrics("job", "t0002", {"loss": 0.5}, step=1)  # behind t0001: stop, but it had exited
    assert backend.stopped == ["t0002"]
    for step, loss in ((2, 0.4), (3, 0.3)):
        assert service.report_metrics("job", "t0002", {"loss": loss}, step=step)
    assert not service.collect(exited)
    trial = service.store.get_trial("job", "t0002")
    assert (trial.state, trial.curve) == (TrialState.PRUNED, {1: 0.5, 2: 0.4, 3: 0.3})
    job = service.store.get_job("job")
    assert (job.completed, job.pruned, job.budget_used, job.best_trial_id) == (0, 1, 3, None)


def test_a_local_process_that_exits_0_just_as_it_is_stopped_stays_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real training process prints its final loss and exits 0; the stop decision on its
    (late) step report lands just then, before the backend has read the exit: the kill finds
    nothing to kill and the trial is recorded pruned at step 1 of 9. The process's result is
    "completed" with its final loss (exit 0): it leaves the trial pruned, its curve and its
    unit of budget kept (issue 9: only a trial that reaches ``max_resource`` is complete;
    before, it ended completed with 0.05, the job's best, its curve at step 1)."""
    document = spec_document(early_stopping=ASHA, budget={"max_trials": 6, "max_parallel": 3})
    script = "import time; time.sleep(0.2); print('loss=0.05')"
    document["trial"] = {**document["trial"], "command": ["python", "-c", script], "workdir": str(tmp_path)}
    ended, results = threading.Event(), []

    def collected(result: TrialResult) -> None:
        results.append(service.collect(result))
        ended.set()

    backend = LocalProcessBackend(tmp_path / "runs", collected)
    service = TuningService(SQLiteStore(), {"local": backend}, FakeOrchestrator())
    job = service.submit(parse_spec(document), job_id="job")
    first, second = Study.from_job(service.store, job).ask(2)
    service.store.start_trial(job.id, first.id, "elsewhere")  # reports only, no process
    service.report_metrics(job.id, first.id, {"loss": 0.1}, step=1)
    waited = backend._wait

    def exited_then_judged(*args: Any) -> int | None:
        code = waited(*args)
        service.report_metrics(job.id, second.id, {"loss": 0.5}, step=1)  # behind at rung 1: stop
        pruned = service.store.get_trial(job.id, second.id)
        assert (pruned.state, pruned.value) == (TrialState.PRUNED, 0.5)
        return code

    monkeypatch.setattr(backend, "_wait", exited_then_judged)
    service.launch(LaunchRequest(job_id=job.id, trial_id=second.id))
    assert ended.wait(10) and results == [False]
    trial = service.store.get_trial(job.id, second.id)
    assert (trial.state, trial.value, trial.curve) == (TrialState.PRUNED, 0.5, {1: 0.5})
    counted = service.store.get_job(job.id)
    assert (counted.completed, counted.pruned, counted.budget_used, counted.best_value) == (0, 1, 2, None)


def test_a_step_report_of_a_job_without_early_stopping_judges_nothing() -> None:
    """Without early stopping a step report stops nothing, so whether the trial's training
    is over (``_trained_out``, read before a stop) is not worked out on each report."""
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator())
    job = service.submit(parse_spec(spec_document(budget={"max_trials": 1, "max_parallel": 1})), job_id="job")
    (trial,) = Study.from_job(service.store, job).ask(1)
    service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    with mock.patch.object(TuningService, "_trained_out", wraps=TuningService._trained_out) as trained_out:
        for step in range(1, 4):
            assert service.report_metrics("job", trial.id, {"loss": 1.0 / step}, step=step)
    assert trained_out.call_count == 0  # before: once a step report
    assert service.store.get_trial("job", trial.id).state is TrialState.RUNNING


def test_a_local_prune_is_not_read_back_by_the_reaper(service: TuningService) -> None:
    """The reaper reads back the end of a trial pruned on SageMaker or Batch, whose end event
    may be lost (``Trial.end_unseen``). A local (or simulated) trial's end comes over its own
    process's bus, and its backend knows no process of another run (its ``describe`` would
    say "process lost" and fail the pruned trial): such a prune is not marked, and the
    reaper never asks for it."""
    backend = service.backends["local"]
    service.report_metrics("job", "t0001", {"loss": 0.1}, step=1)
    service.report_metrics("job", "t0002", {"loss": 0.5}, step=1)  # behind t0001: stop
    pruned = service.store.get_trial("job", "t0002")
    assert pruned.state is TrialState.PRUNED and not pruned.end_unseen
    asked: list[str] = []
    with mock.patch.object(backend, "describe", side_effect=lambda job, trial: asked.append(trial.id)):
        service.reap(grace_seconds=300)
    assert "t0002" not in asked and asked  # the running ones are asked, as before


def test_a_trial_is_found_among_the_listed_by_its_number_or_by_a_scan() -> None:
    """``early_stopping._place``: the index its number gives when the job's numbers run from
    1, else where it is, else past the end (a trial the listing does not hold yet)."""
    from hyperstep.early_stopping import _place
    from hyperstep.models import Trial

    listed = [Trial(id=f"t{n}", job_id="j", number=n, params={}) for n in (1, 2, 3, 5, 8)]
    assert [_place(listed, t) for t in listed] == [0, 1, 2, 3, 4]
    assert _place(listed, Trial(id="t9", job_id="j", number=9, params={})) == 5
    assert _place(listed, Trial(id="t4", job_id="j", number=4, params={})) == 5
    alone = Trial(id="t0", job_id="j", number=0, params={})  # its number's place, -1, is the last
    assert _place([alone], alone) == 0


def test_a_trial_the_job_s_deadline_stopped_says_so_and_saved_no_steps() -> None:
    """probe-23: at ``max_runtime_seconds`` the running trials are stopped; one with a curve
    ends pruned (early stopping's rule for a "stopped" end while the job runs), and it said
    ``stopped early by asha at step 6`` (no rung at 6) and counted in the summary's trials
    stopped early and steps saved (a local run: 2 pruned, 17 steps saved, where asha had
    pruned 1 trial and saved 11). It names the deadline, and counts in neither."""
    from hyperstep.views import steps_saved

    now = [1000.0]
    store = SQLiteStore(clock=lambda: now[0])
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator())
    budget = {"max_trials": 6, "max_parallel": 3, "max_runtime_seconds": 60}
    job = service.submit(parse_spec(spec_document(early_stopping=ASHA, budget=budget)), job_id="job")
    for trial in Study.from_job(store, job).ask(3):
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    service.report_metrics("job", "t0001", {"loss": 0.1}, step=1)
    service.report_metrics("job", "t0002", {"loss": 0.5}, step=1)  # behind t0001 at rung 1: pruned
    for step in (1, 2):
        service.report_metrics("job", "t0003", {"loss": 0.1 - 0.01 * step}, step=step)
    now[0] = 1060.0  # the deadline: the job's loop stops the running trials, their ends come
    for trial_id in ("t0001", "t0003"):
        assert service.collect(TrialResult(job_id="job", trial_id=trial_id, state="stopped"))
    trials = store.list_trials("job")
    assert [(t.state, t.error) for t in trials] == [
        (TrialState.PRUNED, "stopped by the job (max_runtime_seconds 60 reached) at step 1"),
        (TrialState.PRUNED, "stopped early by asha at step 1"),
        (TrialState.PRUNED, "stopped by the job (max_runtime_seconds 60 reached) at step 2"),
    ]
    assert steps_saved(store.get_job("job"), trials) == {"pruned": 1, "steps": 4, "steps_saved": 8}


def test_a_trial_stopped_before_the_job_s_deadline_is_still_early_stopping_s() -> None:
    """rev-p23: the deadline's wording is for a stop at or past it only: a trial with a curve
    whose "stopped" end lands while the job's ``max_runtime_seconds`` has time left is early
    stopping's, as in a job with no deadline, and counts as stopped early."""
    from hyperstep.views import steps_saved

    now = [1000.0]
    store = SQLiteStore(clock=lambda: now[0])
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator())
    budget = {"max_trials": 6, "max_parallel": 1, "max_runtime_seconds": 60}
    job = service.submit(parse_spec(spec_document(early_stopping=ASHA, budget=budget)), job_id="job")
    (trial,) = Study.from_job(store, job).ask(1)
    service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    service.report_metrics("job", trial.id, {"loss": 0.1}, step=2)
    now[0] = 1059.0  # a second before the deadline
    assert service.collect(TrialResult(job_id="job", trial_id=trial.id, state="stopped"))
    ended = store.get_trial("job", trial.id)
    assert (ended.state, ended.error) == (TrialState.PRUNED, "stopped early by asha at step 2")
    assert steps_saved(store.get_job("job"), [ended]) == {"pruned": 1, "steps": 2, "steps_saved": 7}
