"""One trial's step reports through the service path (``TuningService.report_metrics``,
step after step), SQLite store in a temp file: CPU seconds for the whole run and per
report over its last 500 steps, with early stopping off and with ASHA on.

    nice -n 19 .venv/bin/python -m benchmarks.curve_reports 1000 5000 10000

Record: benchmarks/results/curve_reports.md."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from hyperstep.backends.base import TrialBackend
from hyperstep.messages import LaunchRequest, TrialResult
from hyperstep.models import Job, Trial
from hyperstep.ports import Orchestrator
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study

ASHA = {"name": "asha", "min_resource": 1, "max_resource": 10_000, "reduction_factor": 3, "curve_model": False}
TAIL = 500


class Idle(TrialBackend):
    """A backend that launches nothing (the reports are what is timed)."""

    def launch(self, job: Job, trial: Trial) -> str:
        return f"ref-{trial.id}"

    def stop(self, job: Job, trial: Trial) -> None:
        raise AssertionError("a lone trial is never stopped")

    def describe(self, job: Job, trial: Trial) -> TrialResult | None:
        return None


class NoExecutions(Orchestrator):
    def start_execution(self, job_id: str, name: str) -> str:
        return f"exec-{name}"

    def send_task_success(self, token: str, output: dict) -> bool:
        return True


def spec(early_stopping: dict | None) -> dict:
    document = {
        "name": "curve-reports",
        "objective": {"metric": "loss", "goal": "minimize"},
        "parameters": [{"name": "x", "type": "float", "low": -1.0, "high": 1.0}],
        "strategy": {"name": "random", "seed": 1},
        "budget": {"max_trials": 1, "max_parallel": 1},
        "trial": {
            "backend": "local",
            "command": ["python", "train.py"],
            "metric_definitions": [{"name": "loss", "regex": r"^loss=([0-9.eE+-]+)"}],
            "timeout_seconds": 60,
        },
    }
    return document if early_stopping is None else {**document, "early_stopping": early_stopping}


def run(steps: int, early_stopping: dict | None, folder: Path) -> tuple[float, float]:
    """CPU seconds of all ``steps`` reports, and per report over the last ``TAIL``."""
    service = TuningService(
        SQLiteStore(folder / f"{steps}-{bool(early_stopping)}.db"), {"local": Idle()}, NoExecutions()
    )
    job = service.submit(parse_spec(spec(early_stopping)), job_id="job")
    (trial,) = Study.from_job(service.store, job).ask(1)
    service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    start = time.process_time()
    for step in range(1, steps + 1):
        if step == steps - TAIL + 1:
            tail = time.process_time()
        assert service.report_metrics(job.id, trial.id, {"loss": 1.0 / step}, step=step)
    end = time.process_time()
    assert len(service.store.get_trial(job.id, trial.id).curve) == steps
    return end - start, (end - tail) / TAIL


def main(argv: list[str]) -> None:
    counts = [int(a) for a in argv] or [1000, 5000, 10000]
    with tempfile.TemporaryDirectory() as folder:
        for name, block in (("off", None), ("asha", ASHA)):
            for steps in counts:
                total, per = run(steps, block, Path(folder))
                timing = f"cpu={total:7.2f} s  last {TAIL}: {per * 1e3:6.3f} ms/report"
                print(f"early_stopping={name:4} steps={steps:6} {timing}")
                sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
