"""The report's figures, drawn with matplotlib's object API (no pyplot, no display: the
Agg canvas renders straight to PNG bytes).

Each function takes the report's data and returns a ``Plot``, or None when there is
nothing to draw yet (no completed trial, no intermediate values).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from hyperstep.job_report import analysis
from hyperstep.job_report.data import ReportData
from hyperstep.models import TrialState
from hyperstep.space import CategoricalParameter, Parameter

DPI = 100
BEST = "#d62728"
FAILED = "#7f7f7f"


@dataclass(frozen=True)
class Plot:
    key: str
    """File stem of the PNG and id of the figure in the page."""
    title: str
    caption: str
    png: bytes


def render(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def best_vs_trials(data: ReportData) -> Plot | None:
    done = analysis.completed(data.trials)
    if not done:
        return None
    job, metric = data.job, data.job.spec.primary.metric
    figure = Figure(figsize=(7, 3.6))
    ax = figure.add_subplot()
    numbers = [t.number for t in done]
    ax.scatter(numbers, [t.value for t in done], s=18, color="#1f77b4", alpha=0.7, label="trial")
    best = analysis.best_so_far([t.value for t in done], job.minimize)
    ax.step(numbers, best, where="post", color=BEST, label="best so far")
    failed = [t.number for t in data.trials if t.state is TrialState.FAILED]
    if failed:
        ax.plot(failed, [ax.get_ylim()[0]] * len(failed), "x", color=FAILED, label="failed", clip_on=False)
    ax.set(xlabel="trial number", ylabel=metric)
    ax.legend(loc="best", fontsize="small")
    caption = f"Each completed trial's {metric}; the line is the best so far ({job.spec.primary.goal})."
    return Plot("best_vs_trials", "Best so far, by trial", caption, render(figure))


def best_vs_time(data: ReportData) -> Plot | None:
    done = sorted((t for t in analysis.completed(data.trials) if t.ended_at), key=lambda t: t.ended_at or 0.0)
    if not done:
        return None
    job, metric = data.job, data.job.spec.primary.metric
    elapsed = np.array([(t.ended_at or 0.0) - job.created_at for t in done])
    divisor, unit = analysis.elapsed_unit(float(elapsed.max()))
    figure = Figure(figsize=(7, 3.6))
    ax = figure.add_subplot()
    ax.scatter(elapsed / divisor, [t.value for t in done], s=18, color="#1f77b4", alpha=0.7, label="trial ends")
    best = analysis.best_so_far([t.value for t in done], job.minimize)
    ax.step(elapsed / divisor, best, where="post", color=BEST, label="best so far")
    ax.set(xlabel=f"{unit} since the job started", ylabel=metric)
    ax.legend(loc="best", fontsize="small")
    caption = f"{metric} of each trial when it ended, and the best so far, against wall-clock time."
    return Plot("best_vs_time", "Best so far, over time", caption, render(figure))


def best_vs_cost(data: ReportData) -> Plot | None:
    """The best so far against dollars spent: every ended trial's cost counts (a failed
    trial cost money too), in the order trials ended; None when no trial has a cost."""
    ended = sorted((t for t in data.trials if t.ended_at and t.cost_usd is not None), key=lambda t: t.ended_at or 0.0)
    if not any(t.cost_usd for t in ended):
        return None
    job, metric = data.job, data.job.spec.primary.metric
    spent = np.cumsum([t.cost_usd or 0.0 for t in ended])
    done = [(dollars, t.value) for dollars, t in zip(spent, ended) if t.state is TrialState.COMPLETED]
    if not done:
        return None
    figure = Figure(figsize=(7, 3.6))
    ax = figure.add_subplot()
    xs, values = [d for d, _ in done], [v for _, v in done]
    ax.scatter(xs, values, s=18, color="#1f77b4", alpha=0.7, label="trial ends")
    ax.step(xs, analysis.best_so_far(values, job.minimize), where="post", color=BEST, label="best so far")
    ax.set(xlabel="dollars spent (list prices)", ylabel=metric)
    ax.legend(loc="best", fontsize="small")
    caption = f"{metric} of each trial when it ended, and the best so far, against what the trials had cost by then."
    return Plot("best_vs_cost", "Best so far, by cost", caption, render(figure))


def parallel_coordinates(data: ReportData) -> Plot | None:
    done = analysis.completed(data.trials)
    params = analysis.varying(data.job.spec.space)
    if not done or not params:
        return None
    job, metric = data.job, data.job.spec.primary.metric
    values = np.array([t.value for t in done], dtype=float)
    order = np.argsort(-values if job.minimize else values)  # the best drawn last, on top
    span = float(np.ptp(values)) or 1.0
    figure = Figure(figsize=(max(6.0, 1.5 * len(params) + 2), 4.2))
    ax = figure.add_subplot()
    colormap = _colormap(job.minimize)
    xs = np.arange(len(params))
    for i in order:
        trial = done[i]
        ys = [analysis.position(p, trial.params[p.name]) if p.name in trial.params else np.nan for p in params]
        best = trial.id == job.best_trial_id
        color = BEST if best else colormap((values[i] - values.min()) / span)
        ax.plot(xs, ys, color=color, alpha=1.0 if best else 0.55, linewidth=2.4 if best else 1.0)
    for x, param in zip(xs, params):
        ax.axvline(x, color="#444444", linewidth=0.8)
        for y, label in _axis_labels(param):
            ax.annotate(label, (x, y), xytext=(4, 0), textcoords="offset points", fontsize="x-small", va="center")
    ax.set_xticks(xs, [p.name for p in params], rotation=20)
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(params) - 0.6)
    _colorbar(figure, ax, colormap, values, metric)
    caption = f"One line per completed trial through its parameter values, colored by {metric}; the best in red."
    return Plot("parallel_coordinates", "Parallel coordinates", caption, render(figure))


def slices(data: ReportData) -> Plot | None:
    done = analysis.completed(data.trials)
    params = analysis.varying(data.job.spec.space)
    if not done or not params:
        return None
    job, metric = data.job, data.job.spec.primary.metric
    columns = min(3, len(params))
    rows = math.ceil(len(params) / columns)
    figure = Figure(figsize=(4.2 * columns, 3.2 * rows))
    rng = np.random.default_rng(0)
    for k, param in enumerate(params):
        ax = figure.add_subplot(rows, columns, k + 1)
        active = [t for t in done if param.name in t.params]  # a conditional parameter: where it was set
        ys = [t.value for t in active]
        if isinstance(param, CategoricalParameter):
            xs = [param.index(t.params[param.name]) + rng.uniform(-0.15, 0.15) for t in active]
            ax.set_xticks(range(len(param.choices)), [str(c) for c in param.choices])
        else:
            xs = [t.params[param.name] for t in active]
            if param.scale == "log":
                ax.set_xscale("log")
        ax.scatter(xs, ys, s=16, alpha=0.7, color="#1f77b4")
        best = [i for i, t in enumerate(active) if t.id == job.best_trial_id]
        if best:
            ax.scatter([xs[best[0]]], [ys[best[0]]], s=60, color=BEST, marker="*", zorder=3)
        ax.set(xlabel=param.name, ylabel=metric if k % columns == 0 else None)
    figure.tight_layout()
    caption = f"{metric} against each parameter alone (a slice of the search); the star is the best trial."
    return Plot("slices", "Each parameter's effect", caption, render(figure))


def importance(data: ReportData) -> Plot | None:
    shares = analysis.importance(data.job, data.trials)
    if not shares:
        return None
    names = sorted(shares, key=shares.get)
    figure = Figure(figsize=(6.5, 0.45 * len(names) + 1.4))
    ax = figure.add_subplot()
    ax.barh(names, [shares[n] for n in names], color="#2ca02c")
    for y, name in enumerate(names):
        ax.annotate(f"{shares[name]:.0%}", (shares[name], y), xytext=(3, 0), textcoords="offset points", va="center")
    ax.set(xlabel="share of the objective's variance explained alone", xlim=(0, min(1.0, max(shares.values()) * 1.25)))
    caption = (
        "First-order importance: how much of the objective's variation each parameter explains by itself, "
        "from a Gaussian process fitted to the completed trials (fANOVA's main effects). The rest comes "
        "from interactions and noise."
    )
    return Plot("importance", "Parameter importance", caption, render(figure))


def learning_curves(data: ReportData) -> Plot | None:
    curves = {trial: values for trial, values in data.curves.items() if len(values) > 1}
    if not curves:
        return None
    metric = data.job.spec.primary.metric
    figure = Figure(figsize=(7, 3.6))
    ax = figure.add_subplot()
    for trial, values in sorted(curves.items()):
        best = trial == data.job.best_trial_id
        ax.plot(range(1, len(values) + 1), values, color=BEST if best else "#1f77b4", alpha=1.0 if best else 0.35)
    ax.set(xlabel="report (step) within the trial", ylabel=metric)
    caption = f"Every {metric} value each trial printed, in order; the best trial in red."
    return Plot("learning_curves", "Learning curves", caption, render(figure))


def _colormap(minimize: bool) -> Callable:
    from matplotlib import colormaps

    return colormaps["viridis_r" if minimize else "viridis"]


def _colorbar(figure: Figure, ax: object, colormap: Callable, values: np.ndarray, label: str) -> None:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    mappable = ScalarMappable(norm=Normalize(float(values.min()), float(values.max())), cmap=colormap)
    figure.colorbar(mappable, ax=ax, label=label, pad=0.08)


def _axis_labels(param: Parameter) -> list[tuple[float, str]]:
    if isinstance(param, CategoricalParameter):
        return [(analysis.position(param, c), str(c)) for c in param.choices]
    return [(analysis.position(param, bound), f"{bound:g}") for bound in (param.low, param.high)]


ALL = (best_vs_trials, best_vs_time, best_vs_cost, parallel_coordinates, slices, importance, learning_curves)
