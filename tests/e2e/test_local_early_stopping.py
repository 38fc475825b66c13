"""Early stopping on the embedded default: examples/mlp-digits run by ``hyperstep run``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hyperstep.cli import main
from hyperstep.models import TrialState
from hyperstep.stores.sqlite import SQLiteStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mlp-digits"


def test_hyperstep_run_stops_losers_while_the_best_runs_to_the_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = yaml.safe_load((EXAMPLE / "spec.yaml").read_text())
    spec["budget"] = {"max_trials": 6, "max_parallel": 2}
    spec["strategy"] = {"name": "random", "seed": 1}
    spec["early_stopping"] = {"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3}
    spec["trial"].update(command=["python", "train.py", "--epochs", "9"], workdir=str(EXAMPLE))
    spec["trial"]["env"] = {"EPOCH_SECONDS": "0.4"}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    store = tmp_path / "store.db"
    code = main(["--store", str(store), "run", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "runs")])
    assert code == 0
    (job,) = SQLiteStore(store).list_jobs()
    trials = SQLiteStore(store).list_trials(job.id)
    pruned = [t for t in trials if t.state is TrialState.PRUNED]
    complete = [t for t in trials if t.state is TrialState.COMPLETED]
    assert pruned and complete and len(pruned) + len(complete) == 6
    assert job.budget_used == 6 and job.pruned == len(pruned)  # stopped trials count against the budget
    for trial in pruned:  # killed within a step or so of the decision: its log ends early
        log = (tmp_path / "runs" / job.id / trial.id / "train.log").read_text()
        assert max(trial.curve) < 9 and log.count("val_loss=") <= max(trial.curve) + 2 < 9
        assert trial.value == trial.curve[max(trial.curve)]
    for trial in complete:
        assert sorted(trial.curve) == list(range(1, 10))
    best = min(complete, key=lambda t: t.value)
    assert job.best_trial_id == best.id
    saved = sum(9 - max(t.curve) for t in pruned)
    out = capsys.readouterr().out
    assert f"early stopping: {len(pruned)} trials stopped early" in out and f" {saved} steps saved" in out
