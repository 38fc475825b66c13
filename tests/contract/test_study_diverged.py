"""A ``Study`` whose trials diverge (NaN), on every store: the budget is counted alike.

A trial told stopped or pruned with a value that is not finite and no finite step fails and
counts once (8cb744b, 19ceadf); one with finite steps told stopped in a study without early
stopping stays the user's stop, its unit given back (fdef914). The unit tests run these on
the default store only; the budget is each store's own conditional write.
"""

from __future__ import annotations

from hyperstep.models import TrialState
from hyperstep.stores.base import TrialStore
from hyperstep.study import Study

SPACE = [{"name": "x", "type": "float", "low": 0, "high": 1}]
ASHA = {"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3}


def test_the_issue_loop_over_trials_that_diverge_runs_out_of_budget_on_every_store(store: TrialStore) -> None:
    study = Study(SPACE, strategy="random", seed=0, store=store, job_id="job", early_stopping=ASHA)
    asked = 0
    while (trials := study.ask(1, max_trials=3)) and asked < 10:
        asked += 1
        if study.report(trials[0], 1, float("nan")):
            study.tell(trials[0], float("nan"), state="stopped" if asked % 2 else "pruned")
    job = store.get_job("job")
    assert (asked, job.budget_used, job.failed) == (3, 3, 3)
    assert [t.state for t in store.list_trials("job")] == [TrialState.FAILED] * 3


def test_a_user_stop_with_nan_after_finite_steps_gives_its_unit_back_on_every_store(store: TrialStore) -> None:
    study = Study(SPACE, strategy="random", seed=0, store=store, job_id="job")
    trial = study.ask(1, max_trials=1)[0]
    assert study.report(trial, 1, 0.5) is False
    ended = study.tell(trial, float("nan"), state="stopped")
    assert (ended.state, ended.value, store.get_job("job").budget_used) == (TrialState.STOPPED, None, 0)
    assert len(study.ask(1, max_trials=1)) == 1  # its unit is free again
