"""What ``hyperstep status``, ``trials`` and ``report`` show of a job, checked against its
stored trials by hand: jobs with early stopping, several objectives, wide characters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hyperstep
from hyperstep.cli import main
from hyperstep.stores.sqlite import SQLiteStore

SPACE = {"parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}]}


def test_status_of_a_job_with_early_stopping_says_what_it_saved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``status JOB`` prints the summary ``run`` prints, steps saved included (it printed
    them only for jobs with several objectives: the trials were not read otherwise)."""
    store = tmp_path / "s.db"
    study = hyperstep.Study(
        SPACE,
        strategy="random",
        store=SQLiteStore(store),
        job_id="es",
        early_stopping={"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3},
    )
    first, second = study.ask(2)
    for step in range(1, 10):
        study.report(first.id, step, 1.0 / step)
    study.tell(first.id, 1.0 / 9)
    for step in (1, 2):
        study.report(second.id, step, 5.0)
    study.tell(second.id, 5.0, state="stopped")
    assert main(["--store", str(store), "status", "es"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # by hand: 9 + 2 steps ran; the pruned trial would have run to 9, 7 more
    assert summary["early_stopping"] == {"pruned": 1, "steps": 11, "steps_saved": 7}
