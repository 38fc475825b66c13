"""Completion rules from the command line: a simulated job that stops on a plateau says
why in ``run``'s summary, in ``status JOB`` and in the job list."""

from __future__ import annotations

import json

from hyperstep.cli import main
from tests.e2e.test_local_warm_start import spec_file


def test_a_job_that_stops_on_a_plateau_says_why_everywhere(tmp_path, capsys) -> None:
    store = tmp_path / "store.db"
    budget = {"max_trials": 60, "max_parallel": 2, "no_improvement_trials": 4}
    path = spec_file(tmp_path, "plateau", budget=budget)
    assert main(["--store", str(store), "run", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "stopped because: no improvement in the last 4 completed trials (no_improvement)" in printed
    job_id = printed.split()[1].rstrip(":")
    assert main(["--store", str(store), "status", job_id]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["stop_reason"], status["trials"] < 60) == ("no_improvement", True)
    assert main(["--store", str(store), "status"]) == 0
    assert "no_improvement" in capsys.readouterr().out


BOWL = '''
def bowl(params, seed):
    """A trial of a minute whose loss is a 1-D quadratic, minimum 0 at x = 0.3."""
    return {"duration": 60.0, "curve": [(float(params["x"]) - 0.3) ** 2]}
'''


def test_a_bayesian_job_that_stops_on_convergence_says_why(tmp_path, capsys) -> None:
    """``budget.stop_on_convergence`` from the command line: on a bowl the model soon
    expects nothing more, and the job ends well before its 40 trials, saying so."""
    (tmp_path / "bowl.py").write_text(BOWL)
    spec = {
        "name": "bowl",
        "objective": {"metric": "loss", "goal": "minimize"},
        "parameters": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
        "strategy": {"name": "bayesian", "seed": 0},
        "budget": {"max_trials": 40, "max_parallel": 1, "stop_on_convergence": True},
        "trial": {"backend": "simulated", "objective": "bowl:bowl", "timeout_seconds": 600},
    }
    path = tmp_path / "bowl.yaml"
    path.write_text(json.dumps(spec))
    store = tmp_path / "store.db"
    assert main(["--store", str(store), "run", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "(converged)" in printed
    job_id = printed.split()[1].rstrip(":")
    assert main(["--store", str(store), "status", job_id]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["stop_reason"] == "converged" and status["trials"] < 30
