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
