"""Human-readable views of jobs and trials: progress line, tables, CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from hyperstep.completion import DRAINING
from hyperstep.models import Job, Trial, TrialState


def fmt(value: Any) -> str:
    """A compact rendering of a parameter or metric value."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def progress_line(job: Job, trials: Sequence[Trial], width: int = 24) -> str:
    """``[#####-----] 12/20 done · 2 running · best accuracy=0.97 (t0007)``."""
    total = job.spec.budget.max_trials or len(trials)
    done = sum(t.state in (TrialState.COMPLETED, TrialState.FAILED, TrialState.PRUNED) for t in trials)
    running = sum(t.state is TrialState.RUNNING for t in trials)
    filled = int(width * done / total) if total else 0
    bar = "#" * filled + "-" * (width - filled)
    best = "none yet"
    if job.best_value is not None:
        best = f"{job.spec.objective.metric}={fmt(job.best_value)} ({job.best_trial_id})"
    failed = sum(t.state is TrialState.FAILED for t in trials)
    failed_part = f" · {failed} failed" if failed else ""
    return f"[{bar}] {done}/{total} done · {running} running{failed_part} · best {best}"


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain left-aligned text table."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def trial_rows(job: Job, trials: Sequence[Trial]) -> tuple[list[str], list[list[str]]]:
    names = [p.name for p in job.spec.parameters]
    header = ["trial", "state", job.spec.objective.metric, *names, "seconds", "error"]
    rows = []
    for t in trials:
        seconds = t.ended_at - t.started_at if t.ended_at and t.started_at else None
        rows.append(
            [t.id, t.state.value, fmt(t.value), *(fmt(t.params.get(n)) for n in names), fmt(seconds), t.error or ""]
        )
    return header, rows


def trials_table(job: Job, trials: Sequence[Trial]) -> str:
    header, rows = trial_rows(job, trials)
    return table(rows, header)


def trials_csv(job: Job, trials: Sequence[Trial]) -> str:
    header, rows = trial_rows(job, trials)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def jobs_table(jobs: Sequence[Job]) -> str:
    rows = [
        [j.id, j.status.value, str(j.budget_used), str(j.completed), str(j.failed), fmt(j.best_value), _stop(j)]
        for j in jobs
    ]
    return table(rows, ["job", "status", "trials", "completed", "failed", "best", "stopped because"])


def _stop(job: Job) -> str:
    """The stop reason a job list shows: a finished job's, or a draining rule already
    recorded (a resumed job's earlier one is not shown)."""
    shown = job.stop_reason is not None and (job.status.finished or job.stop_reason in DRAINING)
    return job.stop_reason.value if shown and job.stop_reason is not None else ""


def job_summary(job: Job, best: Trial | None, trials: Sequence[Trial] | None = None) -> dict[str, Any]:
    """The one JSON object ``run --json`` and ``status JOB`` print; with the job's
    ``trials`` and early stopping on, what early stopping saved (``steps_saved``)."""
    summary = job.summary()
    summary["objective"] = job.spec.objective.model_dump()
    summary["best_params"] = best.params if best else None
    summary["error"] = job.error
    if job.parents:
        summary["warm_start"] = list(job.parents)
    if trials is not None and job.spec.early_stopping is not None and job.spec.early_stopping.name != "none":
        summary["early_stopping"] = steps_saved(job, trials)
    return summary


def steps_saved(job: Job, trials: Sequence[Trial]) -> dict[str, int]:
    """Steps the job's trials ran (each trial's highest reported step) and the steps its
    pruned trials would have run to ``max_resource`` had they not been stopped."""
    assert job.spec.early_stopping is not None
    top = job.spec.early_stopping.max_resource
    ran = sum(max(t.curve) for t in trials if t.curve)
    saved = sum(top - max(t.curve) for t in trials if t.state is TrialState.PRUNED and t.curve)
    pruned = sum(t.state is TrialState.PRUNED for t in trials)
    return {"pruned": pruned, "steps": ran, "steps_saved": saved}
