"""What a local trial's process gets: the same variables as on SageMaker and Batch, and script mode's."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from hyperstep.backends.local.adapter import LocalProcessBackend
from hyperstep.messages import TrialResult
from hyperstep.models import Job, Trial
from hyperstep.spec import parse_spec
from tests.conftest import spec_document

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
    document = spec_document()
    document["trial"] = {
        **document["trial"],
        "command": ["python", "show_env.py"],
        "workdir": str(tmp_path),
        "env": {"FROM_SPEC": "yes"},
    }
    job = Job(id="job", spec=parse_spec(document))
    params = {"x": 0.1, "n": 1, "kind": "a"}
    results: list[TrialResult] = []
    done = threading.Event()
    backend = LocalProcessBackend(tmp_path / "runs", lambda r: (results.append(r), done.set()))
    backend.launch(job, Trial(job_id="job", id="t0001", number=1, params=params))
    assert done.wait(30) and results[0].state == "completed", results
    env = json.loads((tmp_path / "env.json").read_text())
    assert json.loads(env.pop("HYPERSTEP_HYPERPARAMETERS")) == json.loads(env.pop("SM_HPS")) == params
    assert env == {"HYPERSTEP_JOB_ID": "job", "HYPERSTEP_TRIAL_ID": "t0001", "FROM_SPEC": "yes"}
