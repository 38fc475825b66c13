"""``PATCH /jobs/{id}`` (``TuningService.update_budget``) as a user steering a running job
would use it: two changes at once, and a dollar budget added to a running job."""

from __future__ import annotations

import pytest

from hyperstep.errors import SpecError
from hyperstep.spec import BudgetUpdate
from tests.conftest import spec_document
from tests.unit.test_api_owners import published, service  # noqa: F401  (fixtures)
from tests.unit.test_completion import launch_all, parts  # noqa: F401  (parts: a fixture)
from tests.unit.test_service import submit


def test_two_changes_at_once_keep_both(parts) -> None:  # noqa: F811
    """A second PATCH landing between the first's read of the budget and its write (two
    callers, or a script and a person): before, the first wrote back the budget it had
    read, so the second's max_trials was lost."""
    tuning, _, _, _ = parts
    submit(tuning, budget={"max_trials": 10, "max_parallel": 2})
    store_write = tuning.store.set_budget
    landed: list[str] = []

    def another_change_lands_first(job_id, change):  # type: ignore[no-untyped-def]
        if not landed:
            landed.append("max_trials")
            tuning.update_budget(job_id, BudgetUpdate(max_trials=50))
        return store_write(job_id, change)

    tuning.store.set_budget = another_change_lands_first  # type: ignore[method-assign]
    job = tuning.update_budget("job", BudgetUpdate(max_parallel=8))
    assert landed == ["max_trials"]
    budget = tuning.store.get_job("job").spec.budget
    assert (
        (budget.max_parallel, budget.max_trials)
        == (8, 50)
        == (job.spec.budget.max_parallel, job.spec.budget.max_trials)
    )


def test_a_dollar_budget_for_trials_without_a_price_is_refused(parts) -> None:  # noqa: F811
    """A local job without ``cost_per_hour``: at submit, ``max_cost_usd`` is refused for it;
    added by PATCH it was taken, then no trial was ever priced, so the budget never stopped
    the job and it ran one trial at a time instead of its max_parallel."""
    tuning, _, _, _ = parts
    submit(tuning, budget={"max_trials": 10, "max_parallel": 3})
    with pytest.raises(SpecError, match=r"^budget\.max_cost_usd: needs each trial's price: set trial\.cost_per_hour"):
        tuning.update_budget("job", BudgetUpdate(max_cost_usd=5))
    assert tuning.store.get_job("job").spec.budget.max_cost_usd is None
    assert len(launch_all(tuning)) == 3


def test_a_dollar_budget_for_priced_trials_is_taken_and_lowering_it_ends_the_job(parts) -> None:  # noqa: F811
    tuning, _, _, _ = parts
    submit(
        tuning, budget={"max_trials": 10, "max_parallel": 2}, trial={**spec_document()["trial"], "cost_per_hour": 3.6}
    )
    job = tuning.update_budget("job", BudgetUpdate(max_cost_usd=50))
    assert job.spec.budget.max_cost_usd == 50
    tuning.update_budget("job", BudgetUpdate(max_cost_usd=0.001))  # below one trial: no trial starts
    assert launch_all(tuning) == []


def test_a_runtime_lowered_below_the_job_s_age_stops_its_running_trials(parts) -> None:  # noqa: F811
    """What the README now says (it said "lowering a limit stops no running trial"): a
    ``max_runtime_seconds`` below the job's age is its deadline passed, and at a deadline
    running trials are stopped. A lowered ``max_trials`` stops none."""
    from hyperstep.messages import SuggestRequest

    tuning, backend, _, clock = parts
    submit(tuning, budget={"max_trials": 10, "max_parallel": 2, "max_runtime_seconds": 3600})
    assert launch_all(tuning) == ["t0001", "t0002"]
    clock.now += 100
    tuning.update_budget("job", BudgetUpdate(max_trials=2))
    tuning.suggest(SuggestRequest(job_id="job"))
    assert backend.stopped == []
    tuning.update_budget("job", BudgetUpdate(max_runtime_seconds=50))
    tuning.suggest(SuggestRequest(job_id="job"))
    assert backend.stopped == ["t0001", "t0002"]


def test_a_null_limit_is_refused_naming_it_not_ignored() -> None:
    """``{"max_parallel": 3, "max_runtime_seconds": null}`` (a JSON merge patch removing the
    deadline): before, the null was read as "keep", the answer was 200 and the deadline
    stayed. Now it is refused, naming the field (the API: a 422, below)."""
    with pytest.raises(ValueError, match="max_runtime_seconds"):
        BudgetUpdate.model_validate({"max_parallel": 3, "max_runtime_seconds": None})
    assert BudgetUpdate.model_validate({"max_parallel": 3}).max_runtime_seconds is None  # left out: kept


def test_the_api_answers_a_null_limit_with_422_naming_it(service) -> None:  # noqa: F811
    from tests.unit.test_api_owners import ALICE, as_
    from tests.unit.test_api_owners import submit as submit_api

    job_id = submit_api(ALICE)
    status, body = as_(ALICE, "PATCH", f"/jobs/{job_id}", {"max_parallel": 3, "max_runtime_seconds": None})
    assert (status, body["field"]) == (422, "max_runtime_seconds") and "give a number" in body["reason"]
    assert service.store.get_job(job_id).spec.budget.max_parallel != 3  # nothing half-applied
