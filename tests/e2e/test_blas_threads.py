"""The command line runs its own linear algebra on one BLAS thread (``hyperstep.blas``),
and starts local trials with the user's environment as it was; a seeded ``Study`` in a
script proposes the same whatever the BLAS thread count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyperstep.blas import THREAD_VARIABLES
from hyperstep.stores.sqlite import SQLiteStore

SEEN = "import os; print('loss=' + os.environ.get('OPENBLAS_NUM_THREADS', '0'))"
"""A local trial: its loss is the OPENBLAS_NUM_THREADS it was started with (0: unset)."""

IN_PROCESS = """
import os
def threads(params, seed):
    return {"duration": 1.0, "curve": [float(os.environ.get("OPENBLAS_NUM_THREADS", "0"))]}
"""
"""A simulated trial runs in hyperstep's own process: its value is that process's setting."""


def spec_file(workdir: Path, trial: dict[str, object]) -> Path:
    document = {
        "name": "threads",
        "objective": {"metric": "loss", "goal": "minimize"},
        "parameters": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
        "strategy": {"name": "random", "seed": 0},
        "budget": {"max_trials": 1, "max_parallel": 1},
        "trial": trial,
    }
    path = workdir / f"{trial['backend']}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def value_of_a_run(workdir: Path, spec: Path, env: dict[str, str]) -> float:
    store = workdir / f"{spec.stem}.db"
    out = subprocess.run(
        [sys.executable, "-m", "hyperstep", "--store", str(store), "run", str(spec), "--json",
         "--out", str(workdir / "runs")],
        capture_output=True, text=True, timeout=120, env=env, cwd=workdir,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    (trial,) = SQLiteStore(store).list_trials(summary["job_id"])
    return trial.value


RASTRIGIN = """
import math, sys
import hyperstep
from threadpoolctl import threadpool_info

space = [{"name": f"x{i}", "type": "float", "low": -5.0, "high": 5.0} for i in range(10)]
study = hyperstep.Study(space, goal="minimize", strategy="bayesian", seed=0)
threads = set()

def rastrigin(trial):
    threads.update(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    xs = trial.params.values()
    return sum(x * x - 10 * math.cos(2 * math.pi * x) for x in xs) + 10 * len(xs)

study.optimize(rastrigin, n_trials=42)
print(sorted(threads), [trial.params for trial in study.trials])
"""
"""A seeded Bayesian run in a script: the threads its objective saw, and its trials' parameters.
Before the proposals ran on one thread whatever the process set, the 42nd trial's parameters
differed in their last digits at 2 threads (x1 2.9704005666595092 for ...146)."""


@pytest.fixture
def unset_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name not in THREAD_VARIABLES}


def test_the_command_line_itself_runs_on_one_blas_thread(workdir: Path, unset_env: dict[str, str]) -> None:
    (workdir / "sim.py").write_text(IN_PROCESS)
    spec = spec_file(workdir, {"backend": "simulated", "objective": "sim:threads"})
    assert value_of_a_run(workdir, spec, unset_env) == 1.0
    assert value_of_a_run(workdir, spec, {**unset_env, "OPENBLAS_NUM_THREADS": "3"}) == 3.0  # the user's kept


def test_local_trials_get_the_users_environment_not_the_limit(workdir: Path, unset_env: dict[str, str]) -> None:
    trial = {
        "backend": "local",
        "command": ["python", "-c", SEEN],
        "workdir": str(workdir),
        "metric_definitions": [{"name": "loss", "regex": r"^loss=([0-9]+)"}],
        "timeout_seconds": 60,
    }
    spec = spec_file(workdir, trial)
    assert value_of_a_run(workdir, spec, unset_env) == 0.0  # unset, as the user left it
    assert value_of_a_run(workdir, spec, {**unset_env, "OPENBLAS_NUM_THREADS": "4"}) == 4.0


def test_numpy_is_not_loaded_before_the_limit_is_set() -> None:
    code = "import sys, hyperstep.__main__, hyperstep.blas; print('numpy' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


def test_a_seeded_study_proposes_the_same_at_any_blas_thread_count(unset_env: dict[str, str]) -> None:
    def run(threads: str) -> str:
        environment = {**unset_env, "OPENBLAS_NUM_THREADS": threads}
        return subprocess.run(
            [sys.executable, "-c", RASTRIGIN], env=environment, capture_output=True, text=True, check=True, timeout=300
        ).stdout

    one, two = run("1"), run("2")
    assert one.startswith("[1] ") and two.startswith("[2] ")  # the objective keeps the process's threads
    assert one[4:] == two[4:]
