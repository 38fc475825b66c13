"""Cloud job names are valid for SageMaker and Batch, unique per attempt, and map back."""

from __future__ import annotations

import re

import pytest

from hyperstep.backends.batch.adapter import BATCH_NAME_MAX
from hyperstep.backends.naming import (
    hyperparameter_strings,
    parse_trial_job_name,
    script_arguments,
    trial_job_name,
)
from hyperstep.backends.sagemaker.adapter import SAGEMAKER_NAME_MAX
from hyperstep.models import trial_id

# From botocore's SageMaker model (TrainingJobName) and the Batch SubmitJob documentation.
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
BATCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")

JOB_IDS = [
    "mnist-3f2a9c1b7d4e",
    "a-0123456789ab",
    "x" * 40 + "-0123456789ab",  # the longest id Study makes (40-character name)
    "ends-with-hyphen--0123456789ab",
    "weird id/with:chars",
    "t0001-1",
]


@pytest.mark.parametrize("job_id", JOB_IDS)
@pytest.mark.parametrize(("number", "attempt"), [(0, 1), (7, 2), (12345, 10)])
def test_names_are_valid_for_both_services(job_id: str, number: int, attempt: int) -> None:
    sm = trial_job_name(job_id, trial_id(number), attempt, SAGEMAKER_NAME_MAX)
    batch = trial_job_name(job_id, trial_id(number), attempt, BATCH_NAME_MAX)
    assert SAGEMAKER_NAME.match(sm) and len(sm) <= SAGEMAKER_NAME_MAX, sm
    assert BATCH_NAME.match(batch), batch
    assert sm.startswith("hs-") and batch.startswith("hs-")


@pytest.mark.parametrize("job_id", ["mnist-3f2a9c1b7d4e", "t0001-1", "a--b-0123456789ab"])
def test_readable_names_parse_back(job_id: str) -> None:
    name = trial_job_name(job_id, "t0007", 3, SAGEMAKER_NAME_MAX)
    assert parse_trial_job_name(name) == (job_id, "t0007", 3)


def test_names_differ_per_attempt_trial_and_job() -> None:
    names = {
        trial_job_name(j, t, a, SAGEMAKER_NAME_MAX)
        for j in ("job-a", "job-b")
        for t in ("t0001", "t0002")
        for a in (1, 2)
    }
    assert len(names) == 8


def test_too_long_ids_get_a_unique_hashed_name_that_does_not_parse() -> None:
    long_a, long_b = "x" * 60 + "-a", "x" * 60 + "-b"
    a, b = (
        trial_job_name(long_a, "t0001", 1, SAGEMAKER_NAME_MAX),
        trial_job_name(long_b, "t0001", 1, SAGEMAKER_NAME_MAX),
    )
    assert a != b and a.startswith("hs--")
    assert parse_trial_job_name(a) is None


def test_batch_keeps_long_ids_readable() -> None:
    job_id = "x" * 40 + "-0123456789ab"
    assert parse_trial_job_name(trial_job_name(job_id, "t0001", 1, BATCH_NAME_MAX)) == (job_id, "t0001", 1)


def test_other_names_do_not_parse() -> None:
    for name in ("kmeans-2026-11-26", "hs-job-t01-1", "hs-job-t0001-0", "hs--abc-t0001-1", "xhs-job-t0001-1"):
        assert parse_trial_job_name(name) is None, name


def test_hyperparameters_are_strings_with_json_for_non_strings() -> None:
    params = {"lr": 0.001, "layers": 3, "act": "relu", "bn": True}
    assert hyperparameter_strings(params) == {"lr": "0.001", "layers": "3", "act": "relu", "bn": "true"}
    assert script_arguments({"lr": 0.5, "act": "relu"}) == ["--lr", "0.5", "--act", "relu"]


def test_non_finite_hyperparameters_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        hyperparameter_strings({"lr": float("nan")})
