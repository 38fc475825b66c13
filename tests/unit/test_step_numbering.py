"""One script, every path: the steps its curve gets, and where early stopping decides.

A script calls ``hyperstep.report({"loss": v}, step=epoch)``. Its printed lines are what the
local backend (``LogTail``) and SageMaker's log (``follow_log``) number, 1, 2, 3 by line
(``logs.step_matches``); its "Trial Metric Reported" events, what Batch and SageMaker take,
carry ``step`` as given. With epochs numbered from 1 (the issue's own loop, ``range(1, 28)``)
every path gives one curve and one decision; numbered from 0 the events' curve is one step
behind the lines' (README, "Early stopping": number steps from 1).
"""

from __future__ import annotations

import io

import pytest

from hyperstep import reporting
from hyperstep.backends.logs import step_matches
from hyperstep.messages import LaunchRequest, TrialMetric
from hyperstep.models import TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.spec_base import MetricDefinition
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
from tests.conftest import spec_document
from tests.unit.test_reporting import FakeEvents, published
from tests.unit.test_service import FakeBackend, FakeOrchestrator

ASHA = {"name": "asha", "min_resource": 1, "max_resource": 27, "reduction_factor": 3, "curve_model": False}
LOSS = [MetricDefinition(name="loss", regex=r"^loss=([0-9.eE+-]+)")]


def reported(job_id: str, trial_id: str, epochs: range, loss: float) -> tuple[list[str], list[TrialMetric | None]]:
    """What ``report({"loss": ...}, step=epoch)`` printed and published for each epoch."""
    out, client = io.StringIO(), FakeEvents()
    env = {"HYPERSTEP_EVENT_BUS": "hyperstep-bus", "HYPERSTEP_JOB_ID": job_id, "HYPERSTEP_TRIAL_ID": trial_id}
    for epoch in epochs:
        reporting.report({"loss": loss / (epoch + 1)}, step=epoch, environ=env, client=client, stream=out)
    events = [published(entry) for (entry,) in client.calls]
    return out.getvalue().splitlines(), events


def curves(epochs: range) -> tuple[dict[int, float], dict[int, float]]:
    """The curve from the printed lines (local, SageMaker's log) and from the events (Batch,
    SageMaker's events)."""
    lines, events = reported("job", "t0001", epochs, 1.0)
    from_lines = {step: value for _, step, value in step_matches(lines, LOSS, {})}
    from_events = {e.step: e.metrics["loss"] for e in events if e is not None and e.step is not None}
    return from_lines, from_events


def test_epochs_numbered_from_1_give_one_curve_on_every_path() -> None:
    from_lines, from_events = curves(range(1, 28))
    assert from_lines == from_events
    assert sorted(from_events) == list(range(1, 28))  # reaches max_resource (27) on every path


def test_epochs_numbered_from_0_put_the_events_curve_one_step_behind_the_lines() -> None:
    """The documented rule, pinned: lines count epochs 0..26 as steps 1..27, events keep 0..26
    (so on Batch such a trial never reaches ``max_resource`` 27 and each rung falls one epoch
    later than locally)."""
    from_lines, from_events = curves(range(27))
    assert from_events == {step - 1: value for step, value in from_lines.items()}
    assert max(from_lines) == 27 and max(from_events) == 26


@pytest.mark.parametrize("path", ["lines", "events"])
def test_a_trial_behind_at_rung_3_is_stopped_at_the_same_epoch_on_every_path(path: str) -> None:
    """ASHA (1, 27, 3): t0002, reporting epochs 1, 2, 3 as a script does, leads t0001 at
    rung 1 and is behind it at rung 3, whichever path numbered its steps: pruned at epoch 3
    with the same curve."""
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator())
    spec = parse_spec(spec_document(early_stopping=ASHA, budget={"max_trials": 6, "max_parallel": 3}))
    job = service.submit(spec, job_id="job")
    for trial in Study.from_job(service.store, job).ask(2):
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    for step, loss in ((1, 0.5), (3, 0.03)):  # behind t0002 at rung 1, ahead at rung 3
        service.report_metrics(job.id, "t0001", {"loss": loss}, step=step)
    lines, events = reported(job.id, "t0002", range(1, 4), 0.9)
    if path == "lines":
        for name, step, value in step_matches(lines, LOSS, {}):
            service.report_metrics(job.id, "t0002", {name: value}, step=step)
    else:
        for event in events:
            assert event is not None and service.record(event)
    trial = service.store.get_trial(job.id, "t0002")
    assert (trial.state, trial.curve, trial.error) == (
        TrialState.PRUNED,
        {1: 0.45, 2: 0.3, 3: 0.225},
        "stopped early by asha at step 3",
    )
