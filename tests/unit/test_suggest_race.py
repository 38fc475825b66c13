"""A result that lands while Suggest plans must still wake the execution.

Found under moto (whole jobs with results arriving together): Suggest read the trials
(one still running, so not done), the last result landed, and only then Suggest counted
the results for ``results_seen``. The plan said "not done, N results seen" with all N in:
Wait parked its token, nothing was left to wake it, and the execution hung until the
reaper came by. Suggest now counts results before it reads the trials.
"""

from __future__ import annotations

from collections.abc import Callable

from hyperstep.messages import LaunchRequest, SuggestRequest, TrialResult, WaitRequest
from hyperstep.models import Trial
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend, FakeOrchestrator


class RacingStore(SQLiteStore):
    """Runs ``meanwhile`` once, right after the next read of the trials' states: a whole
    ``list_trials``, or ``recently_ended`` (what a round after the first reads)."""

    meanwhile: Callable[[], None] | None = None

    def _then(self) -> None:
        action, self.meanwhile = self.meanwhile, None
        if action is not None:
            action()

    def list_trials(self, job_id: str) -> list[Trial]:
        trials = super().list_trials(job_id)
        self._then()
        return trials

    def recently_ended(self, job_id: str) -> frozenset[str]:
        ended = super().recently_ended(job_id)
        self._then()
        return ended


def test_a_result_landing_while_suggest_plans_wakes_the_waiting_execution() -> None:
    store, orchestrator = RacingStore(), FakeOrchestrator()
    service = TuningService(store, {"local": FakeBackend()}, orchestrator)
    service.submit(parse_spec(spec_document(budget={"max_trials": 2, "max_parallel": 2})), job_id="job")
    for trial_id in service.suggest(SuggestRequest(job_id="job")).trial_ids:
        service.launch(LaunchRequest(job_id="job", trial_id=trial_id))

    def done(trial_id: str) -> None:
        service.collect(TrialResult(job_id="job", trial_id=trial_id, state="completed", metrics={"loss": 0.1}))

    done("t0001")
    store.meanwhile = lambda: done("t0002")  # the last result, after Suggest saw t0002 running
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert not plan.done and plan.trial_ids == []
    service.wait(WaitRequest(job_id="job", task_token="tok", results_seen=plan.results_seen))
    assert [(token, output["done"]) for token, output in orchestrator.woken] == [("tok", True)]
