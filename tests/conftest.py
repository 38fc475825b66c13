"""Shared fixtures: specs, a tiny training script, a settable clock, fake AWS credentials."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

# A handler module's Powertools Metrics reads its namespace when it loads (the template sets
# it on every function); set here, before any test module imports a handler, in any order.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "hyperstep-tests")

# pytest started with Ctrl-C ignored (``( ... & )`` in a script: a shell without job control
# starts its background commands so) passes SIG_IGN on to every command a test runs, and the
# tests that send a run SIGINT would wait for a run that rightly ignores it (``nohup``). A
# handler, unlike SIG_IGN, is not inherited: the commands start with Ctrl-C at its default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

TRAIN_SCRIPT = textwrap.dedent(
    """
    import argparse, json, os, sys, time
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float)
    p.add_argument("--n", type=int)
    p.add_argument("--kind")
    a = p.parse_args()
    hps = json.load(open(os.path.join(os.environ["HYPERSTEP_TRIAL_DIR"], "hyperparameters.json")))
    assert hps["x"] == a.x and hps["n"] == a.n and hps["kind"] == a.kind
    if a.kind == "crash":
        sys.exit("boom")
    time.sleep(float(os.environ.get("TRAIN_SLEEP", "0")))
    loss = (a.x - 0.3) ** 2 + 0.01 * a.n
    print(f"step=1 loss={loss + 1:.6f}")
    print(f"loss={loss:.6f}")
    """
)


def spec_document(**overrides: Any) -> dict[str, Any]:
    """A valid spec document for the tiny training script; override top-level keys."""
    document: dict[str, Any] = {
        "name": "tiny",
        "objective": {"metric": "loss", "goal": "minimize"},
        "parameters": [
            {"name": "x", "type": "float", "low": -1.0, "high": 1.0},
            {"name": "n", "type": "int", "low": 1, "high": 4},
            {"name": "kind", "type": "categorical", "choices": ["a", "b"]},
        ],
        "strategy": {"name": "random", "seed": 1},
        "budget": {"max_trials": 6, "max_parallel": 2},
        "trial": {
            "backend": "local",
            "command": ["python", "train.py"],
            "metric_definitions": [{"name": "loss", "regex": r"^loss=([0-9.eE+-]+)"}],
            "timeout_seconds": 60,
        },
    }
    document.update(overrides)
    return document


def alive(pid: str) -> bool:
    """Whether the process runs (a zombie, ended but not yet reaped, does not); Linux's /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory holding the tiny training script."""
    (tmp_path / "train.py").write_text(TRAIN_SCRIPT)
    return tmp_path


class Clock:
    """A clock a test sets or moves forward; it starts at ``now``, else at the wall clock's time."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def conditioned(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The points every ``GaussianProcess.condition`` of the test is given (its fantasies), in
    call order."""
    from hyperstep.strategies.gp import GaussianProcess

    calls: list[Any] = []
    condition = GaussianProcess.condition

    def spy(self: GaussianProcess, X_new: Any, y_new: Any) -> GaussianProcess:
        calls.append(X_new)
        return condition(self, X_new, y_new)

    monkeypatch.setattr(GaussianProcess, "condition", spy)
    return calls


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials in us-east-1 and no profile, for boto3 clients on moto or a Stubber
    (nothing may reach a real account)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
