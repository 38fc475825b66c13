"""What a local trial's process gets: the same variables as on SageMaker and Batch, and script mode's."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.test_local_backend import one_trial

SHOW_ENV = """
import json, os
names = ["HYPERSTEP_HYPERPARAMETERS", "HYPERSTEP_JOB_ID", "HYPERSTEP_TRIAL_ID", "SM_HPS", "FROM_SPEC"]
json.dump({n: os.environ.get(n) for n in names}, open("env.json", "w"))
print("loss=0.5")
"""


def test_a_local_trial_gets_the_variables_a_sagemaker_or_batch_trial_gets(tmp_path: Path) -> None:
    """A script written for Batch reads its parameters from ``$HYPERSTEP_HYPERPARAMETERS``,
    as a SageMaker one may: old code did not set it locally, so that script failed in
    ``hyperstep run`` (KeyError) while README promises the same script runs everywhere."""
    (tmp_path / "show_env.py").write_text(SHOW_ENV)
    job, trial, backend, results, done = one_trial(tmp_path, ["python", "show_env.py"], env={"FROM_SPEC": "yes"})
    params = trial.params
    backend.launch(job, trial)
    assert done.wait(30) and results[0].state == "completed", results
    env = json.loads((tmp_path / "env.json").read_text())
    assert json.loads(env.pop("HYPERSTEP_HYPERPARAMETERS")) == json.loads(env.pop("SM_HPS")) == params
    assert env == {"HYPERSTEP_JOB_ID": "job", "HYPERSTEP_TRIAL_ID": "t0001", "FROM_SPEC": "yes"}
