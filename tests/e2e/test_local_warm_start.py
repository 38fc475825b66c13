"""Warm start from the command line: ``hyperstep run SPEC --warm-start JOB`` on the
embedded default (simulated trials, virtual time), with a search space that changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from hyperstep.cli import main
from hyperstep.stores.sqlite import SQLiteStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "simulated"


def spec_file(folder: Path, name: str, **changes: object) -> Path:
    """The simulated example's spec with ``changes``, beside a copy of its curves."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE / "curves.py", folder / "curves.py")
    document = yaml.safe_load((EXAMPLE / "spec.yaml").read_text())
    document.update(name=name, **changes)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def run(store: Path, *args: str, capsys) -> dict:
    assert main(["--store", str(store), "run", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_job_warm_started_from_an_earlier_one_learns_from_it_and_spends_its_own_budget(tmp_path, capsys) -> None:
    store = tmp_path / "store.db"
    parent = run(store, str(spec_file(tmp_path, "parent", budget={"max_trials": 12, "max_parallel": 4})), capsys=capsys)
    narrower = [
        {"name": "lr", "type": "float", "low": 0.001, "high": 0.3, "scale": "log"},  # narrowed
        {"name": "width", "type": "int", "low": 8, "high": 256, "scale": "log"},
        {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5},
    ]
    child_spec = spec_file(
        tmp_path,
        "child",
        parameters=narrower,
        strategy={"name": "bayesian", "seed": 1},
        budget={"max_trials": 3, "max_parallel": 1},
    )
    child = run(store, str(child_spec), "--warm-start", parent["job_id"], capsys=capsys)
    assert child["status"] == "completed" and child["warm_start"] == [parent["job_id"]]
    assert child["trials"] == 3  # the parent's 12 hold none of the child's budget
    trials = SQLiteStore(store).list_trials(child["job_id"])
    assert [t.job_id for t in trials] == [child["job_id"]] * 3  # nor are they shown as its trials


def test_an_unknown_parent_is_refused_with_one_line_and_nothing_stored(tmp_path, capsys) -> None:
    store = tmp_path / "store.db"
    path = spec_file(tmp_path, "child", budget={"max_trials": 2})
    assert main(["--store", str(store), "run", str(path), "--warm-start", "nope-1"]) == 2
    assert "hyperstep: error: warm_start.jobs: job 'nope-1' not found" in capsys.readouterr().err
    assert SQLiteStore(store).list_jobs() == []
