"""A test that hangs fails on its timeout, and the run goes on (pytest-timeout, configured in
pyproject.toml): a broken loop in an end-to-end run (the simulated driver's last reaper pass)
once hung the suite instead of failing it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
HANGS = """
import threading

def test_hangs():
    threading.Event().wait()

def test_after():
    pass
"""


def run_pytest(folder: Path, *args: str) -> str:
    """pytest run under the project's configuration on ``folder``; its output."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-c", str(PYPROJECT), "--rootdir", str(folder)]
    done = subprocess.run([*command, *args], cwd=folder, capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr


def test_the_project_sets_a_timeout_for_every_test(tmp_path: Path) -> None:
    (tmp_path / "test_hang.py").write_text(HANGS)
    header = re.search(r"^timeout: ([0-9.]+)s$", run_pytest(tmp_path, "-v", "--collect-only"), re.MULTILINE)
    assert header is not None and float(header.group(1)) > 0


def test_a_hanging_test_fails_on_its_timeout_and_the_next_test_runs(tmp_path: Path) -> None:
    (tmp_path / "test_hang.py").write_text(HANGS)
    output = run_pytest(tmp_path, "-o", "timeout=2")
    assert "Failed: Timeout" in output and "1 failed, 1 passed" in output, output
