"""At-least-once tasks and events under moto's Step Functions engine: a job ends exactly as undisturbed.

The deployed path (``moto_harness``: tuning.asl.json in moto's engine, the real handlers,
DynamoDB, SageMaker and Batch in moto; the test plays the training platform). For every
Task state at once, every first call with a given input runs the real handler, lets its
writes land, and then its response is lost as a Lambda service error
(``tests.faults.LoseFirstResponse``): the state's ``Retry`` runs the handler again.
Separately, every event of the platform is delivered twice. Each run must end with the
same trials, budget, best and status as an undisturbed run, with one cloud job per trial.
(The local executor's harness, ``tests/e2e/test_at_least_once_local.py``, also takes the
states one at a time; a moto job costs seconds, a local one a fraction of a second.)

Sobol' gives the n-th trial the n-th point whatever the rounds, so runs compare trial by
trial, and across SageMaker and Batch. moto's retrier sleeps ``IntervalSeconds`` in real
time; here it does not (``instant_retries``), which changes nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from hyperstep.spec import parse_spec
from tests.faults import TASK_FUNCTIONS, LoseFirstResponse, Outcome, outcome
from tests.integration.moto_harness import MotoStack, moto_stack
from tests.integration.moto_platform import TrainingPlatform, create_batch_environment
from tests.integration.test_moto_tuning_job import BATCH_BLOCK, PARAMETERS, SAGEMAKER_BLOCK, val_loss

pytestmark = pytest.mark.slow

TRIALS, PARALLEL = 4, 2
BLOCKS = {"sagemaker": SAGEMAKER_BLOCK, "batch": BATCH_BLOCK}


def spec_for(backend: str) -> dict[str, Any]:
    return {
        "name": f"twice-{backend}",
        "objective": {"metric": "val_loss", "goal": "minimize"},
        "parameters": PARAMETERS,
        "strategy": {"name": "sobol", "seed": 11},
        "budget": {"max_trials": TRIALS, "max_parallel": PARALLEL},
        "trial": BLOCKS[backend],
    }


@pytest.fixture
def stack() -> Iterator[MotoStack]:
    with moto_stack() as deployed, instant_retries():
        yield deployed


def instant_retries() -> Any:
    """moto's retrier without its real-time sleep between attempts."""
    return mock.patch.object(retrier_decl, "time", SimpleNamespace(sleep=lambda _: None))


def run_job(stack: MotoStack, backend: str, copies: int = 1, seconds: float = 60) -> tuple[Outcome, TrainingPlatform]:
    """Submit, play the platform (each event ``copies`` times) until the job and its last
    execution have ended; the job's outcome and the platform."""
    store = stack.service.store
    job = stack.service.submit(parse_spec(spec_for(backend)))
    platform = TrainingPlatform(stack, job.id, backend, val_loss, "val_loss")
    deadline = time.monotonic() + seconds
    while True:
        for launched in platform.new_jobs():
            for event in launched.events:
                for _ in range(copies):
                    platform.deliver(event)
        job = store.get_job(job.id)
        if job.status.finished and stack.status(job.execution_id or "")["status"] != "RUNNING":
            return outcome(store, job.id), platform
        assert time.monotonic() < deadline, f"the job hangs: {outcome(store, job.id)}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def undisturbed() -> Outcome:
    with moto_stack() as stack, instant_retries():
        result, platform = run_job(stack, "sagemaker")
    assert result.status.value == "completed" and len(result.trials) == TRIALS
    assert len(platform.seen) == TRIALS
    return result


def test_tasks_whose_responses_are_lost_run_again_and_change_nothing(stack: MotoStack, undisturbed: Outcome) -> None:
    with ExitStack() as faults:
        lost = [faults.enter_context(LoseFirstResponse(name)) for name in TASK_FUNCTIONS]
        result, platform = run_job(stack, "sagemaker")
    assert all(fault.lost for fault in lost), "every chosen Task lost a response"
    assert result == undisturbed
    assert len(platform.seen) == TRIALS  # one training job per trial


def test_a_retried_suggest_across_hand_overs_changes_nothing(
    stack: MotoStack, undisturbed: Outcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hyperstep import service

    # Past one round's events: every execution hands over at its second Suggest, which always
    # comes (4 trials, 2 in parallel). At two rounds' worth the hand-over needed a third round,
    # which a job whose last two results came together never has: the test was flaky.
    monkeypatch.setattr(service, "HANDOFF_EVENTS", service.ROUND_EVENTS)
    with LoseFirstResponse("suggest") as lost:
        result, platform = run_job(stack, "sagemaker")
    executions = stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    assert len(executions) >= 2 and all(e["status"] == "SUCCEEDED" for e in executions)
    assert any(event["history_events"] >= service.HANDOFF_EVENTS for event in lost.lost)
    assert result == undisturbed
    assert len(platform.seen) == TRIALS


def test_every_event_delivered_twice_changes_nothing(stack: MotoStack, undisturbed: Outcome) -> None:
    """Batch trials send two events each (the script's final metric, then SUCCEEDED): all twice."""
    create_batch_environment()
    result, platform = run_job(stack, "batch", copies=2)
    assert result == undisturbed
    assert len(platform.seen) == TRIALS
