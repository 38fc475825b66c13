"""Every end of a trial counts once in ``Trials*``, in the invocation that recorded it.

An end is recorded by Collect (an end event, reports that ended the trial), the reaper
(``test_reaper_metrics.py``), Suggest (a trial failed at launch, a pending one stopped)
or Finish (the trials it winds down, also for an execution that ended outside it). A
trial recorded stopped or pruned whose late final report or completed end completes it
counts ``TrialsCompleted`` 1 and its first end's metric -1: summed, once, as completed.
Each test sums every invocation's EMF objects over the job's life and holds the sums
against the trials' final states.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from hyperstep.backends.local.events import LOCAL_EVENT_DETAIL_TYPE, LOCAL_EVENT_SOURCE
from hyperstep.backends.naming import METRIC_EVENT_DETAIL_TYPE, METRIC_EVENT_SOURCE
from hyperstep.errors import CapacityError, LaunchError
from hyperstep.handlers import Telemetry, handle_collect, handle_finish, handle_suggest
from hyperstep.local.bus import envelope
from hyperstep.messages import LaunchRequest, SuggestRequest, TrialMetric, TrialResult
from hyperstep.models import Job, Trial, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import Clock, spec_document
from tests.unit.test_collect_early_stopping import ASHA
from tests.unit.test_execution_ended import status_change
from tests.unit.test_reaper_metrics import Flushed
from tests.unit.test_service import FakeBackend, FakeOrchestrator

Objects = list[tuple[dict[str, str], dict[str, float]]]


class Invocations:
    """Calls handlers as their functions would, each with its own meter, keeping every EMF object."""

    def __init__(self, service: TuningService) -> None:
        self.service = service
        self.objects: Objects = []

    def __call__(self, handler: Any, event: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
        meter = Flushed()
        answer = handler(self.service, event, Telemetry(metrics=meter))
        meter.flush_metrics()  # the invocation's end (Powertools' log_metrics)
        self.objects.extend(meter.objects)
        return answer

    def totals(self) -> dict[str, float]:
        """Each ``Trials{State}`` summed over every object (as a CloudWatch Sum over the job's life)."""
        sums: Counter[str] = Counter()
        for _, values in self.objects:
            sums.update(
                {name: value for name, value in values.items() if name.startswith("Trials") and name != "TrialsStarted"}
            )
        return {name: value for name, value in sums.items() if value}


def final_states(service: TuningService) -> dict[str, float]:
    """``Trials{State}`` as the job's trials ended."""
    states = Counter(f"Trials{t.state.value.capitalize()}" for t in service.store.list_trials("job"))
    return dict(states)


def result_event(trial_id: str, state: str, **fields: Any) -> dict[str, Any]:
    detail = TrialResult(job_id="job", trial_id=trial_id, state=state, **fields).model_dump(mode="json")
    return envelope(LOCAL_EVENT_SOURCE, LOCAL_EVENT_DETAIL_TYPE, detail)


def metric_event(trial_id: str, loss: float, step: int | None = None) -> dict[str, Any]:
    metric = TrialMetric(job_id="job", trial_id=trial_id, metrics={"loss": loss}, step=step)
    return envelope(METRIC_EVENT_SOURCE, METRIC_EVENT_DETAIL_TYPE, metric.model_dump(mode="json", exclude_none=True))


def running_job(**overrides: Any) -> tuple[TuningService, FakeBackend, Invocations]:
    """Job ``job`` with its two trials running."""
    backend = FakeBackend()
    service = TuningService(SQLiteStore(clock=Clock()), {"local": backend}, FakeOrchestrator())
    document = spec_document(budget={"max_trials": 2, "max_parallel": 2}, **overrides)
    service.submit(parse_spec(document), job_id="job")
    for trial_id in service.suggest(SuggestRequest(job_id="job")).trial_ids:
        service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
    return service, backend, Invocations(service)


@pytest.mark.parametrize(
    ("first", "overrides", "late"),
    [
        ("stopped", {}, "report"),  # a stop's end beat the script's final report
        ("stopped", {}, "end"),  # a stop that landed after the training's end: then "Completed"
        ("pruned", {"early_stopping": ASHA}, "max_resource"),  # a pruned trial completes by its curve alone
    ],
)
def test_a_late_completion_ends_up_counted_once_as_completed(first: str, overrides: dict, late: str) -> None:
    """Before: ``TrialsCompleted`` 1 and the first end's 1 both stood (two ends of one trial)."""
    service, _, invoke = running_job(**overrides)
    invoke(handle_collect, metric_event("t0001", 0.4, step=1))
    invoke(handle_collect, result_event("t0001", "stopped", error="stopped"))
    assert service.store.get_trial("job", "t0001").state is TrialState(first)
    if late == "report":
        invoke(handle_collect, metric_event("t0001", 0.2))
    elif late == "max_resource":
        invoke(handle_collect, metric_event("t0001", 0.2, step=ASHA["max_resource"]))
    else:
        invoke(handle_collect, result_event("t0001", "completed", metrics={"loss": 0.2}))
    invoke(handle_collect, result_event("t0002", "completed", metrics={"loss": 0.3}))
    assert service.store.get_trial("job", "t0001").state is TrialState.COMPLETED
    assert invoke.totals() == final_states(service) == {"TrialsCompleted": 2}
    revised = {"JobId": "job"}, {"TrialsCompleted": 1, f"Trials{first.capitalize()}": -1, "BestValue": 0.2}
    assert revised in invoke.objects


def test_the_trials_finish_winds_down_count_once_there_or_in_collect() -> None:
    """Finish of a job with a pending trial (planned, never launched) and a running one:
    Finish records the pending one stopped and counts it; the running one it stops on its
    backend, whose stopped end Collect records and counts. Before: the pending one was
    counted nowhere."""
    service, backend, invoke = running_job()
    service.store.set_budget("job", lambda budget: budget.model_copy(update={"max_trials": 3, "max_parallel": 3}))
    invoke(handle_collect, result_event("t0001", "completed", metrics={"loss": 0.3}))
    (pending,) = [t for t in service.suggest(SuggestRequest(job_id="job")).trial_ids if t != "t0002"]
    invoke(handle_finish, {"job_id": "job"})
    assert backend.stopped == ["t0002"]
    invoke(handle_collect, result_event("t0002", "stopped", error="stopped"))
    assert service.store.get_trial("job", pending).state is TrialState.STOPPED
    assert ({"JobId": "job"}, {"JobsCompleted": 1, "TrialsStopped": 1, "BestValue": 0.3}) in invoke.objects
    assert invoke.totals() == final_states(service) == {"TrialsCompleted": 1, "TrialsStopped": 2}


def test_the_trials_finish_winds_down_for_an_execution_that_ended_outside_it_count_there() -> None:
    """An aborted execution's job closed by the finish function: its pending trial counts
    under its ``JobId``, in an object apart from ``ExecutionsClosed`` (which has none)."""
    service, _, invoke = running_job()
    service.store.set_budget("job", lambda budget: budget.model_copy(update={"max_trials": 3, "max_parallel": 3}))
    invoke(handle_collect, result_event("t0001", "completed", metrics={"loss": 0.3}))
    invoke(handle_collect, result_event("t0002", "failed", error="exit 1"))
    service.suggest(SuggestRequest(job_id="job"))  # t0003, pending
    execution = service.store.get_job("job").execution_id
    assert execution is not None
    assert invoke(handle_finish, status_change("job", execution))["closed"]
    assert invoke.objects[-2:] == [
        ({"JobId": "job"}, {"TrialsStopped": 1, "BestValue": 0.3}),
        ({}, {"ExecutionsClosed": 1}),
    ]
    assert invoke.totals() == final_states(service) == {"TrialsCompleted": 1, "TrialsFailed": 1, "TrialsStopped": 1}


class Refusing(FakeBackend):
    """A platform that rejects every launch (a bad instance type, say)."""

    def launch(self, job: Job, trial: Trial) -> str:
        raise LaunchError("ValidationException: instance type not available")


def test_trials_failed_at_launch_count_in_the_suggest_round_that_launched_them() -> None:
    """Before: ``TrialsStarted`` 2 and no end: the failed trials were counted nowhere."""
    service = TuningService(SQLiteStore(clock=Clock()), {"local": Refusing()}, FakeOrchestrator())
    service.submit(parse_spec(spec_document(budget={"max_trials": 2, "max_parallel": 2})), job_id="job")
    invoke = Invocations(service)
    invoke(handle_suggest, {"job_id": "job"})
    assert invoke.objects == [({"JobId": "job"}, {"TrialsStarted": 2, "TrialsFailed": 2})]
    invoke(handle_finish, {"job_id": "job"})
    assert invoke.totals() == final_states(service) == {"TrialsFailed": 2}


class FullOnce(FakeBackend):
    """The instance quota is in use for the first launch of the second trial (SageMaker's
    ResourceLimitExceeded): a ``CapacityError`` while another trial of the job runs."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = False

    def launch(self, job: Job, trial: Trial) -> str:
        if self.launched and not self.refused:  # the second launch
            self.refused = True
            raise CapacityError("ResourceLimitExceeded: the account-level service limit is 1 instance")
        return super().launch(job, trial)


def test_a_launch_deferred_for_capacity_counts_as_started_once_in_the_round_that_starts_it() -> None:
    """Before: ``TrialsStarted`` counted every planned trial, so the deferred trial counted
    in the round that deferred it and again in the round that started it."""
    service = TuningService(SQLiteStore(clock=Clock()), {"local": FullOnce()}, FakeOrchestrator())
    service.submit(parse_spec(spec_document(budget={"max_trials": 2, "max_parallel": 2})), job_id="job")
    invoke = Invocations(service)
    invoke(handle_suggest, {"job_id": "job"})
    states = sorted(t.state.value for t in service.store.list_trials("job"))
    assert states == ["pending", "running"]
    invoke(handle_suggest, {"job_id": "job"})
    assert [values.get("TrialsStarted") for _, values in invoke.objects] == [1, 1]


def test_a_batch_of_events_records_each_in_turn_and_counts_each_end_in_its_own_object() -> None:
    """A JSON array of events (as an EventBridge Pipe passes a batch to a Lambda target;
    a simulated run's step reports): one reply an event, in order; a malformed one dropped
    alone; each end counted once, under its job, in an object of its own (both ends in one
    object would add ``TrialsCompleted`` twice). Before: the array was no event at all."""
    service, _, invoke = running_job()
    batch = [
        metric_event("t0001", 0.5, step=1),
        {"source": METRIC_EVENT_SOURCE, "detail-type": METRIC_EVENT_DETAIL_TYPE, "detail": {"job_id": "job"}},
        result_event("t0001", "completed", metrics={"loss": 0.4}),
        result_event("t0002", "completed", metrics={"loss": 0.3}),
    ]
    replies = invoke(handle_collect, batch)["collected"]
    assert [reply["recorded"] for reply in replies] == [True, False, True, True]
    assert service.store.get_trial("job", "t0001").curve == {1: 0.5}
    assert invoke.objects == [
        ({"JobId": "job"}, {"TrialsCompleted": 1, "BestValue": 0.4}),
        ({"JobId": "job"}, {"TrialsCompleted": 1, "BestValue": 0.3}),
    ]
    assert invoke.totals() == final_states(service) == {"TrialsCompleted": 2}


def test_a_batch_item_that_is_no_json_object_is_dropped_alone() -> None:
    """A JSON array may hold anything JSON holds (a Pipe's batch, a hand-made invoke): an
    item that is no object is malformed like any other, logged and dropped, and the rest of
    the batch is recorded. Before: ``AttributeError`` ('int' object has no attribute 'get')
    failed the whole invocation, to be retried with the same item."""
    service, _, invoke = running_job()
    batch = [metric_event("t0001", 0.5, step=1), 7, "text", [metric_event("t0001", 0.1, step=9)], None]
    batch.append(metric_event("t0001", 0.4, step=2))
    replies = invoke(handle_collect, batch)["collected"]
    assert [reply["recorded"] for reply in replies] == [True, False, False, False, False, True]
    assert all(reply["reason"].startswith("malformed event") for reply in replies[1:5])
    assert service.store.get_trial("job", "t0001").curve == {1: 0.5, 2: 0.4}


def test_a_batch_of_events_is_one_sqlite_transaction() -> None:
    """What the batch is for: its events' writes commit once (``SQLiteStore.batch``), not
    once an event (one ``BEGIN IMMEDIATE`` and ``COMMIT`` each)."""
    service, _, invoke = running_job()
    statements: list[str] = []
    conn = service.store._conn  # type: ignore[attr-defined]
    conn.set_trace_callback(statements.append)
    invoke(handle_collect, [metric_event("t0001", 0.5, step=1), metric_event("t0002", 0.4, step=1)])
    invoke(handle_collect, [metric_event("t0001", 0.3, step=2), metric_event("t0002", 0.2, step=2)])
    conn.set_trace_callback(None)
    assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == ["BEGIN IMMEDIATE", "COMMIT"] * 2
    assert service.store.get_trial("job", "t0002").curve == {1: 0.4, 2: 0.2}


def test_a_report_refused_in_a_batch_counts_in_an_object_of_its_own_without_a_job() -> None:
    """Alone, a refused report's invocation writes ``ReportsRefused`` with no dimension; in
    a batch, an end after it must not carry it into its object, under ``JobId`` (another
    metric to CloudWatch: a sum or alarm over the dimensionless one would miss it)."""
    _, _, invoke = running_job()
    first, crowding = (
        envelope(
            METRIC_EVENT_SOURCE,
            METRIC_EVENT_DETAIL_TYPE,
            TrialMetric(job_id="job", trial_id="t0002", metrics={f"m{k}": 1.0 for k in names}, step=1).model_dump(
                mode="json"
            ),
        )
        for names in (range(60), range(60, 120))  # 120 together: a trial keeps at most 100 besides its objective
    )
    replies = invoke(handle_collect, [first, crowding, result_event("t0001", "completed", metrics={"loss": 0.4})])
    assert [reply["recorded"] for reply in replies["collected"]] == [True, False, True]
    assert invoke.objects == [
        ({}, {"ReportsRefused": 1}),
        ({"JobId": "job"}, {"TrialsCompleted": 1, "BestValue": 0.4}),
    ]
