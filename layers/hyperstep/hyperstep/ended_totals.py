"""Running totals of a job's ended trials: what the completion rules and the dollar budget
read every Suggest round, kept as the ``TrialView`` snapshot learns of each trial's end.

``budget.no_improvement_trials`` asks how many trials completed after the job's best,
``budget.max_cost_usd`` what the ended trials cost and what a priced one costs on average.
Counted over the job's trials, each round passed over every one of them; added up as
trials end, a round's rules cost the same at trial 10,000 as at 10.
The answers are those of the pass over the trials (``tests/unit/test_ended_totals.py``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from hyperstep.models import Trial, TrialState

Key = tuple[float, int]
"""Where a completed trial stands in the order trials completed: its end time, then its number."""


@dataclass
class EndedTotals:
    """Totals of the ended trials added so far (each once, in any order)."""

    completed: list[Key] = field(default_factory=list)
    """The completed trials with a value, in the order they completed."""
    priced: int = 0
    """Ended trials that have a cost (one whose end beat the write of its start too: it is
    charged from the backend's record, ``TuningService._charge``)."""
    priced_usd: float = 0.0
    spent_usd: float = 0.0
    """What every ended trial cost."""

    @classmethod
    def of(cls, trials: Iterable[Trial]) -> EndedTotals:
        totals = cls()
        for trial in trials:
            if not trial.state.active:
                totals.add(trial)
        return totals

    def add(self, trial: Trial) -> None:
        """Count one ended trial in."""
        self.spent_usd += trial.cost_usd or 0.0
        if trial.cost_usd is not None:
            self.priced += 1
            self.priced_usd += trial.cost_usd
        if trial.state is not TrialState.COMPLETED or trial.value is None:
            return
        bisect.insort(self.completed, _key(trial))

    def completed_after(self, trial: Trial) -> int:
        """How many trials completed (in the order they ended) after ``trial``: the job's best
        (``completion``: the first to reach the best feasible value, kept by the store)."""
        return len(self.completed) - bisect.bisect_right(self.completed, _key(trial))

    def average_cost(self) -> float | None:
        """What a priced trial cost on average; None before any was priced."""
        return self.priced_usd / self.priced if self.priced else None


def _key(trial: Trial) -> Key:
    return (trial.ended_at or 0.0, trial.number)
