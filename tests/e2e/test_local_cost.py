"""A local job with a dollar budget, from the command line: run, trials (table and CSV), status."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from hyperstep.cli import main
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document


def run_job(workdir: Path, capsys: pytest.CaptureFixture[str], sleep: float = 0.0, **budget: float) -> tuple[str, str]:
    """Run the tiny job (each trial sleeps ``sleep`` s, $36/h: a cent a second); its id and output."""
    env = {"TRAIN_SLEEP": str(sleep)}
    trial = {**spec_document()["trial"], "cost_per_hour": 36.0, "timeout_seconds": 3, "env": env}
    document = spec_document(trial=trial, budget={"max_trials": 8, "max_parallel": 2, **budget})
    (workdir / "spec.yaml").write_text(yaml.safe_dump(document))
    store = str(workdir / "store.db")
    assert main(["--store", store, "run", str(workdir / "spec.yaml"), "--out", str(workdir / "runs")]) == 0
    [job] = SQLiteStore(store).list_jobs()
    return job.id, capsys.readouterr().out


def test_a_dollar_budget_stops_the_job_and_every_view_shows_the_cost(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id, out = run_job(workdir, capsys, sleep=1.0, max_cost_usd=0.06)
    store = SQLiteStore(str(workdir / "store.db"))
    job, trials = store.get_job(job_id), store.list_trials(job_id)
    # two at first (at their most, 3 s: $0.03 each), then as many as the running average (over a
    # second: over $0.01) leaves room for: fewer than max_trials' 8
    assert 3 <= len(trials) < 8 and all(t.cost_usd and t.cost_usd > 0.01 for t in trials)
    assert job.cost_usd == pytest.approx(sum(t.cost_usd or 0 for t in trials))
    assert job.cost_usd <= 0.06 + 2 * max(t.cost_usd or 0 for t in trials)  # 2 running: the spread of 2 at most
    assert f"cost: ${job.cost_usd:.4g} of $0.06 (at trial.cost_per_hour)" in out

    assert main(["--store", str(workdir / "store.db"), "status", job_id]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["cost_usd"] == job.cost_usd and status["max_cost_usd"] == 0.06

    assert main(["--store", str(workdir / "store.db"), "trials", job_id]) == 0
    table = capsys.readouterr().out
    assert "cost $" in table.splitlines()[0] and "of $0.06" in table.splitlines()[-1]

    assert main(["--store", str(workdir / "store.db"), "status"]) == 0
    assert "cost $" in capsys.readouterr().out


def test_trials_csv_has_every_metric_full_precision_times_duration_and_cost(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id, _ = run_job(workdir, capsys)
    assert main(["--store", str(workdir / "store.db"), "trials", job_id, "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    trials = {t.id: t for t in SQLiteStore(str(workdir / "store.db")).list_trials(job_id)}
    assert len(rows) == len(trials) == 8
    for row in rows:
        trial = trials[row["trial"]]
        assert float(row["loss"]) == trial.value  # every digit: reads back to the same float
        assert float(row["x"]) == trial.params["x"]
        assert datetime.fromisoformat(row["started_at"]).timestamp() == pytest.approx(trial.started_at)
        assert datetime.fromisoformat(row["ended_at"]).timestamp() == pytest.approx(trial.ended_at)
        assert float(row["seconds"]) == pytest.approx(trial.ended_at - trial.started_at)
        assert float(row["cost_usd"]) == trial.cost_usd and float(row["billable_seconds"]) > 0
    assert list(rows[0])[:6] == ["trial", "state", "loss", "x", "n", "kind"]


def test_a_simulated_job_stops_at_its_dollar_budget_on_the_virtual_clock(tmp_path: Path) -> None:
    """The example's 300 simulated trials at $1 a virtual hour, 20 in parallel, with $20 to spend."""
    example = Path(__file__).resolve().parents[2] / "examples" / "simulated"
    document = yaml.safe_load((example / "spec.yaml").read_text())
    document["budget"]["max_cost_usd"] = 20
    document["trial"].update(cost_per_hour=1.0, path=str(example))
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(document))
    store = str(tmp_path / "s.db")
    assert main(["run", str(tmp_path / "spec.yaml"), "--store", store, "--out", str(tmp_path / "runs")]) == 0
    [job] = SQLiteStore(store).list_jobs()
    trials = SQLiteStore(store).list_trials(job.id)
    assert 10 < len(trials) < 300
    assert all(t.cost_usd == pytest.approx((t.ended_at - t.started_at) / 3600) for t in trials if t.started_at)
    assert 20 * 0.8 < job.cost_usd < 20 * 1.5  # stops near $20: at most the running trials' spread above it
