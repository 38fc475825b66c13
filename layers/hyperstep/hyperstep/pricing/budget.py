"""The dollar budget (``budget.max_cost_usd``): how many more trials may start.

A trial's cost is known only once it has ended, so the ones still to come are estimated:

- once trials have been priced, at the running average of their costs: the best guess of
  what the next one costs (it may overrun by the spread of the trials still running);
- before any, at the most the first can cost, its block's hourly rate x ``timeout_seconds``
  (the platform stops a trial there): the first round then never overspends, at the price
  of starting fewer trials than ``max_parallel`` when the budget is tight;
- a block that cannot be priced before a run (a Batch job whose definition holds its vCPUs
  and memory) runs one trial at a time until the first is priced.

What is spent is the sum of the ended trials' costs; each running trial holds the estimate.
So no trial starts that the remaining budget cannot cover at the running average.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hyperstep.models import Job, Trial

MANY = 1_000_000
"""Slots when a trial costs nothing: the other limits decide."""


def trial_estimate(job: Job, trials: Sequence[Trial], region: str | None) -> float | None:
    """What the next trial is expected to cost (see the module's docstring); None when unknown."""
    priced = [t.cost_usd for t in trials if t.state.finished and t.cost_usd is not None and t.started_at is not None]
    if priced:
        return sum(priced) / len(priced)
    block = job.spec.trial
    rate = None if block is None else block.rate(None, region)
    return None if rate is None or block is None else rate.cost(block.timeout_seconds)


def spent(trials: Sequence[Trial]) -> float:
    """Dollars the ended trials cost."""
    return sum(t.cost_usd or 0.0 for t in trials if t.state.finished)


def affordable(job: Job, trials: Sequence[Trial], region: str | None) -> int | None:
    """How many more trials the dollar budget lets start now; None without one."""
    limit = job.spec.budget.max_cost_usd
    if limit is None:
        return None
    running = sum(t.state.active for t in trials)
    estimate = trial_estimate(job, trials, region)
    if estimate is None:
        return 0 if running or spent(trials) >= limit else 1
    if estimate <= 0:
        return MANY
    left = limit - spent(trials) - running * estimate
    return max(0, math.floor(left / estimate + 1e-9))


def exhausted_reason(job: Job, trials: Sequence[Trial], region: str | None) -> str:
    """Why the job stops for its dollar budget: what was spent, what a trial costs."""
    estimate = trial_estimate(job, trials, region)
    about = "" if estimate is None else f"; a trial costs about ${estimate:.4g}"
    return f"max_cost_usd {job.spec.budget.max_cost_usd:g} reached: ${spent(trials):.4g} spent{about}"
