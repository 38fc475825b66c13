"""The report as one self-contained HTML page.

Every plot is inlined as a ``data:`` PNG, the style sheet is inline, and the page's
Content-Security-Policy forbids every fetch (``default-src 'none'``; images only from
``data:``), so opening the file never touches the network; the style sheet and the one
inline script are allowed by their hashes alone (no other style or script applies). The
script marks each figure once the page has loaded: ``data-drawn="WxH"`` when its image
decoded, ``"no"`` (and a visible note) when it did not.
"""

from __future__ import annotations

import base64
import hashlib
import html
import time
from collections.abc import Sequence
from typing import Any

from hyperstep import early_stopping
from hyperstep.job_report import analysis
from hyperstep.job_report.data import ReportData
from hyperstep.job_report.plots import Plot, highlighted
from hyperstep.models import Trial
from hyperstep.spec import Constraint, JobSpec
from hyperstep.views import counted, fmt, objective_values, saved_text, steps_saved

CHECK_SCRIPT = """
window.addEventListener("load", function () {
  document.querySelectorAll("figure img").forEach(function (img) {
    var drawn = img.complete && img.naturalWidth > 0;
    img.closest("figure").setAttribute("data-drawn", drawn ? img.naturalWidth + "x" + img.naturalHeight : "no");
    if (!drawn) { img.insertAdjacentText("afterend", "(this plot did not render)"); }
  });
  document.body.setAttribute("data-loaded", "yes");
});
"""

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.meta { color: #555; } dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dt { font-weight: 600; } figure { margin: 1rem 0 2rem; } figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: .9rem; } table { border-collapse: collapse; font-size: .85rem; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; position: sticky; top: 0; } .failed td { background: #fff0f0; }
.best td { background: #f0fff0; font-weight: 600; } .error { font-family: monospace; white-space: pre-wrap; }
.empty { color: #777; font-style: italic; }
dd, td.long { overflow-wrap: anywhere; } td.long { min-width: 16ch; }
"""

LONG = 32
"""A table cell longer than this may break anywhere (a 300-character choice ran the table off
the page); shorter ones keep their words whole."""


def csp() -> str:
    """No fetch; the page's own style sheet and script alone, each allowed by its hash."""
    return f"default-src 'none'; img-src data:; style-src {_hash(STYLE)}; script-src {_hash(CHECK_SCRIPT)}"


def _hash(block: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode() + "'"


def page(data: ReportData, plots: Sequence[Plot], missing: Sequence[str]) -> str:
    """The whole HTML document; ``missing`` names the plots there is nothing for yet."""
    job = data.job
    title = f"hyperstep report: {job.spec.name} ({job.id})"
    figures = "\n".join(_figure(p) for p in plots)
    not_yet = "".join(f'<p class="empty">{html.escape(m)}</p>' for m in missing)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp()}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
<script>{CHECK_SCRIPT}</script>
</head>
<body>
<h1>{html.escape(job.spec.name)}</h1>
<p class="meta">job {html.escape(job.id)} · generated {time.strftime("%Y-%m-%d %H:%M:%S %Z")} by hyperstep report</p>
{_summary(data)}
<h2>Plots</h2>
{figures}
{not_yet}
<h2>Trials</h2>
{_table(data)}
</body>
</html>
"""


def _figure(plot: Plot) -> str:
    source = "data:image/png;base64," + base64.b64encode(plot.png).decode()
    return (
        f'<figure id="{plot.key}"><h3>{html.escape(plot.title)}</h3>'
        f'<img src="{source}" alt="{html.escape(plot.title)}">'
        f"<figcaption>{html.escape(plot.caption)}</figcaption></figure>"
    )


def _summary(data: ReportData) -> str:
    job, trials = data.job, data.trials
    objective = job.spec.primary
    goals = ", ".join(f"{o.goal} {o.metric}" for o in job.spec.goals)
    rows: list[tuple[str, Any]] = [
        ("status", job.status.value + (f": {job.error}" if job.error else "")),
        ("objectives" if job.spec.multi_objective else "objective", goals),
        ("strategy", job.spec.strategy.name),
        ("trials", f"{len(trials)} of {job.spec.budget.max_trials or 'no limit'}: {job.completed} completed"),
        ("failed", str(job.failed)),
    ]
    if job.parents:
        rows.append(("warm-started from", ", ".join(job.parents)))
    if early_stopping.enabled(job.spec):
        rows.append(("early stopping", saved_text(steps_saved(job, trials))))
    if job.stop_reason is not None and job.status.finished:
        rows.append(("stopped because", f"{job.stop_detail or ''} ({job.stop_reason.value})"))
    ended = job.ended_at or max((t.ended_at or 0.0 for t in trials), default=0.0)
    if ended > job.created_at:
        rows.append(("duration", _seconds(ended - job.created_at)))
    if job.cost_usd or job.spec.budget.max_cost_usd is not None:
        limit = job.spec.budget.max_cost_usd
        rows.append(("cost", f"${job.cost_usd:.4g}" + (f" of ${limit:g}" if limit is not None else "")))
    if job.spec.constraints:
        rows.append(("constraints", ", ".join(_limit(c) for c in job.spec.constraints)))
    found = analysis.front(job, trials)
    if found is not None:
        ids = [t.id for t, on in zip(found.trials, found.on_front) if on]
        rows.append(
            ("Pareto front", f"{counted(len(ids), 'trial')}: {', '.join(ids)}" if ids else "no feasible trial yet")
        )
    best = next((t for t in trials if t.id == job.best_trial_id), None)
    if best is not None:
        rows.append(("best trial", f"{best.id}: {objective.metric} = {fmt(best.value)}"))
        rows.append(("best parameters", ", ".join(f"{name} = {fmt(value)}" for name, value in best.params.items())))
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in rows)
    return f"<dl>{items}</dl>"


def _limit(constraint: Constraint) -> str:
    bounds = [f"{constraint.min:g} <=" if constraint.min is not None else "", constraint.metric]
    bounds.append(f"<= {constraint.max:g}" if constraint.max is not None else "")
    return " ".join(b for b in bounds if b)


def _table(data: ReportData) -> str:
    job = data.job
    names = [p.name for p in job.spec.parameters]
    objectives = [o.metric for o in job.spec.goals]
    metrics = sorted({m for t in data.trials for m in t.metrics} - set(objectives))
    header = [
        "trial",
        "state",
        *objectives,
        *names,
        *metrics,
        "started",
        "seconds",
        "cost $",
        "failure reason",
    ]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    marked = highlighted(data)
    rows = (_row(job.spec, t, marked, names, metrics) for t in sorted(data.trials, key=lambda t: t.number))
    body = "".join(rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _row(spec: JobSpec, trial: Trial, marked: set[str], names: list[str], metrics: list[str]) -> str:
    seconds = trial.ended_at - trial.started_at if trial.ended_at and trial.started_at else None
    started = time.strftime("%H:%M:%S", time.localtime(trial.started_at)) if trial.started_at else ""
    cells = [
        trial.id,
        trial.state.value,
        *(fmt(v) for v in objective_values(spec, trial)),
        *(fmt(trial.params.get(n)) for n in names),
        *(fmt(trial.metrics.get(m)) for m in metrics),
        started,
        f"{seconds:.1f}" if seconds is not None else "",
        fmt(trial.cost_usd),
    ]
    kind = "best" if trial.id in marked else "failed" if trial.state.value == "failed" else ""
    tds = "".join(
        f'<td class="long">{html.escape(c)}</td>' if len(c) > LONG else f"<td>{html.escape(c)}</td>" for c in cells
    )
    error = f'<td class="error">{html.escape(trial.error or "")}</td>'
    return f'<tr class="{kind}">{tds}{error}</tr>'


def _seconds(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
