"""Every example spec validates, and the example script trains and prints its metric."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hyperstep.cli import main
from hyperstep.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPECS = sorted(EXAMPLES.glob("*/spec*.yaml"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_spec_validates(spec: Path) -> None:
    assert main(["validate", str(spec)]) == 0


def test_the_svm_script_prints_the_metric_its_spec_reads(tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES / "svm-breast-cancer/spec.yaml")
    script = EXAMPLES / "svm-breast-cancer/train.py"
    done = subprocess.run(
        [sys.executable, str(script), "--C", "1.0", "--gamma", "0.01", "--kernel", "rbf", "--degree", "3"],
        capture_output=True, text=True, timeout=120, env={"SM_MODEL_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    from hyperstep.backends.logs import parse_metrics

    metrics = parse_metrics(done.stdout, spec.trial.metric_definitions)
    assert 0.9 < metrics["accuracy"] <= 1.0
    assert (tmp_path / "model.pkl").exists()


SVC_USES = {"linear": set(), "rbf": {"gamma"}, "poly": {"gamma", "degree"}}
"""The kernel parameters scikit-learn's ``SVC`` reads for each kernel the example tunes."""


@pytest.mark.parametrize("name", ["spec.yaml", "spec-sagemaker.yaml", "spec-batch.yaml"])
def test_no_svm_trial_tunes_a_parameter_its_kernel_ignores(name: str) -> None:
    import numpy as np

    space = load_spec(EXAMPLES / "svm-breast-cancer" / name).space
    kernels = set()
    for x in np.random.default_rng(0).random((60, space.dim)):
        params = space.decode(x)
        kernels.add(params["kernel"])
        assert set(params) - {"C", "kernel"} == SVC_USES[params["kernel"]], params
    assert kernels == set(SVC_USES)


BLOCK_SKLEARN = """
import runpy, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ModuleNotFoundError("No module named 'sklearn'", name="sklearn")
sys.meta_path.insert(0, Block())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("example", ["svm-breast-cancer", "mlp-digits"])
def test_an_example_without_scikit_learn_says_what_it_needs_in_one_line(example: str) -> None:
    """``pip install hyperstep`` (no dev extra) brings no scikit-learn: every trial of the example
    failed with a stack trace, its last line ModuleNotFoundError; now one line says what to install."""
    script = EXAMPLES / example / "train.py"
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_SKLEARN, str(script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip() == f"examples/{example} needs scikit-learn: pip install scikit-learn", done.stderr
