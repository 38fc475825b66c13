"""At-least-once tasks and events on the local executor: a job ends exactly as undisturbed.

For each Task state of ``tuning.asl.json`` in turn (and all at once), every first call
with a given input runs the real handler, lets its writes land, then loses the response
(``tests.faults.LoseFirstResponse``), so the state's ``Retry`` runs it again. Separately,
every trial's result event is delivered twice. Each run must end with the same trials,
budget, best and status as an undisturbed run, with every trial launched exactly once.

Trials are instant (``InstantBackend``) and the strategy is Sobol', whose n-th trial
gets the n-th point of one sequence however the rounds batch them, so two runs of the
job are comparable trial by trial. Retries do not sleep here.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest

from hyperstep.backends.base import TrialBackend
from hyperstep.backends.local.events import LOCAL_EVENT_DETAIL_TYPE, LOCAL_EVENT_SOURCE
from hyperstep.local.bus import InProcessBus, envelope
from hyperstep.local.runtime import LocalRuntime
from hyperstep.messages import TrialResult
from hyperstep.models import Job, Trial
from hyperstep.spec import parse_spec
from tests.conftest import spec_document
from tests.faults import TASK_FUNCTIONS, LoseFirstResponse, Outcome, outcome

pytestmark = pytest.mark.slow

TRIALS, PARALLEL = 6, 2
DEADLINE_SECONDS = 20


def loss(params: dict) -> float:
    return (params["x"] - 0.3) ** 2 + 0.01 * params["n"] + (0.5 if params["kind"] == "b" else 0.0)


class InstantBackend(TrialBackend):
    """Trials that end as they start: the result goes out on the bus ``copies`` times."""

    def __init__(self, bus: InProcessBus, copies: int = 1) -> None:
        self.bus, self.copies = bus, copies
        self.launches: Counter[str] = Counter()
        self.results: dict[str, TrialResult] = {}

    def launch(self, job: Job, trial: Trial) -> str:
        self.launches[trial.id] += 1
        result = TrialResult(job_id=job.id, trial_id=trial.id, state="completed", metrics={"loss": loss(trial.params)})
        self.results[trial.id] = result
        for _ in range(self.copies):
            self.bus.publish(envelope(LOCAL_EVENT_SOURCE, LOCAL_EVENT_DETAIL_TYPE, result.model_dump(mode="json")))
        return f"instant-{trial.id}"

    def stop(self, job: Job, trial: Trial) -> None:
        return None

    def describe(self, job: Job, trial: Trial) -> TrialResult | None:
        return self.results.get(trial.id)


def run_job(directory: Path, copies: int = 1) -> tuple[Outcome, InstantBackend, int]:
    """Run the job to its end; its outcome, the backend, and how many executions it took."""
    spec = parse_spec(
        spec_document(strategy={"name": "sobol", "seed": 3}, budget={"max_trials": TRIALS, "max_parallel": PARALLEL})
    )
    with LocalRuntime(directory / "store.db", directory / "runs", sleep=lambda _: None) as runtime:
        backend = InstantBackend(runtime.bus, copies)
        runtime.service.backends = {"local": backend}
        job = runtime.service.submit(spec)
        try:
            deadline = time.monotonic() + DEADLINE_SECONDS
            while not finished(runtime, job.id):
                assert time.monotonic() < deadline, f"the job hangs: {outcome(runtime.store, job.id)}"
                time.sleep(0.02)
        finally:
            runtime.executor.stop_all()
        return outcome(runtime.store, job.id), backend, len(runtime.executor.executions())


def finished(runtime: LocalRuntime, job_id: str) -> bool:
    job = runtime.store.get_job(job_id)
    return job.status.finished and runtime.executor.finished(job.execution_id or "")


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    result, backend, _ = run_job(tmp_path_factory.mktemp("undisturbed"))
    assert result.status.value == "completed" and len(result.trials) == TRIALS
    assert sorted(backend.launches.values()) == [1] * TRIALS
    return result


@pytest.mark.parametrize("functions", [*[(f,) for f in TASK_FUNCTIONS], TASK_FUNCTIONS], ids="+".join)
def test_a_task_whose_response_is_lost_runs_again_and_changes_nothing(
    functions: tuple[str, ...], undisturbed: Outcome, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        faults = [stack.enter_context(LoseFirstResponse(name)) for name in functions]
        result, backend, _ = run_job(tmp_path)
    assert all(fault.lost for fault in faults), "every chosen Task lost a response"
    assert result == undisturbed
    assert sorted(backend.launches.values()) == [1] * TRIALS


def test_a_retried_suggest_across_hand_overs_changes_nothing(
    undisturbed: Outcome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hyperstep import service

    monkeypatch.setattr(service, "HANDOFF_EVENTS", service.ROUND_EVENTS)  # at every second Suggest
    with LoseFirstResponse("suggest") as lost:
        result, backend, executions = run_job(tmp_path)
    assert executions >= 2, "the job was handed over to a new execution"
    assert any(event["history_events"] >= service.HANDOFF_EVENTS for event in lost.lost)
    assert result == undisturbed
    assert sorted(backend.launches.values()) == [1] * TRIALS


def test_every_event_delivered_twice_changes_nothing(undisturbed: Outcome, tmp_path: Path) -> None:
    result, backend, _ = run_job(tmp_path, copies=2)
    assert result == undisturbed
    assert sorted(backend.launches.values()) == [1] * TRIALS
