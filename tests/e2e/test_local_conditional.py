"""A local job over a conditional space, through the CLI: inactive parameters reach no script."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import yaml

from hyperstep.cli import main
from hyperstep.models import TrialState
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    args = sys.argv[1:]
    given = {args[i][2:]: args[i + 1] for i in range(0, len(args), 2)}
    kernel = given["kernel"]
    assert ("gamma" in given) == (kernel in ("rbf", "poly")), given
    assert ("degree" in given) == (kernel == "poly"), given
    hps = json.load(open(os.path.join(os.environ["HYPERSTEP_TRIAL_DIR"], "hyperparameters.json")))
    assert set(hps) == set(given), (hps, given)
    with open(os.path.join(os.environ["HYPERSTEP_TRIAL_DIR"], "argv.json"), "w") as f:
        json.dump(args, f)
    loss = {"linear": 1.0, "rbf": 0.2, "poly": 0.5}[kernel] + abs(float(given.get("gamma", 0.1)) - 0.1)
    loss += 1.0 - float(given["momentum"])
    print(f"loss={loss:.6f}")
    """
)
PARAMETERS = [
    {"name": "kernel", "type": "categorical", "choices": ["linear", "rbf", "poly"]},
    {"name": "gamma", "type": "float", "low": 1.0e-5, "high": 10, "scale": "log", "when": {"kernel": ["rbf", "poly"]}},
    {"name": "degree", "type": "int", "low": 2, "high": 5, "when": {"kernel": ["poly"]}},
    {"name": "momentum", "type": "float", "low": 0.5, "high": 0.999, "scale": "reverse_log"},
]


def test_a_local_job_passes_only_the_active_parameters(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    document = spec_document(
        parameters=PARAMETERS, strategy={"name": "bayesian", "seed": 3}, budget={"max_trials": 9, "max_parallel": 3}
    )
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(document))
    store_path, runs = tmp_path / "s.db", tmp_path / "runs"
    assert main(["--store", str(store_path), "run", str(tmp_path / "spec.yaml"), "--out", str(runs)]) == 0
    store = SQLiteStore(store_path)
    (job,) = store.list_jobs()
    trials = store.list_trials(job.id)
    assert len(trials) == 9 and all(t.state is TrialState.COMPLETED for t in trials), [t.error for t in trials]
    assert {t.params["kernel"] for t in trials} == {"linear", "rbf", "poly"}
    for t in trials:
        expected = {"kernel", "momentum"} | ({"gamma"} if t.params["kernel"] != "linear" else set())
        expected |= {"degree"} if t.params["kernel"] == "poly" else set()
        assert set(t.params) == expected
        assert 0.5 <= t.params["momentum"] <= 0.999
        argv = json.loads((runs / job.id / t.id / "argv.json").read_text())
        assert sorted(argv[0::2]) == sorted(f"--{name}" for name in expected)
