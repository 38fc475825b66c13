"""The reports of real local jobs, opened in headless Chromium (Debian's ``chromium``, which
``.ci/run`` installs): every plot must have drawn in the rendered page. The jobs: a tiny one
that has every one-objective plot, one with two objectives and a constraint (the Pareto
front), and the ``make demo`` job itself (its spec and script from ``examples/``).

The page marks each figure once loaded (``data-drawn="WxH"`` when its image decoded, "no"
when not); Chromium runs that script under the page's own Content-Security-Policy and
``--dump-dom`` hands back the DOM it ended with.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from hyperstep.cli import main
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document
from tests.unit.test_job_report import PLOTS as PLOT_ORDER

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PLOTS = set(PLOT_ORDER)
"""Every plot a one-objective page draws (the unit tests' list, in page order)."""
TRAIN = textwrap.dedent(
    """
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float)
    p.add_argument("--n", type=int)
    p.add_argument("--kind")
    a = p.parse_args()
    loss = (a.x - 0.3) ** 2 + 0.05 * a.n + (0.2 if a.kind == "b" else 0.0)
    for epoch in (3, 2, 1):  # a learning curve: the last value is the trial's result
        print(f"loss={loss * epoch:.6g}", flush=True)
    """
)

TRAIN_TWO_OBJECTIVES = textwrap.dedent(
    """
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float)
    p.add_argument("--n", type=int)
    p.add_argument("--kind")
    a = p.parse_args()
    loss, size = (a.x - 0.3) ** 2 + (0.2 if a.kind == "b" else 0.0), a.n * (1.5 - a.x)
    for epoch in (3, 2, 1):
        print(f"loss={loss * epoch:.6g}", flush=True)
    print(f"size={size:.6g}", flush=True)
    print(f"latency={a.n * 10:.6g}", flush=True)
    """
)
DEMO = Path(__file__).resolve().parents[2] / "examples" / "svm-breast-cancer"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="chromium is not installed (.ci/run installs it)"
)


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM after the page loaded and its scripts ran, as Chromium renders it."""
    assert CHROMIUM, "chromium is not installed: apt-get install -y chromium"
    run = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def drawn(dom: str) -> dict[str, str]:
    """Each figure's id and what the page's check found (``WxH`` or ``no``)."""
    assert 'data-loaded="yes"' in dom, "the page's load handler did not run"
    return dict(re.findall(r'<figure id="([a-z_]+)" data-drawn="([^"]*)"', dom))


def run_and_report(folder: Path, spec: dict, script: str) -> Path:
    """Run ``spec`` locally with ``script`` as its train.py, then write its report (both
    through the CLI, as a user would); the report page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text(script)
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    store = folder / "store.db"
    assert main(["--store", str(store), "run", str(folder / "spec.yaml"), "--out", str(folder / "runs")]) == 0
    [job] = SQLiteStore(str(store)).list_jobs()
    out = folder / "report"
    assert main(["--store", str(store), "report", job.id, "--out", str(out), "--runs", str(folder / "runs")]) == 0
    return out / "report.html"


def assert_drawn(figures: dict[str, str]) -> None:
    for key, size in figures.items():
        width, _, height = size.partition("x")
        assert width.isdigit() and height.isdigit() and int(width) > 200 and int(height) > 150, (key, size)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of a real 12-trial local job with learning curves."""
    trial = {**spec_document()["trial"], "cost_per_hour": 3.6}
    spec = spec_document(budget={"max_trials": 12, "max_parallel": 3}, trial=trial)
    return run_and_report(tmp_path_factory.mktemp("job"), spec, TRAIN)


def test_every_plot_of_a_real_job_draws_in_chromium(report: Path, tmp_path: Path) -> None:
    figures = drawn(dump_dom(report, tmp_path / "profile"))
    assert set(figures) == PLOTS
    assert_drawn(figures)


def test_the_pareto_front_of_a_real_two_objective_job_draws_in_chromium(tmp_path: Path) -> None:
    """Two objectives and a constraint that some trials break: the front and the hypervolume."""
    block = {
        **spec_document()["trial"],
        "cost_per_hour": 3.6,
        "metric_definitions": [
            {"name": name, "regex": rf"^{name}=([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)"}
            for name in ("loss", "size", "latency")
        ],
    }
    spec = spec_document(
        objective=None,
        objectives=[{"metric": "loss", "goal": "minimize"}, {"metric": "size", "goal": "minimize"}],
        constraints=[{"metric": "latency", "max": 30}],
        budget={"max_trials": 12, "max_parallel": 3},
        trial=block,
    )
    del spec["objective"]
    page = run_and_report(tmp_path / "job", spec, TRAIN_TWO_OBJECTIVES)
    figures = drawn(dump_dom(page, tmp_path / "profile"))
    assert set(figures) == PLOTS | {"pareto_front"}
    assert_drawn(figures)
    html = page.read_text()
    assert "Hypervolume so far, by trial" in html and "<dt>Pareto front</dt>" in html


def test_the_report_of_the_make_demo_job_draws_every_plot_in_chromium(tmp_path: Path) -> None:
    """``make demo``'s spec and script as shipped, with a smaller budget (8 trials, not 24, to
    keep the test short). Its script prints its accuracy once and the spec prices nothing, so
    the page says so for learning curves and cost instead of drawing them; every plot it has drew."""
    spec = yaml.safe_load((DEMO / "spec.yaml").read_text())
    spec["budget"] = {**spec["budget"], "max_trials": 8}
    page = run_and_report(tmp_path / "demo", spec, (DEMO / "train.py").read_text())
    figures = drawn(dump_dom(page, tmp_path / "profile"))
    assert set(figures) == PLOTS - {"best_vs_cost", "learning_curves"}
    assert_drawn(figures)
    html = page.read_text()
    assert "Learning curves: no trial reported" in html and "Best so far by cost: no completed trial has a cost" in html


def test_a_plot_that_does_not_decode_is_caught(report: Path, tmp_path: Path) -> None:
    """The check can fail: a broken image is marked "no" (and says so on the page)."""
    html = report.read_text()
    start = html.index('<figure id="slices">')
    broken = re.sub(r"base64,[A-Za-z0-9+/=]{200}", "base64,AAAA", html[start:], count=1)
    page = tmp_path / "broken.html"
    page.write_text(html[:start] + broken)
    figures = drawn(dump_dom(page, tmp_path / "profile"))
    assert figures["slices"] == "no"
    assert all(size != "no" for key, size in figures.items() if key != "slices")
