"""The Pythons hyperstep runs on: 3.11, 3.12 and 3.13 (each installed from a clean clone with
``make``, the demo tuned, the examples validated and tests/unit run on it). ``make`` finds one
where ``python3`` is an older Python beside a newer ``python3.12`` (a fresh machine's system
Python), and says which it needs when there is none; pip refuses the others."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="no make on PATH")


def fake_python(folder: Path, name: str, version: str) -> None:
    """A ``name`` on PATH answering ``-V`` with ``version``, and any ``-c`` check (make's test of
    the version) with success only for a supported one."""
    supported = 0 if re.fullmatch(r"3\.1[123]\.\d+", version) else 1
    script = folder / name
    script.write_text(f'#!/bin/sh\n[ "$1" = -V ] && {{ echo "Python {version}"; exit 0; }}\nexit {supported}\n')
    script.chmod(0o755)


def make(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``make`` in the repository with only the fake Pythons of ``tmp_path/bin`` on PATH."""
    assert MAKE is not None
    env = {"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path)}
    command = [MAKE, "-C", str(ROOT), f"VENV={tmp_path / 'venv'}", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


@needs_make
@pytest.mark.parametrize(
    ("pythons", "taken"),
    [
        ({"python3": "3.10.13", "python3.12": "3.12.1"}, "python3.12"),  # beside an older python3
        # a supported python3 first, before a python3.13 beside it (the Python the machine calls python3)
        ({"python3": "3.11.9", "python3.13": "3.13.0"}, "python3"),
    ],
)
def test_make_takes_the_first_supported_python(tmp_path: Path, pythons: dict[str, str], taken: str) -> None:
    (tmp_path / "bin").mkdir()
    for name, version in pythons.items():
        fake_python(tmp_path / "bin", name, version)
    done = make(tmp_path, "-n", "venv")
    assert done.returncode == 0, done.stderr
    assert f"{taken} -m venv {tmp_path / 'venv'}" in done.stdout


@needs_make
def test_make_without_a_supported_python_says_which_it_needs(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    fake_python(tmp_path / "bin", "python3", "3.10.13")
    done = make(tmp_path, "venv")
    assert done.returncode != 0
    assert "hyperstep needs Python 3.11, 3.12 or 3.13: python3 is Python 3.10.13" in done.stderr
    assert not (tmp_path / "venv").exists()


def test_pip_and_make_accept_the_same_pythons() -> None:
    """pyproject's ``requires-python`` names the Pythons tested, and so does the Makefile's check."""
    required = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert [v for v in ("3.10", "3.11", "3.12", "3.13", "3.14") if v in required] == ["3.11", "3.12", "3.13"]
    check = re.search(r"^SUPPORTED := (.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert check is not None
    assert "(3, 11) <= sys.version_info[:2] <= (3, 13)" in check.group(1)
