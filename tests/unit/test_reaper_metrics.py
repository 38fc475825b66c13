"""The ends the reaper records count in the jobs' ``Trials*`` metrics, each once.

A reaper pass over two jobs records three ends Collect never saw: in job ``job-a`` (early
stopping) a trial pruned on what its log printed (``follow_log``) and a completed result
it fetched (``describe``), in ``job-b`` two trials stuck past their timeout plus the grace
(failed: one count of 2).
Each counts once in its job's ``Trials{State}`` under its ``JobId`` (and ``BestValue``),
one EMF object a job, as Collect counts an end; the next pass records and counts nothing.
An end Collect recorded is not counted again by the reaper. The same holds for the local
reaper, whose metrics go to the run's ``handlers.log``.
(Before: the reaper emitted only ``ReapedResults`` and ``TrialsTimedOut``, without a job,
the prune not even there; the local reaper emitted nothing.)
"""

from __future__ import annotations

import io
import json
import warnings
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools import Metrics

from hyperstep.handlers import Telemetry, handle_reaper
from hyperstep.local.reaper import LocalReaper
from hyperstep.local.telemetry import HandlerLog
from hyperstep.messages import LaunchRequest, TrialResult
from hyperstep.models import Job, Trial, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
from tests.conftest import Clock, spec_document
from tests.unit.test_collect_early_stopping import ASHA
from tests.unit.test_service import FakeBackend, FakeOrchestrator

GRACE = 300.0


class LoggedBackend(FakeBackend):
    """Results and log lines by (job, trial): what ``describe`` and ``step_reports`` read."""

    def __init__(self) -> None:
        super().__init__()
        self.ended: dict[tuple[str, str], TrialResult] = {}
        self.logs: dict[tuple[str, str], list[tuple[str, int, float]]] = {}

    def describe(self, job: Job, trial: Trial) -> TrialResult | None:
        return self.ended.get((job.id, trial.id))

    def step_reports(self, job: Any, trial: Any) -> tuple[list[tuple[str, int, float]], Any]:
        return self.logs.pop((job.id, trial.id), []), trial.log_cursor


class Flushed:
    """A ``handlers.Meter`` keeping each EMF object it would write: dimensions and metrics."""

    def __init__(self) -> None:
        self.objects: list[tuple[dict[str, str], dict[str, float]]] = []
        self._dimensions: dict[str, str] = {}
        self._metrics: dict[str, float] = {}

    def add_dimension(self, name: str, value: str) -> None:
        self._dimensions[name] = value

    def add_metric(self, name: str, unit: str, value: float) -> None:
        assert name not in self._metrics, f"{name} added twice to one object"
        self._metrics[name] = value

    def flush_metrics(self) -> None:
        if self._metrics:
            self.objects.append((self._dimensions, self._metrics))
        self._dimensions, self._metrics = {}, {}


@pytest.fixture
def reaped() -> tuple[TuningService, LoggedBackend, Clock]:
    """Two running jobs: ``job-a`` (ASHA, trials of up to an hour) with t0001 ahead at step 1,
    t0002 whose log printed a worse step 1 (the reaper's reading prunes it) and t0003 whose
    end event was lost (completed, loss 0.3); ``job-b`` (timeout 60 s) with t0001 and t0002
    stuck, the clock past their timeout plus the grace."""
    clock, backend = Clock(), LoggedBackend()
    service = TuningService(SQLiteStore(clock=clock), {"local": backend}, FakeOrchestrator())
    hour = {**spec_document()["trial"], "timeout_seconds": 3600}
    specs = {
        "job-a": spec_document(early_stopping=ASHA, trial=hour, budget={"max_trials": 6, "max_parallel": 3}),
        "job-b": spec_document(budget={"max_trials": 2, "max_parallel": 2}),
    }
    for job_id, document in specs.items():
        job = service.submit(parse_spec(document), job_id=job_id)
        for trial in Study.from_job(service.store, job).ask(document["budget"]["max_parallel"]):
            service.launch(LaunchRequest(job_id=job_id, trial_id=trial.id))
    service.report_metrics("job-a", "t0001", {"loss": 0.1}, step=1)  # through Collect: not the reaper's
    backend.logs["job-a", "t0002"] = [("loss", 1, 0.5)]
    backend.ended["job-a", "t0003"] = TrialResult(
        job_id="job-a", trial_id="t0003", state="completed", metrics={"loss": 0.3}
    )
    clock.now += 60 + GRACE + 1
    return service, backend, clock


EXPECTED = [
    ({"JobId": "job-a"}, {"TrialsPruned": 1, "TrialsCompleted": 1, "BestValue": 0.3}),
    ({"JobId": "job-b"}, {"TrialsFailed": 2}),
]


def test_a_reaper_pass_counts_each_end_it_recorded_in_its_jobs_trials_metrics_once(reaped) -> None:
    service, _, _ = reaped
    meter = Flushed()
    counts = handle_reaper(service, {}, Telemetry(metrics=meter), grace_seconds=GRACE)
    meter.flush_metrics()  # the invocation's end (Powertools' log_metrics)
    assert counts == {"jobs": 2, "recorded": 2, "timed_out": 2}  # the prune counts as a reaped result now
    states = {(t.job_id, t.id): t.state for job in ("job-a", "job-b") for t in service.store.list_trials(job)}
    assert states == {
        ("job-a", "t0001"): TrialState.RUNNING,
        ("job-a", "t0002"): TrialState.PRUNED,
        ("job-a", "t0003"): TrialState.COMPLETED,
        ("job-b", "t0001"): TrialState.FAILED,
        ("job-b", "t0002"): TrialState.FAILED,
    }
    assert meter.objects == [*EXPECTED, ({}, {"ReapedResults": 2, "TrialsTimedOut": 2})]
    again = Flushed()
    handle_reaper(service, {}, Telemetry(metrics=again), grace_seconds=GRACE)
    again.flush_metrics()
    assert again.objects == [({}, {"ReapedResults": 0, "TrialsTimedOut": 0})]


def test_an_end_collect_recorded_first_is_not_counted_by_the_reaper(reaped) -> None:
    """t0003's end event arrived after all (Collect counted it): the reaper's read of the
    same end records nothing, so counts nothing."""
    service, _, _ = reaped
    assert service.collect(TrialResult(job_id="job-a", trial_id="t0003", state="completed", metrics={"loss": 0.3}))
    meter = Flushed()
    handle_reaper(service, {}, Telemetry(metrics=meter), grace_seconds=GRACE)
    assert meter.objects == [
        ({"JobId": "job-a"}, {"TrialsPruned": 1, "BestValue": 0.3}),
        ({"JobId": "job-b"}, {"TrialsFailed": 2}),
    ]


def test_with_powertools_each_job_is_one_emf_object_with_its_job_id(reaped, capsys, monkeypatch) -> None:
    """Powertools' ``Metrics`` (its dimensions are the process's, shared by every instance)
    prints one EMF object per job, each with its ``JobId`` and ``service``, and the totals
    without a job: no dimension value overwritten on the way. (Metrics enabled, whatever
    the environment says: disabled, Powertools' ``flush_metrics`` neither prints nor clears.)"""
    for name in ("POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_DEV"):
        monkeypatch.delenv(name, raising=False)
    service, _, _ = reaped
    metrics = Metrics(namespace="hyperstep-tests", service="hyperstep")
    metrics.clear_metrics()  # what an earlier test may have left
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Dimension 'JobId' has already been added" among them
        handle_reaper(service, {}, Telemetry(metrics=metrics), grace_seconds=GRACE)
        metrics.flush_metrics()
    assert emf_objects(capsys.readouterr().out, "hyperstep-tests") == [
        *EXPECTED,
        ({}, {"ReapedResults": 2, "TrialsTimedOut": 2}),
    ]


def emf_objects(text: str, namespace: str) -> list[tuple[dict[str, str], dict[str, float]]]:
    """Each EMF line's dimensions (``service`` checked, then left out) and metrics' values."""
    objects = []
    for line in text.splitlines():
        emf = json.loads(line)
        (directive,) = emf["_aws"]["CloudWatchMetrics"]
        (dimensions,) = directive["Dimensions"]
        assert directive["Namespace"] == namespace and "service" in dimensions and emf["service"] == "hyperstep"
        values = {}
        for metric in directive["Metrics"]:
            value = emf[metric["Name"]]
            (values[metric["Name"]],) = value if isinstance(value, list) else [value]
        objects.append(({name: emf[name] for name in dimensions if name != "service"}, values))
    return objects


class Executions:
    """An executor running the executions of ``job-a`` and ``job-b`` (what the reaper reads)."""

    def executions(self) -> list[Any]:
        return [SimpleNamespace(finished=False, input={"job_id": job_id}) for job_id in ("job-a", "job-b")]


def test_the_local_reaper_counts_the_same_in_its_handler_log(reaped) -> None:
    service, _, _ = reaped
    stream = io.StringIO()
    local = LocalReaper(service, Executions(), grace_seconds=GRACE, handler_log=HandlerLog(stream))  # type: ignore[arg-type]
    assert local.reap_once() == {"jobs": 2, "recorded": 2, "timed_out": 2}
    assert local.reap_once() == {"jobs": 2, "recorded": 0, "timed_out": 0}
    assert emf_objects(stream.getvalue(), "hyperstep") == [
        *EXPECTED,
        ({}, {"ReapedResults": 2, "TrialsTimedOut": 2}),
        ({}, {"ReapedResults": 0, "TrialsTimedOut": 0}),
    ]
