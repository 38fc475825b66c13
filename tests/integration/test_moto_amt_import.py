"""AWS's own ``CreateHyperParameterTuningJob`` example (the developer guide's XGBoost
request), imported with ``hyperstep import-amt`` and submitted to the deployment's API
under moto: the state machine runs it to the end as SageMaker training jobs that carry the
request's image, instances, static hyperparameters and ranges."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hyperstep.cli import main
from hyperstep.models import JobStatus, TrialState
from tests.integration.moto_harness import MotoStack, moto_stack
from tests.integration.moto_platform import Launched, TrainingPlatform
from tests.integration.test_moto_live_jobs import call_api
from tests.unit.test_amt import DOC_EXAMPLE, load

pytestmark = pytest.mark.slow


@pytest.fixture
def stack() -> Iterator[MotoStack]:
    with moto_stack() as deployed:
        yield deployed


def auc(hyperparameters: dict[str, str]) -> float:
    """The "training": a validation AUC from the hyperparameters the training job got."""
    eta, depth = float(hyperparameters["eta"]), int(hyperparameters["max_depth"])
    return 0.95 - (eta - 0.3) ** 2 - 0.005 * abs(depth - 6)


def test_the_documentation_example_runs_as_sagemaker_training_jobs(stack: MotoStack, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    assert main(["import-amt", str(DOC_EXAMPLE), "--max-trials", "4", "-o", str(spec)]) == 0
    status, accepted = call_api(stack, "POST", "/jobs", yaml.safe_load(spec.read_text()))
    assert status == 202, accepted
    job = stack.service.store.get_job(accepted["job_id"])
    assert job.execution_id is not None
    launched: list[Launched] = []
    platform = TrainingPlatform(stack, job.id, "sagemaker", auc, "validation:auc")
    assert platform.run(job.execution_id, seconds=60, on_job=launched.append)["status"] == "SUCCEEDED"

    final = stack.service.store.get_job(job.id)
    trials = stack.service.store.list_trials(job.id)
    assert final.status is JobStatus.COMPLETED and final.completed == 4 == len(trials)
    assert all(t.state is TrialState.COMPLETED for t in trials)
    best = max(trials, key=lambda t: t.value or 0.0)
    assert final.best_trial_id == best.id  # Maximize, as the request's objective says
    request = load(DOC_EXAMPLE)["TrainingJobDefinition"]
    for training_job in launched:
        found = stack.sagemaker.describe_training_job(TrainingJobName=training_job.name)
        assert found["AlgorithmSpecification"]["TrainingImage"] == request["AlgorithmSpecification"]["TrainingImage"]
        assert found["ResourceConfig"]["InstanceType"] == "ml.c4.2xlarge"
        assert found["ResourceConfig"]["InstanceCount"] == 2
        hyperparameters = found["HyperParameters"]
        assert hyperparameters["num_round"] == "100" and hyperparameters["objective"] == "binary:logistic"
        assert 0.0 <= float(hyperparameters["eta"]) <= 1.0 and 1 <= int(hyperparameters["max_depth"]) <= 10
