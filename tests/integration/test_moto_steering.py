"""Steering a job on the AWS wiring under moto, end to end through the state machine: a
completion rule and a dollar budget stop it with their reason (shown by the API's job),
and a budget raised through ``PATCH /jobs/{id}`` while it runs is what the loop follows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from hyperstep.models import JobStatus, TrialState
from tests.integration.moto_harness import MotoStack, moto_stack
from tests.integration.moto_platform import Launched, TrainingPlatform
from tests.integration.test_moto_tuning_job import SAGEMAKER_BLOCK, call_api, spec_for, val_loss

pytestmark = pytest.mark.slow


@pytest.fixture
def stack() -> Iterator[MotoStack]:
    with moto_stack() as deployed:
        yield deployed


def run(stack: MotoStack, budget: dict[str, Any], objective: Any = val_loss, on_job: Any = None) -> dict[str, Any]:
    """Submit a SageMaker job through the API, let the platform complete its training jobs
    until the execution ends, and return the API's view of the job (``GET /jobs/{id}``)."""
    document = {**spec_for(SAGEMAKER_BLOCK), "budget": budget}
    status, accepted = call_api(stack, "POST", "/jobs", document)
    assert status == 202, accepted
    job = stack.service.store.get_job(accepted["job_id"])
    assert job.execution_id is not None
    platform = TrainingPlatform(stack, job.id, "sagemaker", objective, "val_loss")
    assert platform.run(job.execution_id, seconds=60, on_job=on_job)["status"] == "SUCCEEDED"
    status, detail = call_api(stack, "GET", f"/jobs/{job.id}")
    assert status == 200 and detail["status"] == JobStatus.COMPLETED.value
    return detail


def test_no_improvement_stops_the_job_early_and_the_api_says_why(stack: MotoStack) -> None:
    """Every trial scores the same: after the first, none improves; three such end it."""
    detail = run(stack, {"max_trials": 12, "max_parallel": 1, "no_improvement_trials": 3}, objective=lambda _: 1.0)
    assert detail["stop_reason"] == "no_improvement"
    assert detail["trials"] == 4 and detail["stop_detail"] == "no improvement in the last 3 completed trials"


def test_a_dollar_budget_stops_the_job_at_its_cost_and_the_api_shows_it(stack: MotoStack) -> None:
    """Each training job bills an hour of ml.m5.large ($0.115 at the table's list price;
    moto keeps no billing, so DescribeTrainingJob's answer gets AWS's fields): with $0.30, a
    third trial is not started once two cost $0.23 and the remaining $0.07 covers no average one."""

    def billed(parsed: dict[str, Any], **_: Any) -> None:
        parsed["BillableTimeInSeconds"] = parsed["TrainingTimeInSeconds"] = 3600
        parsed["TrainingEndTime"] = parsed["TrainingStartTime"] + timedelta(seconds=3600)

    stack.session.events.register("after-call.sagemaker.DescribeTrainingJob", billed)
    detail = run(stack, {"max_trials": 10, "max_parallel": 1, "max_cost_usd": 0.3})
    assert detail["stop_reason"] == "max_cost"
    assert detail["trials"] == 2 and detail["cost_usd"] == pytest.approx(0.23)
    trials = stack.service.store.list_trials(detail["job_id"])
    assert [t.cost_usd for t in trials] == pytest.approx([0.115, 0.115])


def test_a_dollar_budget_holds_when_each_training_jobs_end_beats_its_start_write(stack: MotoStack) -> None:
    """The order heavy load now and then gave the test above (which then ran 3 trials):
    each training job's end event is collected as soon as CreateTrainingJob returns, before
    the launch records the trial started. Each trial is charged its billable hour all the
    same (SageMaker's record), so the job still stops after two."""
    ends: list[TrainingPlatform] = []

    def billed(parsed: dict[str, Any], **_: Any) -> None:
        parsed["BillableTimeInSeconds"] = parsed["TrainingTimeInSeconds"] = 3600
        parsed["TrainingEndTime"] = parsed["TrainingStartTime"] + timedelta(seconds=3600)

    def ended_at_once(**_: Any) -> None:  # on the Suggest function's thread, inside its launch
        if not ends:
            [job] = stack.service.store.list_jobs()
            ends.append(TrainingPlatform(stack, job.id, "sagemaker", val_loss, "val_loss"))
        for launched in ends[0].new_jobs():
            for event in launched.events:
                assert ends[0].deliver(event) == {"recorded": True}

    stack.session.events.register("after-call.sagemaker.DescribeTrainingJob", billed)
    stack.session.events.register("after-call.sagemaker.CreateTrainingJob", ended_at_once)
    document = {**spec_for(SAGEMAKER_BLOCK), "budget": {"max_trials": 10, "max_parallel": 1, "max_cost_usd": 0.3}}
    status, accepted = call_api(stack, "POST", "/jobs", document)
    assert status == 202, accepted
    execution_id = stack.service.store.get_job(accepted["job_id"]).execution_id
    assert execution_id is not None
    assert stack.wait_until_done(execution_id)["status"] == "SUCCEEDED"
    trials = stack.service.store.list_trials(accepted["job_id"])
    assert [(t.state, t.started_at) for t in trials] == [(TrialState.COMPLETED, None)] * 2  # ended before started
    assert [t.cost_usd for t in trials] == pytest.approx([0.115, 0.115])
    status, detail = call_api(stack, "GET", f"/jobs/{accepted['job_id']}")
    assert (detail["stop_reason"], detail["trials"]) == ("max_cost", 2)
    assert detail["cost_usd"] == pytest.approx(0.23)


def test_a_budget_raised_through_patch_while_the_job_runs_is_followed(stack: MotoStack) -> None:
    """Submitted for 2 trials, one at a time; when the first training job ends, PATCH asks
    for 5: the loop picks the change up at its next round and runs 5."""
    patched: list[int] = []

    def patch_once(launched: Launched) -> None:
        if not patched:
            [job] = stack.service.store.list_jobs()
            status, detail = call_api(stack, "PATCH", f"/jobs/{job.id}", {"max_trials": 5})
            patched.append(status)
            assert detail["spec"]["budget"]["max_trials"] == 5

    detail = run(stack, {"max_trials": 2, "max_parallel": 1}, on_job=patch_once)
    assert patched == [200]
    assert detail["trials"] == 5 and detail["stop_reason"] == "max_trials"
    trials = stack.service.store.list_trials(detail["job_id"])
    assert len(trials) == 5 and all(t.state is TrialState.COMPLETED for t in trials)
