"""Every benchmark records the commit it measured with one helper (``benchmarks.reporting.commit``):
``HYPERSTEP_BENCH_COMMIT`` when set, else the checkout's HEAD, else "working tree"."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from benchmarks import chaos, reporting


def test_the_fault_injection_run_records_the_commit_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERSTEP_BENCH_COMMIT", "3aa7882")  # a git archive of it on PYTHONPATH
    assert chaos.commit() == reporting.machine()["hyperstep_commit"] == "3aa7882"


def test_outside_a_git_checkout_the_commit_is_the_working_tree_not_unknown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HYPERSTEP_BENCH_COMMIT", raising=False)
    monkeypatch.setattr(reporting, "RESULTS", tmp_path / "results")  # benchmarks/ copied out of the checkout
    assert chaos.commit() == "working tree"


def test_in_a_checkout_the_commit_is_its_head(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYPERSTEP_BENCH_COMMIT", raising=False)
    here = Path(reporting.__file__).parent
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=here)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    assert reporting.commit().rstrip("+") == head.stdout.strip()
