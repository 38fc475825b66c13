"""A Batch trial with ``retry_attempts`` may be billed for every attempt (each runs up to
``attemptDurationSeconds``; the trial's cost sums them), so the most one trial costs, which
the dollar budget assumes before any trial is priced, is the rate x ``timeout_seconds`` x
``retry_attempts``. It assumed one attempt: a first round of retried trials could overspend
what README promises it never does, and ``validate`` took a budget that one trial's three
attempts exceed. A SageMaker spot trial is billed for its runtime only (its wait for
capacity is free), so its most stays rate x ``timeout_seconds``."""

from __future__ import annotations

from typing import Any

import pytest

from hyperstep.ended_totals import EndedTotals
from hyperstep.errors import SpecError
from hyperstep.models import Job
from hyperstep.pricing.budget import trial_estimate
from hyperstep.spec import parse_spec
from tests.unit.test_trial_blocks import BATCH, SAGEMAKER

FARGATE = {**BATCH, "vcpus": 1, "memory_mib": 2048, "timeout_seconds": 3600}
HOUR = 0.04048 + 2 * 0.004445
"""One vCPU and 2 GB on Fargate for an hour at the packaged us-east-1 rates."""


def job(trial: dict[str, Any], max_cost_usd: float = 100.0) -> Job:
    spec = parse_spec(
        {
            "name": "priced",
            "objective": {"metric": "loss"},
            "parameters": [{"name": "lr", "type": "float", "low": 0.001, "high": 0.1}],
            "budget": {"max_trials": 10, "max_cost_usd": max_cost_usd},
            "trial": trial,
        }
    )
    return Job(id="priced", spec=spec)


def test_a_retried_batch_trial_is_taken_to_cost_every_attempt() -> None:
    assert trial_estimate(job(FARGATE), EndedTotals(), "us-east-1") == pytest.approx(HOUR)
    retried = trial_estimate(job({**FARGATE, "retry_attempts": 3}), EndedTotals(), "us-east-1")
    assert retried == pytest.approx(3 * HOUR)


def test_validate_refuses_a_budget_below_one_trial_s_attempts() -> None:
    job(FARGATE, max_cost_usd=0.1)  # one attempt of an hour: $0.049
    with pytest.raises(SpecError, match="does not cover one trial"):
        job({**FARGATE, "retry_attempts": 3}, max_cost_usd=0.1)  # three: $0.148


def test_a_spot_trial_is_taken_to_cost_its_runtime_not_its_wait() -> None:
    spot = {**SAGEMAKER, "timeout_seconds": 3600, "use_spot": True, "max_wait_seconds": 7200, "cost_per_hour": 1.0}
    assert trial_estimate(job(spot), EndedTotals(), "us-east-1") == pytest.approx(1.0)
