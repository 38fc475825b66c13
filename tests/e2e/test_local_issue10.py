"""Issue 10's YAML as written (a conditional space, two objectives, a latency constraint), run
as a local job through the CLI: the script gets only the active parameters, every trial keeps
both objectives' values and the constraint's metric, and the CLI shows the feasible front."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from hyperstep.cli import main
from hyperstep.models import TrialState
from hyperstep.objectives import pareto_front
from hyperstep.stores.sqlite import SQLiteStore
from tests import issue10

REPO = Path(__file__).parents[2]
SCRIPT = textwrap.dedent(
    f"""
    import json, os, sys
    sys.path.insert(0, {str(REPO)!r})
    from tests import issue10
    args = sys.argv[1:]
    given = {{args[i][2:]: args[i + 1] for i in range(0, len(args), 2)}}
    assert set(given) == issue10.active(given), given
    hps = json.load(open(os.path.join(os.environ["HYPERSTEP_TRIAL_DIR"], "hyperparameters.json")))
    assert set(hps) == set(given), (hps, given)
    for name, value in issue10.outcome(given).items():
        print(f"{{name}}={{value:.6f}}")
    """
)
REST = """
name: issue-10
strategy: {name: bayesian, seed: 0, options: {n_initial: 4}}
budget: {max_trials: 10, max_parallel: 2}
trial:
  backend: local
  command: [python, train.py]
  metric_definitions:
    - {name: accuracy, regex: "^accuracy=([0-9.eE+-]+)"}
    - {name: model_kb, regex: "^model_kb=([0-9.eE+-]+)"}
    - {name: latency_ms, regex: "^latency_ms=([0-9.eE+-]+)"}
"""


def test_the_issue_yaml_runs_as_a_local_job_and_shows_the_front(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    spec = issue10.PARAMETERS_YAML + issue10.OBJECTIVES_YAML + REST + f"  workdir: {tmp_path}\n"
    (tmp_path / "spec.yaml").write_text(spec)
    store_path = tmp_path / "store.db"
    assert main(["--store", str(store_path), "run", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "runs")]) == 0
    shown = capsys.readouterr().out

    store = SQLiteStore(store_path)
    (job,) = store.list_jobs()
    trials = store.list_trials(job.id)
    assert len(trials) == 10 and all(t.state is TrialState.COMPLETED for t in trials), [t.error for t in trials]
    assert {t.params["kernel"] for t in trials} == {"linear", "rbf", "poly"}
    for t in trials:
        assert set(t.params) == issue10.active(t.params)
        assert 0.5 <= t.params["momentum"] <= 0.999
        sent = issue10.outcome(t.params)
        assert t.values == pytest.approx([sent["accuracy"], sent["model_kb"]], abs=1e-5)
        assert t.metrics["latency_ms"] == pytest.approx(sent["latency_ms"], abs=1e-5)
    front = pareto_front(job.spec, trials)
    assert front and all(t.metrics["latency_ms"] <= 50 for t in front)
    assert f"Pareto front: {len(front)} trials (maximize accuracy, minimize model_kb)" in shown

    assert main(["--store", str(store_path), "trials", job.id]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:6] == ["trial", "state", "accuracy", "model_kb", "latency_ms", "front"]
    assert {line.split()[0] for line in table[2:] if line.split()[5] == "*"} == {t.id for t in front}

    assert main(["--store", str(store_path), "status", job.id]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [t["trial_id"] for t in status["pareto_front"]] == [t.id for t in front]
    assert status["constraints"] == [{"metric": "latency_ms", "max": 50.0}]
