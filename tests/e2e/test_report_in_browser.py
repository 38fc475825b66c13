"""The report of a real local job, opened in headless Chromium (Debian's ``chromium``, which
``.ci/run`` installs): every plot must have drawn in the rendered page.

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
PLOTS = {
    "best_vs_trials",
    "best_vs_time",
    "best_vs_cost",
    "parallel_coordinates",
    "slices",
    "importance",
    "learning_curves",
}
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


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of a real 12-trial local job with learning curves."""
    folder = tmp_path_factory.mktemp("job")
    (folder / "train.py").write_text(TRAIN)
    spec = folder / "spec.yaml"
    trial = {**spec_document()["trial"], "cost_per_hour": 3.6}
    spec.write_text(yaml.safe_dump(spec_document(budget={"max_trials": 12, "max_parallel": 3}, trial=trial)))
    store = folder / "store.db"
    assert main(["--store", str(store), "run", str(spec), "--out", str(folder / "runs")]) == 0
    [job] = SQLiteStore(str(store)).list_jobs()
    out = folder / "report"
    assert main(["--store", str(store), "report", job.id, "--out", str(out), "--runs", str(folder / "runs")]) == 0
    return out / "report.html"


def test_every_plot_of_a_real_job_draws_in_chromium(report: Path, tmp_path: Path) -> None:
    figures = drawn(dump_dom(report, tmp_path / "profile"))
    assert set(figures) == PLOTS
    for key, size in figures.items():
        width, _, height = size.partition("x")
        assert width.isdigit() and height.isdigit() and int(width) > 200 and int(height) > 150, (key, size)


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
