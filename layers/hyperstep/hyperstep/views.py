"""Human-readable views of jobs and trials: progress line, tables, CSV."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hyperstep.completion import DRAINING, deadline, stopped_by_job
from hyperstep.models import Job, JobStatus, StopReason, Trial, TrialState
from hyperstep.objectives import pareto_front
from hyperstep.spec import JobSpec


def fmt(value: Any) -> str:
    """A compact rendering of a parameter or metric value."""
    if isinstance(value, float):
        return f"{value + 0.0:.6g}"  # + 0.0: a printed -0 reads 0
    return "" if value is None else str(value)


def counted(count: int, noun: str) -> str:
    """``1 trial``, ``3 trials``: the count and its noun (one that takes an s), plural unless one."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def progress_line(job: Job, trials: Sequence[Trial], width: int = 24) -> str:
    """``[#####-----] 12/20 done · 2 running · best accuracy=0.97 (t0007)``."""
    total = job.spec.budget.max_trials or len(trials)
    done = sum(t.state in (TrialState.COMPLETED, TrialState.FAILED, TrialState.PRUNED) for t in trials)
    running = sum(t.state is TrialState.RUNNING for t in trials)
    filled = int(width * done / total) if total else 0
    bar = "#" * filled + "-" * (width - filled)
    best = "none yet"
    if job.spec.multi_objective:
        best = f"front of {len(front_of(job, trials))}" if done else best
    elif job.best_value is not None:
        best = f"{job.spec.primary.metric}={fmt(job.best_value)} ({job.best_trial_id})"
    failed = sum(t.state is TrialState.FAILED for t in trials)
    failed_part = f" · {failed} failed" if failed else ""
    limit = job.spec.budget.max_cost_usd
    spent = sum(t.cost_usd or 0.0 for t in trials)
    cost_part = f" · ${spent:.4g}" + ("" if limit is None else f" of ${limit:g}") if spent or limit else ""
    return f"[{bar}] {done}/{total} done · {running} running{failed_part}{cost_part} · best {best}"


def _cell(value: Any) -> str:
    """A table cell: a value with a line break or other control character (a categorical
    choice may hold one) escaped as ``repr`` does, so that it stays on its row."""
    text = str(value)
    return repr(text) if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text) else text


def _width(text: str) -> int:
    """The columns ``text`` takes in a terminal: two for a wide character (CJK, most emoji),
    none for a combining mark, one for the rest."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text
    )


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain left-aligned text table, one line per row, aligned as a terminal shows it."""
    cells = [[_cell(cell) for cell in row] for row in [header, *rows]]
    widths = [max(_width(cell) for cell in column) for column in zip(*cells)]
    lines = ["  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _seconds(trial: Trial) -> float | None:
    return trial.ended_at - trial.started_at if trial.ended_at and trial.started_at else None


def front_of(job: Job, trials: Sequence[Trial]) -> list[Trial]:
    """The job's Pareto front among ``trials`` (feasible, non-dominated)."""
    return pareto_front(job.spec, trials)


def objective_values(spec: JobSpec, trial: Trial) -> list[float | None]:
    """The trial's value of each of the spec's objectives, in order (None where it has none)."""
    values = (trial.values or []) if spec.multi_objective else [trial.value]
    return [*values, *[None] * (len(spec.goals) - len(values))]


def trial_rows(job: Job, trials: Sequence[Trial]) -> tuple[list[str], list[list[str]]]:
    """Columns: every objective, the constraints' metrics and, with several objectives or
    constraints, ``front`` (``*`` on the feasible non-dominated trials), then the params."""
    spec = job.spec
    names = [p.name for p in spec.parameters]
    limits = [c.metric for c in spec.constraints if c.metric not in {o.metric for o in spec.goals}]
    marked = spec.multi_objective or bool(spec.constraints)
    front = {t.id for t in front_of(job, trials)} if marked else set()
    header = ["trial", "state", *(o.metric for o in spec.goals), *limits, *(["front"] if marked else [])]
    header += [*names, "seconds", "cost $", "error"]
    rows = []
    for t in trials:
        row = [
            t.id,
            t.state.value,
            *(fmt(v) for v in objective_values(spec, t)),
            *(fmt(t.metrics.get(m)) for m in limits),
        ]
        row += ["*" if t.id in front else ""] if marked else []
        rows.append([*row, *(fmt(t.params.get(n)) for n in names), fmt(_seconds(t)), fmt(t.cost_usd), t.error or ""])
    return header, rows


def trials_table(job: Job, trials: Sequence[Trial]) -> str:
    header, rows = trial_rows(job, trials)
    text = table(rows, header)
    if job.cost_usd or job.spec.budget.max_cost_usd is not None:
        text += "\n" + cost_text(job.cost_usd, job.spec.budget.max_cost_usd, cost_basis(job.spec))
    return text


def cost_text(cost_usd: float, limit: float | None, basis: str) -> str:
    """``cost: $0.42 of $5 (list prices)``: what a job's ended trials cost, of its dollar budget,
    priced on ``basis`` (``cost_basis``)."""
    return f"cost: ${cost_usd:.4g}" + ("" if limit is None else f" of ${limit:g}") + f" ({basis})"


def cost_basis(spec: JobSpec) -> str:
    """What a job's trials are priced at: the trial block's own ``cost_per_hour`` (a local
    trial's always), else the list price table (``hyperstep.pricing``)."""
    own = spec.trial is not None and spec.trial.cost_per_hour is not None
    return "at trial.cost_per_hour" if own else "list prices"


def exact(value: Any) -> str:
    """A value as CSV keeps it: floats in full precision (``repr``: reads back to the same float)."""
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else str(value)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads a cell starting with as a formula (OWASP's "CSV Injection")."""


def text_cell(value: Any) -> str:
    """``exact``, with text a spreadsheet opening the CSV would run as a formula (a choice
    ``=1+1``, a script's last line in a trial's error) kept text by a leading ``'``; text
    that is a number (``-1``) stays as it is."""
    text = exact(value)
    if not isinstance(value, str) or not text.startswith(FORMULA_STARTS):
        return text
    try:
        float(text)
    except ValueError:
        return "'" + text
    return text


def iso(epoch: float | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


def trials_csv(job: Job, trials: Sequence[Trial]) -> str:
    """Every trial with its objectives (with several, each from the trial's ``values``,
    then ``front`` as the table marks it), its parameters and every other metric any trial
    reported, in full precision, its start and end (ISO 8601, UTC), duration, billable
    seconds and cost; its text that would start a formula (a choice, an error, a metric name
    a script reported), after a ``'`` (``text_cell``)."""
    spec = job.spec
    names = [p.name for p in spec.parameters]
    objectives = [o.metric for o in spec.goals]
    metrics = sorted({m for t in trials for m in t.metrics} - set(objectives))
    marked = spec.multi_objective or bool(spec.constraints)
    front = {t.id for t in front_of(job, trials)} if marked else set()
    header = ["trial", "state", *objectives, *(["front"] if marked else []), *names, *map(text_cell, metrics)]
    header += ["started_at", "ended_at", "seconds", "billable_seconds", "cost_usd", "error"]
    out = _Rows()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for t in trials:
        writer.writerow(
            [
                t.id,
                t.state.value,
                *(exact(v) for v in objective_values(spec, t)),
                *(["*" if t.id in front else ""] if marked else []),
                *(text_cell(t.params.get(n)) for n in names),
                *(exact(t.metrics.get(m)) for m in metrics),
                iso(t.started_at),
                iso(t.ended_at),
                exact(_seconds(t)),
                exact(t.billable_seconds),
                exact(t.cost_usd),
                text_cell(t.error),
            ]
        )
    return out.getvalue()


class _Rows(io.StringIO):
    """A CSV's rows, each ended by a newline. The writer ends them ``\r\n`` so that a field
    holding a carriage return is quoted (before Python 3.13 it quotes only its line end's
    characters): left bare, a spreadsheet starts a new row at it, the text after it a cell
    of its own (``text_cell`` never saw it first)."""

    def write(self, row: str) -> int:
        return super().write(row.removesuffix("\r\n") + "\n")


def job_row(job: Job) -> dict[str, Any]:
    """A job as a listing shows it: its summary and its dollar budget (the fields ``GET /jobs``
    answers, so that a local and a deployed listing print alike)."""
    return {**job.summary(), "max_cost_usd": job.spec.budget.max_cost_usd}


def jobs_table(jobs: Sequence[Mapping[str, Any]]) -> str:
    """Jobs (``job_row``'s, or ``GET /jobs``'s), one a line."""
    rows = [
        [
            j["job_id"],
            j["status"],
            str(j["trials"]),
            str(j["completed"]),
            str(j["failed"]),
            fmt(j["best_value"]),
            fmt(j["cost_usd"]) if j["cost_usd"] or j["max_cost_usd"] is not None else "",  # unpriced is not free
            _stop(j),
        ]
        for j in jobs
    ]
    return table(rows, ["job", "status", "trials", "completed", "failed", "best", "cost $", "stopped because"])


def _stop(job: Mapping[str, Any]) -> str:
    """The stop reason a job list shows: a finished job's, or a draining rule already
    recorded (a resumed job's earlier one is not shown)."""
    reason = job["stop_reason"]
    shown = reason is not None and (JobStatus(job["status"]).finished or StopReason(reason) in DRAINING)
    return reason if shown else ""


def job_summary(job: Job, best: Trial | None, trials: Sequence[Trial] | None = None) -> dict[str, Any]:
    """The one JSON object ``run --json`` and ``status JOB`` print; with the job's
    ``trials`` and early stopping on, what early stopping saved (``steps_saved``)."""
    summary = job.summary()
    if job.spec.multi_objective:
        summary["objectives"] = [o.model_dump() for o in job.spec.goals]
    else:
        summary["objective"] = job.spec.primary.model_dump()
    if job.spec.constraints:
        summary["constraints"] = [c.model_dump(exclude_none=True) for c in job.spec.constraints]
    summary["best_params"] = best.params if best else None
    summary["error"] = job.error
    summary["max_cost_usd"] = job.spec.budget.max_cost_usd
    if job.spec.multi_objective and trials is not None:
        summary["pareto_front"] = [
            {"trial_id": t.id, "values": t.values, "params": t.params} for t in front_of(job, trials)
        ]
    if job.parents:
        summary["warm_start"] = list(job.parents)
    if trials is not None and job.spec.early_stopping is not None and job.spec.early_stopping.name != "none":
        summary["early_stopping"] = steps_saved(job, trials)
    return summary


def saved_text(saved: dict[str, int]) -> str:
    """What ``steps_saved`` counted, in words: ``7 trials stopped early, 208 steps run, 116
    steps saved (36%)`` (the share of the steps the trials would have run without it)."""
    spent = saved["steps"] + saved["steps_saved"]
    share = f" ({100 * saved['steps_saved'] / spent:.0f}%)" if spent else ""
    return (
        f"{counted(saved['pruned'], 'trial')} stopped early, {counted(saved['steps'], 'step')} run, "
        f"{counted(saved['steps_saved'], 'step')} saved{share}"
    )


def steps_saved(job: Job, trials: Sequence[Trial]) -> dict[str, int]:
    """Steps the job's trials ran (each trial's highest reported step) and the steps its
    pruned trials would have run had they not been stopped: to the furthest step a completed
    trial reached (a script that ends at epoch 27 under a ``max_resource`` of 100; one of 27
    under a ``max_resource`` of 9 runs on past it, as a pruned one would have), to
    ``max_resource`` while none has completed. A pruned trial whose script ran to its end
    before the stop landed (its final objective came: its platform's completed end, or its
    script's final ``hyperstep.report``; its late steps may never come) saved nothing. A
    trial the job's own rule stopped (``completion.stopped_by_job``: its ``target``, its
    deadline, its ``max_failed_trials``, its end), pruned as any "stopped" end with a curve
    while the job runs, was not stopped early: it counts in neither; nor does one pruned at
    or after the job's deadline (``max_runtime_seconds``) that was recorded before the job
    said why it stopped its trials."""
    assert job.spec.early_stopping is not None
    top = job.spec.early_stopping.max_resource
    ends = [max(t.curve) for t in trials if t.state is TrialState.COMPLETED and t.curve]
    full = max(ends) if ends else top
    ran = sum(max(t.curve) for t in trials if t.curve)
    end = deadline(job)
    pruned = [t for t in trials if t.state is TrialState.PRUNED and not stopped_by_job(t)]
    early = [t for t in pruned if end is None or (t.ended_at or 0.0) < end]
    cut = [t for t in early if t.curve and not ran_to_end(job, t)]
    saved = sum(max(0, full - max(t.curve)) for t in cut)
    return {"pruned": len(early), "steps": ran, "steps_saved": saved}


def ran_to_end(job: Job, trial: Trial) -> bool:
    """Whether the trial's script reported its final objective (it ran to its end)."""
    return job.spec.primary.metric in trial.final_reports()
