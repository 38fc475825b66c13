"""The console script's entry (``hyperstep.__main__``): Ctrl-C while the command line is still
loading ends it with exit code 130 and one line, as Ctrl-C does once it has loaded."""

from __future__ import annotations

import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CTRL_C_AT_FIRST_HEAVY_IMPORT = """
import os, signal, sys

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {"numpy", "scipy", "pydantic", "yaml", "boto3", "botocore"}:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)  # the user's Ctrl-C, as the first of them loads
        return None

sys.meta_path.insert(0, CtrlC())
"""


def console_script() -> str:
    """What pip's ``hyperstep`` script runs, from pyproject's ``[project.scripts]`` (the one
    installed in a virtualenv is as old as its install)."""
    target = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["hyperstep"]
    module, _, function = target.partition(":")
    return f"import sys\nfrom {module} import {function}\nsys.exit({function}())\n"


RUN_AS_MODULE = "import runpy\nrunpy.run_module('hyperstep', run_name='__main__', alter_sys=True)\n"


def run(code: str, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter, Ctrl-C at its default (pytest started in the background,
    ``&`` in a script or CI, passes SIGINT on ignored: the entry then rightly leaves it so)."""
    options.setdefault("preexec_fn", lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    command = [sys.executable, "-c", code, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT, **options)  # type: ignore[call-overload]


@pytest.mark.parametrize("entry", [console_script(), RUN_AS_MODULE], ids=["console script", "python -m hyperstep"])
def test_ctrl_c_while_the_command_line_loads_exits_130_with_one_line(entry: str) -> None:
    """On 3b475b5 the script's ``from hyperstep.cli import main`` loaded everything before any
    handler: a KeyboardInterrupt traceback (and no ``python -m hyperstep``)."""
    done = run(CTRL_C_AT_FIRST_HEAVY_IMPORT + entry, "--version")
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "hyperstep: interrupted\n")


CTRL_C_AS_THE_PARSER_IS_BUILT = """
import os, signal
import hyperstep.cli

built = hyperstep.cli.parser

def parser():
    os.kill(os.getpid(), signal.SIGINT)  # the user's Ctrl-C, after the imports, before cli.main's try
    return built()

hyperstep.cli.parser = parser
"""


def test_ctrl_c_once_loaded_but_before_the_command_runs_exits_130_with_one_line() -> None:
    done = run(CTRL_C_AS_THE_PARSER_IS_BUILT + console_script(), "--version")
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "hyperstep: interrupted\n")


CTRL_C_WHILE_THE_COMMAND_RUNS = """
import os, signal, time
import hyperstep.cli

def main():
    try:
        os.kill(os.getpid(), signal.SIGINT)  # the user's Ctrl-C during a run
        time.sleep(30)
    except KeyboardInterrupt:
        print("the command's own handling")  # run's: the job stopped, its summary, the resume hint
        return 130
    return 0

hyperstep.cli.main = main
"""


def test_ctrl_c_once_the_command_runs_is_the_command_s_to_handle() -> None:
    """The entry's loading handler ends the process at once: left installed, Ctrl-C during a
    run would skip run's stop, summary and resume hint."""
    done = run(CTRL_C_WHILE_THE_COMMAND_RUNS + console_script())
    assert (done.returncode, done.stdout, done.stderr) == (130, "the command's own handling\n", "")


def test_python_m_hyperstep_runs_the_command_line() -> None:
    done = run(RUN_AS_MODULE, "--version")
    assert (done.returncode, done.stdout) == (0, "hyperstep 0.1.0\n")


def test_ctrl_c_ignored_by_a_background_start_stays_ignored_while_loading() -> None:
    """``nohup hyperstep run ... &`` from a script: SIGINT is ignored, and the entry leaves it so."""
    ignored = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731
    done = run(CTRL_C_AT_FIRST_HEAVY_IMPORT + console_script(), "--version", preexec_fn=ignored)
    assert (done.returncode, done.stdout) == (0, "hyperstep 0.1.0\n")


def test_import_hyperstep_loads_none_of_the_heavy_libraries() -> None:
    """What makes the entry's handler come first: the package's names load when first used."""
    done = run("import sys, hyperstep\nprint(sorted({'numpy', 'scipy', 'pydantic', 'boto3'} & set(sys.modules)))")
    assert done.stdout == "[]\n"
    assert run("import hyperstep\nprint(hyperstep.Study.__name__, hyperstep.load_spec.__module__)").stdout == (
        "Study hyperstep.spec\n"
    )


def test_import_hyperstep_still_reaches_its_modules_as_attributes() -> None:
    """A module doing ``import hyperstep`` and spelling out ``hyperstep.models.TrialState``
    raised AttributeError once the package loaded its names lazily (its eager imports had
    loaded those modules before)."""
    names = "hyperstep.models.TrialState.__name__, hyperstep.errors.SpecError.__name__, hyperstep.study.Study.__name__"
    assert run(f"import hyperstep\nprint({names})").stdout == "TrialState SpecError Study\n"
    missing = run("import hyperstep\nhyperstep.no_such_module")
    assert "AttributeError: module 'hyperstep' has no attribute 'no_such_module'" in missing.stderr
