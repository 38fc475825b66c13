"""Warm start and live budget changes on the AWS wiring under moto: the API function and
Suggest over DynamoDB, with the owner rules of ``hyperstep.owners``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hyperstep.messages import SuggestRequest
from hyperstep.models import Job
from hyperstep.spec import parse_spec
from hyperstep.study import Study
from tests.integration.moto_harness import MotoStack, moto_stack
from tests.integration.test_moto_tuning_job import SAGEMAKER_BLOCK, call_api, spec_for

pytestmark = pytest.mark.slow
ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"


@pytest.fixture
def stack() -> Iterator[MotoStack]:
    with moto_stack() as deployed:
        yield deployed


def finished_parent(stack: MotoStack, owner: str, trials: int = 8) -> Job:
    """A job of ``owner`` in DynamoDB with ``trials`` completed trials (told by hand)."""
    spec = parse_spec({**spec_for(SAGEMAKER_BLOCK), "name": "parent"})
    job = Job(id=f"parent-{owner[-5:]}", spec=spec, owner=owner, created_at=stack.service.clock())
    stack.service.store.create_job(job)
    study = Study.from_job(stack.service.store, job)
    for trial in study.ask(trials):
        study.tell(trial.id, (trial.params["lr"] - 0.003) ** 2 + 0.1 * trial.params["layers"])
    return job


def warm_spec(*parents: str) -> dict[str, Any]:
    document = spec_for(SAGEMAKER_BLOCK)
    return {
        **document,
        "name": "child",
        "strategy": {"name": "bayesian", "seed": 3},
        "warm_start": {"jobs": [*parents]},
    }


def test_suggest_reads_the_parents_trials_from_dynamodb_and_they_stay_the_parents(stack: MotoStack) -> None:
    parent = finished_parent(stack, ALICE)
    status, accepted = call_api(stack, "POST", "/jobs", warm_spec(parent.id))
    assert status == 202, accepted
    store = stack.service.store
    child = store.get_job(accepted["job_id"])
    assert child.parents == (parent.id,)
    prior = Study.from_job(store, child).prior_trials()
    assert sorted(t.id for t in prior) == sorted(t.id for t in store.list_trials(parent.id))
    plan = stack.service.suggest(SuggestRequest(job_id=child.id))  # (its execution runs Suggest too)
    assert plan.trial_ids and all(t.job_id == child.id for t in store.list_trials(child.id))
    assert store.get_job(child.id).budget_used <= 4 < 8 == store.get_job(parent.id).budget_used  # its own budget


def test_a_parent_the_caller_does_not_own_or_that_does_not_exist_is_refused_at_submit(stack: MotoStack) -> None:
    alices = finished_parent(stack, ALICE)
    before = stack.service.store.list_jobs()
    for user, parents in ((BOB, [alices.id]), (ALICE, ["no-such-job"]), (ALICE, [alices.id, "no-such-job"])):
        status, body = call_api(stack, "POST", "/jobs", warm_spec(*parents), user=user)
        index = len(parents) - 1
        assert (status, body) == (
            422,
            {"field": f"warm_start.jobs.{index}", "reason": f"job {parents[-1]!r} not found"},
        )
    assert stack.service.store.list_jobs() == before  # nothing stored


def test_patch_changes_the_budget_in_dynamodb_for_its_owner_only(stack: MotoStack) -> None:
    status, accepted = call_api(stack, "POST", "/jobs", spec_for(SAGEMAKER_BLOCK))
    assert status == 202, accepted
    job_id = accepted["job_id"]
    path = f"/jobs/{job_id}"
    assert call_api(stack, "PATCH", path, {"max_trials": 6}, user=BOB) == (
        404,
        {"field": None, "reason": f"job {job_id!r} not found"},
    )
    status, detail = call_api(stack, "PATCH", path, {"max_trials": 6, "max_runtime_seconds": 7200})
    assert status == 200 and detail["spec"]["budget"]["max_trials"] == 6
    budget = stack.service.store.get_job(job_id).spec.budget  # read back from the table
    assert (budget.max_trials, budget.max_parallel, budget.max_runtime_seconds) == (6, 2, 7200)
    assert call_api(stack, "POST", f"{path}/stop")[0] == 202
    status, refused = call_api(stack, "PATCH", path, {"max_parallel": 1})
    assert status == 409 and "only a running job's budget can change" in refused["reason"]
    assert stack.service.store.get_job(job_id).spec.budget.max_parallel == 2
