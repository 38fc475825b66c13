"""The dollar budget (``budget.max_cost_usd``): how many more trials may start.

A trial's cost is known only once it has ended, so the ones still to come are estimated:

- once trials have been priced, at the running average of their costs: the best guess of
  what the next one costs (it may overrun by the spread of the trials still running);
- before any, at the most the first can cost, its block's hourly rate x the longest a
  trial is billed (``billed_limit_seconds``: ``timeout_seconds``, where the platform stops
  it, times a Batch block's ``retry_attempts``): the first round then never overspends, at
  the price of starting fewer trials than ``max_parallel`` when the budget is tight;
- a block that cannot be priced before a run (a Batch job whose definition holds its vCPUs
  and memory) runs one trial at a time until the first is priced.

What is spent is the sum of the ended trials' costs; each running trial holds the estimate.
So no trial starts that the remaining budget cannot cover at the running average. Both sums
are the ``TrialView`` snapshot's running totals (``hyperstep.ended_totals``): a round reads
them, not every trial.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from hyperstep.ended_totals import EndedTotals
from hyperstep.models import Job

if TYPE_CHECKING:
    from hyperstep.trial_view import Snapshot

MANY = 1_000_000
"""Slots when a trial costs nothing: the other limits decide."""


def trial_estimate(job: Job, totals: EndedTotals, region: str | None) -> float | None:
    """What the next trial is expected to cost (see the module's docstring); None when unknown."""
    average = totals.average_cost()
    if average is not None:
        return average
    block = job.spec.trial
    rate = None if block is None else block.rate(None, region)
    return None if rate is None or block is None else rate.cost(block.billed_limit_seconds())


def affordable(job: Job, trials: Snapshot, region: str | None) -> int | None:
    """How many more trials the dollar budget lets start now; None without one."""
    limit = job.spec.budget.max_cost_usd
    if limit is None:
        return None
    running, spent = len(trials.active()), trials.totals.spent_usd
    estimate = trial_estimate(job, trials.totals, region)
    if estimate is None:
        return 0 if running or spent >= limit else 1
    if estimate <= 0:
        return MANY
    left = limit - spent - running * estimate
    return max(0, math.floor(left / estimate + 1e-9))


def exhausted_reason(job: Job, trials: Snapshot, region: str | None) -> str:
    """Why the job stops for its dollar budget: what was spent, what a trial costs."""
    estimate = trial_estimate(job, trials.totals, region)
    about = "" if estimate is None else f"; a trial costs about ${estimate:.4g}"
    return f"max_cost_usd {job.spec.budget.max_cost_usd:g} reached: ${trials.totals.spent_usd:.4g} spent{about}"
