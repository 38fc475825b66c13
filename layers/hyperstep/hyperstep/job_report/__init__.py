"""``hyperstep report JOB``: one self-contained HTML page and its plots as PNG files.

The page shows where the search stands: best so far against trials, time and cost (with
several objectives: the hypervolume of the front so far, and the Pareto front itself),
parallel coordinates, each parameter's effect (slices) and importance, learning curves
when trials printed intermediate values, and every trial with its state, failure reason
duration and cost. It needs matplotlib, the optional ``report`` extra
(``pip install "hyperstep[report]"``); nothing here ships in the Lambda layer's
requirements, and nothing on the page is fetched when it is opened.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hyperstep.errors import HyperstepError
from hyperstep.job_report.data import ReportData, from_api, from_store

__all__ = ["ReportData", "from_api", "from_store", "write_report"]

WHY_MISSING = {
    "best_vs_trials": "Best so far: no trial has completed yet.",
    "best_vs_time": "Best so far over time: no trial has completed yet.",
    "best_vs_cost": "Best so far by cost: no completed trial has a cost (local trials: set trial.cost_per_hour).",
    "pareto_front": "Pareto front: no trial has completed with every objective yet.",
    "parallel_coordinates": "Parallel coordinates: needs two parameters that vary and a completed trial.",
    "slices": "Parameter effects: no completed trial (or no parameter varies).",
    "importance": "Parameter importance: needs 5 completed trials with different results and 2 varying parameters.",
    "learning_curves": "Learning curves: no trial reported its objective at two steps or more (nor printed it twice).",
}


NEAR_FLOAT_LIMIT = 1e300
"""Values from here on (a float parameter's range up to 1.7e308, a loss of 1e308) overflow
matplotlib's axis arithmetic (its margins, its ticks): a plot it fails on is left out, said so."""


def largest_number(data: ReportData) -> float:
    """The largest magnitude among the job's numeric bounds and its trials' numbers (values,
    metrics, parameters, learning curves)."""
    numbers = [b for p in data.job.spec.parameters for b in (getattr(p, "low", 0), getattr(p, "high", 0))]
    for t in data.trials:
        numbers += [t.value or 0, *(t.values or ()), *t.metrics.values(), *t.params.values()]
    for curve in data.curves.values():
        numbers += curve.values()
    return max((abs(n) for n in numbers if isinstance(n, int | float) and not isinstance(n, bool)), default=0.0)


def write_report(data: ReportData, out_dir: Path) -> Path:
    """Write ``report.html`` and one PNG per plot into ``out_dir``; return the page's path."""
    try:
        import matplotlib
    except ImportError:
        raise HyperstepError('report: matplotlib is needed: pip install "hyperstep[report]"') from None
    from hyperstep.job_report import page, plots

    drawn, missing = [], []
    with matplotlib.rc_context({"text.parse_math": False}):  # a "$" in a choice or a metric name is text
        for draw in plots.ALL:
            if draw is plots.pareto_front and not data.job.spec.multi_objective:
                continue
            try:
                with np.errstate(over="ignore", invalid="ignore"):  # matplotlib's arithmetic at such values: said below
                    plot = draw(data)
            except (ValueError, OverflowError):  # matplotlib's axis arithmetic overflowing
                if (largest := largest_number(data)) < NEAR_FLOAT_LIMIT:
                    raise
                title = WHY_MISSING[draw.__name__].split(":")[0]
                missing.append(f"{title}: not drawn: a value of {largest:g} is past what matplotlib's axes can hold.")
                continue
            if plot is None:
                missing.append(WHY_MISSING[draw.__name__])
            else:
                drawn.append(plot)
    out_dir.mkdir(parents=True, exist_ok=True)
    for plot in drawn:
        (out_dir / f"{plot.key}.png").write_bytes(plot.png)
    target = out_dir / "report.html"
    target.write_text(page.page(data, drawn, missing), encoding="utf-8")
    return target
