"""A local job with two objectives and a constraint, through the CLI, end to end."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from hyperstep.cli import main
from hyperstep.objectives import pareto_front
from hyperstep.stores.sqlite import SQLiteStore

SCRIPT = textwrap.dedent(
    """
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float)
    p.add_argument("--width", type=int)
    a = p.parse_args()
    print(f"accuracy={1 - (a.x - 0.7) ** 2 - 0.5 / a.width:.6f}")
    print(f"model_kb={a.width * 10 + a.x:.6f}")
    print(f"latency_ms={a.width * 2.0:.6f}")
    """
)


def test_two_objectives_and_a_constraint_run_and_show_the_front(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    spec = {
        "name": "two-goals",
        "objectives": [{"metric": "accuracy", "goal": "maximize"}, {"metric": "model_kb", "goal": "minimize"}],
        "constraints": [{"metric": "latency_ms", "max": 12}],
        "parameters": [
            {"name": "x", "type": "float", "low": 0.0, "high": 1.0},
            {"name": "width", "type": "int", "low": 1, "high": 10},
        ],
        "strategy": {"name": "bayesian", "seed": 3, "options": {"n_initial": 4}},
        "budget": {"max_trials": 8, "max_parallel": 2},
        "trial": {
            "backend": "local",
            "command": ["python", "train.py"],
            "workdir": str(tmp_path),
            "metric_definitions": [
                {"name": name, "regex": rf"^{name}=([0-9.eE+-]+)"} for name in ("accuracy", "model_kb", "latency_ms")
            ],
        },
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    store = tmp_path / "store.db"
    assert main(["--store", str(store), "run", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "runs")]) == 0
    shown = capsys.readouterr().out

    job = SQLiteStore(store).list_jobs()[0]
    trials = SQLiteStore(store).list_trials(job.id)
    assert len(trials) == 8 and all(t.state.value == "completed" for t in trials)
    for t in trials:  # every objective and the constraint's metric, from the script's log
        assert t.values == [pytest.approx(t.metrics["accuracy"]), pytest.approx(t.metrics["model_kb"])]
        assert t.metrics["latency_ms"] == pytest.approx(2.0 * t.params["width"])
    front = pareto_front(job.spec, trials)
    assert front and all(t.metrics["latency_ms"] <= 12 for t in front)
    assert f"Pareto front: {len(front)} trials (maximize accuracy, minimize model_kb)" in shown
    assert all(t.id in shown for t in front)

    assert main(["--store", str(store), "trials", job.id]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:6] == ["trial", "state", "accuracy", "model_kb", "latency_ms", "front"]
    starred = {line.split()[0] for line in table[2:] if line.split()[5] == "*"}
    assert starred == {t.id for t in front}

    assert main(["--store", str(store), "status", job.id]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [t["trial_id"] for t in status["pareto_front"]] == [t.id for t in front]
    assert status["constraints"] == [{"metric": "latency_ms", "max": 12.0}]
