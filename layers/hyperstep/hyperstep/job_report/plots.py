"""The report's figures, drawn with matplotlib's object API (no pyplot, no display: the
Agg canvas renders straight to PNG bytes).

Each function takes the report's data and returns a ``Plot``, or None when there is
nothing to draw yet (no completed trial, no intermediate values).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from hyperstep.job_report import analysis
from hyperstep.job_report.data import ReportData
from hyperstep.models import Trial, TrialState
from hyperstep.space import CategoricalParameter, IntParameter, Parameter

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


LABEL_CHARS = 24
"""The longest parameter name or choice a plot writes out (a longer one ends in "…"): a
64-character name or a long choice ran across the next axis and over the color bar."""


CROWDED_CHARS = 36
"""The most characters a slice's choices may hold in all and still be written side by side
(each is cut to its share; with so many that a share would be under ``MIN_CHARS``, they stand up)."""
MIN_CHARS = 5


def short(text: str, limit: int = LABEL_CHARS) -> str:
    """``text`` as a plot labels it: at most ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


@dataclass(frozen=True)
class Progress:
    """What the three best-so-far plots draw against their x axis: with one objective, each
    completed trial's value and the best feasible so far; with several, the hypervolume of
    the feasible front so far (a value per trial would show one objective of several)."""

    label: str
    values: np.ndarray | None
    feasible: np.ndarray
    line: np.ndarray
    line_label: str


def progress(data: ReportData, done: list[Trial]) -> Progress:
    """``Progress`` over ``done`` (completed trials, in the plot's order)."""
    job = data.job
    feasible = np.array([job.spec.feasible(t.metrics) for t in done], dtype=bool)
    found = analysis.front(job, data.trials)
    if found is not None:
        rows = {t.id: row for t, row in zip(found.trials, found.minimized)}
        kept = [i for i, t in enumerate(done) if t.id in rows]
        minimized = np.full((len(done), len(job.spec.goals)), np.nan)
        minimized[kept] = [rows[done[i].id] for i in kept]
        ok = feasible & np.isin(np.arange(len(done)), kept)
        volumes = analysis.hypervolume_so_far(np.nan_to_num(minimized), ok, found.reference)
        return Progress("hypervolume of the front", None, feasible, volumes, "hypervolume so far")
    values = np.array([t.value for t in done], dtype=float)
    line = analysis.best_feasible_so_far(values, feasible, job.minimize)
    return Progress(job.spec.primary.metric, values, feasible, line, "best so far")


def _draw_progress(ax: Axes, xs: Sequence[float], shown: Progress) -> None:
    if shown.values is not None:
        xs_ = np.asarray(xs, dtype=float)
        ok = shown.feasible
        ax.scatter(xs_[ok], shown.values[ok], s=18, color="#1f77b4", alpha=0.7, label="trial")
        if not ok.all():
            ax.scatter(xs_[~ok], shown.values[~ok], s=22, color=FAILED, marker="x", label="infeasible (constraints)")
    ax.step(xs, shown.line, where="post", color=BEST, label=shown.line_label)


def _subject(data: ReportData) -> str:
    spec = data.job.spec
    if spec.multi_objective:
        goals = ", ".join(f"{o.goal} {o.metric}" for o in spec.goals)
        return f"the hypervolume of the feasible Pareto front ({goals})"
    return f"{spec.primary.metric}"


def best_vs_trials(data: ReportData) -> Plot | None:
    done = analysis.completed(data.trials)
    if not done:
        return None
    figure = Figure(figsize=(7, 3.6))
    ax = figure.add_subplot()
    numbers = [t.number for t in done]
    shown = progress(data, done)
    _draw_progress(ax, numbers, shown)
    failed = [t.number for t in data.trials if t.state is TrialState.FAILED]
    if failed:
        ax.plot(failed, [ax.get_ylim()[0]] * len(failed), "x", color=FAILED, label="failed", clip_on=False)
    ax.set(xlabel="trial number", ylabel=shown.label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.legend(loc="best", fontsize="small")
    if data.job.spec.multi_objective:
        caption = f"After each completed trial, {_subject(data)}: it grows when a trial extends the front."
        return Plot("best_vs_trials", "Hypervolume so far, by trial", caption, render(figure))
    caption = f"Each completed trial's {_subject(data)}; the line is the best so far ({data.job.spec.primary.goal})."
    return Plot("best_vs_trials", "Best so far, by trial", caption, render(figure))


def best_vs_time(data: ReportData) -> Plot | None:
    done = sorted((t for t in analysis.completed(data.trials) if t.ended_at), key=lambda t: t.ended_at or 0.0)
    if not done:
        return None
    job = data.job
    elapsed = np.array([(t.ended_at or 0.0) - job.created_at for t in done])
    divisor, unit = analysis.elapsed_unit(float(elapsed.max()))
    figure = Figure(figsize=(7, 3.6))
    ax = figure.add_subplot()
    shown = progress(data, done)
    _draw_progress(ax, elapsed / divisor, shown)
    ax.set(xlabel=f"{unit} since the job started", ylabel=shown.label)
    ax.legend(loc="best", fontsize="small")
    if job.spec.multi_objective:
        caption = f"{_subject(data)} as trials ended, against wall-clock time."
        return Plot("best_vs_time", "Hypervolume so far, over time", caption[0].upper() + caption[1:], render(figure))
    caption = f"{_subject(data)} of each trial when it ended, and the best so far, against wall-clock time."
    return Plot("best_vs_time", "Best so far, over time", caption, render(figure))


def best_vs_cost(data: ReportData) -> Plot | None:
    """The best so far against dollars spent: every ended trial's cost counts (a failed
    trial cost money too), in the order trials ended; None when no trial has a cost."""
    ended = sorted((t for t in data.trials if t.ended_at and t.cost_usd is not None), key=lambda t: t.ended_at or 0.0)
    if not any(t.cost_usd for t in ended):
        return None
    spent = np.cumsum([t.cost_usd or 0.0 for t in ended])
    done = [t.state is TrialState.COMPLETED and t.value is not None for t in ended]
    pairs = [(dollars, t) for dollars, t, ok in zip(spent, ended, done) if ok]
    if not pairs:
        return None
    figure = Figure(figsize=(7, 3.6))
    ax = figure.add_subplot()
    shown = progress(data, [t for _, t in pairs])
    _draw_progress(ax, [d for d, _ in pairs], shown)
    ax.set(xlabel="dollars spent (list prices)", ylabel=shown.label)
    ax.legend(loc="best", fontsize="small")
    if data.job.spec.multi_objective:
        caption = f"{_subject(data)} as trials ended, against what the trials had cost by then."
        return Plot("best_vs_cost", "Hypervolume so far, by cost", caption[0].upper() + caption[1:], render(figure))
    caption = (
        f"{_subject(data)} of each trial when it ended, and the best so far, against what the trials had cost by then."
    )
    return Plot("best_vs_cost", "Best so far, by cost", caption, render(figure))


def pareto_front(data: ReportData) -> Plot | None:
    """Two objectives: every completed trial, the feasible front highlighted and joined as
    the staircase that bounds what it dominates. Three: one panel per pair of objectives
    (the front's trials are those of the three-objective front, seen from each side)."""
    found = analysis.front(data.job, data.trials)
    if found is None:
        return None
    goals = data.job.spec.goals
    pairs = [(0, 1)] if len(goals) == 2 else [(0, 1), (0, 2), (1, 2)]
    figure = Figure(figsize=(7, 4.6) if len(pairs) == 1 else (14, 4.4))
    rest = found.feasible & ~found.on_front
    for k, (i, j) in enumerate(pairs):
        ax = figure.add_subplot(1, len(pairs), k + 1)
        V = found.values
        ax.scatter(V[rest, i], V[rest, j], s=18, color="#1f77b4", alpha=0.6, label="feasible trial")
        if not found.feasible.all():
            off = ~found.feasible
            ax.scatter(V[off, i], V[off, j], s=24, color=FAILED, marker="x", label="infeasible (constraints)")
        ax.scatter(V[found.on_front, i], V[found.on_front, j], s=48, color=BEST, zorder=3, label="Pareto front")
        if len(pairs) == 1 and found.on_front.any():
            order = np.argsort(found.minimized[found.on_front, 0], kind="stable")
            ax.step(V[found.on_front, 0][order], V[found.on_front, 1][order], where="post", color=BEST, linewidth=1.2)
        ax.set(xlabel=f"{goals[i].metric} ({goals[i].goal})", ylabel=f"{goals[j].metric} ({goals[j].goal})")
        if k == 0:
            ax.legend(loc="best", fontsize="small")
    figure.tight_layout()
    count = int(found.on_front.sum())
    caption = f"Every completed trial's objectives; the {count} feasible trials no other feasible one dominates in red"
    caption += " (joined as the front's staircase)." if len(pairs) == 1 else ", in each pair of objectives."
    if not found.feasible.all():
        caption += " Crosses broke a constraint."
    return Plot("pareto_front", "Pareto front", caption, render(figure))


def parallel_coordinates(data: ReportData) -> Plot | None:
    done = analysis.completed(data.trials)
    params = analysis.varying(data.job.spec.space)
    if not done or len(params) < 2:  # one axis has nothing to join (slices show that parameter)
        return None
    job, metric = data.job, data.job.spec.primary.metric
    values = np.array([t.value for t in done], dtype=float)
    marked = highlighted(data)
    better = -values if job.minimize else values
    order = sorted(range(len(done)), key=lambda i: (done[i].id in marked, better[i]))  # the best last, over its ties
    span = float(np.ptp(values)) or 1.0
    figure = Figure(figsize=(max(6.0, 1.5 * len(params) + 2), 4.2))
    ax = figure.add_subplot()
    colormap = _colormap(job.minimize)
    xs = np.arange(len(params))
    for i in order:
        trial = done[i]
        ys = [analysis.position(p, trial.params[p.name]) if p.name in trial.params else np.nan for p in params]
        best = trial.id in marked
        color = BEST if best else colormap((values[i] - values.min()) / span)
        ax.plot(xs, ys, color=color, alpha=1.0 if best else 0.55, linewidth=2.4 if best else 1.0)
    for x, param in zip(xs, params):
        ax.axvline(x, color="#444444", linewidth=0.8)
        for y, label in _axis_labels(param):
            ax.annotate(label, (x, y), xytext=(4, 0), textcoords="offset points", fontsize="x-small", va="center")
    ax.set_xticks(xs, [short(p.name) for p in params], rotation=20, ha="right", rotation_mode="anchor")
    ax.set_yticks([])
    room = max(len(label) for _, label in _axis_labels(params[-1]))  # the last axis's labels, left of the bar
    ax.set_xlim(-0.2, len(params) - 1 + max(0.4, 0.07 * room))
    _colorbar(figure, ax, colormap, values, metric)
    caption = f"One line per completed trial through its parameter values, colored by {metric}; "
    caption += f"{_marked_words(data)} in red."
    return Plot("parallel_coordinates", "Parallel coordinates", caption, render(figure))


def slices(data: ReportData) -> Plot | None:
    done = analysis.completed(data.trials)
    params = analysis.varying(data.job.spec.space)
    if not done or not params:
        return None
    metric = data.job.spec.primary.metric
    columns = min(3, len(params))
    rows = math.ceil(len(params) / columns)
    figure = Figure(figsize=(4.2 * columns, 3.2 * rows))
    rng = np.random.default_rng(0)
    marked = highlighted(data)
    for k, param in enumerate(params):
        ax = figure.add_subplot(rows, columns, k + 1)
        active = [t for t in done if param.name in t.params]  # a conditional parameter: where it was set
        ys = [t.value for t in active]
        if isinstance(param, CategoricalParameter):
            xs = [param.index(t.params[param.name]) + rng.uniform(-0.15, 0.15) for t in active]
            room = max(MIN_CHARS, CROWDED_CHARS // len(param.choices))  # side by side, they must not overlap
            labels = [short(str(c), room) for c in param.choices]
            ax.set_xticks(range(len(labels)), labels, rotation=90 if sum(map(len, labels)) > CROWDED_CHARS else 0)
        else:
            xs = [t.params[param.name] for t in active]
            if param.scale == "log":  # numbers, not math: the page draws no text as math (a "$" is a "$")
                ax.set_xscale("log")
                ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
                ax.xaxis.set_minor_formatter(NullFormatter())
            elif isinstance(param, IntParameter):
                ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.scatter(xs, ys, s=16, alpha=0.7, color="#1f77b4")
        best = [i for i, t in enumerate(active) if t.id in marked]
        if best:
            ax.scatter([xs[i] for i in best], [ys[i] for i in best], s=60, color=BEST, marker="*", zorder=3)
        ax.set(xlabel=short(param.name), ylabel=metric if k % columns == 0 else None)
    figure.tight_layout()
    caption = f"{metric} against each parameter alone (a slice of the search); stars: {_marked_words(data)}."
    return Plot("slices", "Each parameter's effect", caption, render(figure))


def importance(data: ReportData) -> Plot | None:
    shares = analysis.importance(data.job, data.trials)
    if not shares:
        return None
    names = sorted(shares, key=shares.get)
    figure = Figure(figsize=(6.5, 0.45 * len(names) + 1.4))
    ax = figure.add_subplot()
    ax.barh(range(len(names)), [shares[n] for n in names], color="#2ca02c")
    ax.set_yticks(range(len(names)), [short(n) for n in names])
    for y, name in enumerate(names):
        ax.annotate(f"{shares[name]:.0%}", (shares[name], y), xytext=(3, 0), textcoords="offset points", va="center")
    ax.set(xlabel="share of the objective's variance explained alone", xlim=(0, min(1.0, max(shares.values()) * 1.25)))
    caption = (
        "First-order importance: how much of the objective's variation each parameter explains by itself, "
        "from a Gaussian process fitted to the completed trials (fANOVA's main effects). The rest comes "
        "from interactions and noise."
    )
    if data.job.spec.multi_objective:
        caption += f" With several objectives: of the first, {data.job.spec.primary.metric}."
    return Plot("importance", "Parameter importance", caption, render(figure))


def learning_curves(data: ReportData) -> Plot | None:
    curves = {trial: points for trial, points in data.curves.items() if len(points) > 1}
    if not curves:
        return None
    metric = data.job.spec.primary.metric
    marked = highlighted(data)
    figure = Figure(figsize=(7, 3.6))
    ax = figure.add_subplot()
    for trial, points in sorted(curves.items()):
        steps = sorted(points)
        best = trial in marked
        ax.plot(steps, [points[s] for s in steps], color=BEST if best else "#1f77b4", alpha=1.0 if best else 0.35)
    ax.set(xlabel="step within the trial", ylabel=metric)
    caption = f"Every {metric} value each trial reported on the way, by step; {_marked_words(data)} in red."
    return Plot("learning_curves", "Learning curves", caption, render(figure))


def highlighted(data: ReportData) -> set[str]:
    """The trials drawn in red: the best one, or with several objectives the front's."""
    found = analysis.front(data.job, data.trials)
    if found is not None:
        return {t.id for t, on in zip(found.trials, found.on_front) if on}
    return {data.job.best_trial_id} if data.job.best_trial_id else set()


def _marked_words(data: ReportData) -> str:
    return "the Pareto front's trials" if data.job.spec.multi_objective else "the best trial"


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
        return [(analysis.position(param, c), short(str(c))) for c in param.choices]
    return [(analysis.position(param, bound), f"{bound:g}") for bound in (param.low, param.high)]


ALL = (
    best_vs_trials,
    best_vs_time,
    best_vs_cost,
    pareto_front,
    parallel_coordinates,
    slices,
    importance,
    learning_curves,
)
