"""es-22's pre-registered candidates: the default schedulers guarding against a rung whose
ranking (and whose power-law predictions) run backwards (benchmarks/README, "Early stopping,
round thirteen").

What stops the winners on reversing-4d with the ASHA defaults is the incumbent stop, not
the rank rule: seed 0 stopped 106 trials at rung 3 and 92 at rung 9 because the optimistic
end of their power law was behind the best final value, against 13 stopped by rank (at
rung 1). Its own check, ``ASHA.incumbent_stop_held``, needs winners seen past the rung, and
an incumbent stop that stops every trial at the rung lets none past it: it never sees the
evidence against itself.

- ``AuditedASHA`` (candidate A): a share of ASHA's trials, drawn from the seed and the
  trial's number (Hyperband's share for its bracket that never stops: 1/12.25 at rungs 1,
  3, 9), is never stopped, so the checks of both stops see trials past every rung from
  the start. Hyperband already has that bracket and is unchanged.
- ``EvidenceASHA`` / ``EvidenceHyperband`` (candidate B, with A's audit trials in ASHA): the
  incumbent stop is taken at a rung only once it has been shown to spare winners there
  (at least ``MIN_WINNERS`` winners seen past the rung, at most ``1/eta`` of them misses),
  instead of until it has been shown to cut them.

- ``FinalsAuditStudy`` (es-23's candidate D, round fourteen): C (``FinishedGuardASHA``), and
  each audit trial proposed from the finals alone.

Run as methods of ``benchmarks.early_stopping`` (the user defaults with the class swapped
in ``hyperstep.schedulers.SCHEDULERS`` while a run builds its ``Study``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hyperstep.models import Trial
from hyperstep.schedulers import SCHEDULERS
from hyperstep.schedulers.asha import ASHA, MIN_WINNERS, Hyperband, drawn_bracket, hyperband_shares, rungs
from hyperstep.schedulers.base import Curve, Curves, agrees
from hyperstep.strategies import History
from hyperstep.study import Study
from hyperstep.study_history import history_of
from hyperstep.trial_view import Snapshot


class AuditedASHA(ASHA):
    """ASHA whose audit trials (``audited``) are never stopped."""

    def audited(self, number: int) -> bool:
        """Whether trial ``number`` is one of the share that runs to the end (seed and number)."""
        share = float(hyperband_shares(len(rungs(self.min_resource, self.max_resource, self.eta)) + 1, self.eta)[-1])
        return drawn_bracket(self.seed, number, (1.0 - share, share)) == 1

    def _stop(self, number: int, curve: Curve, curves: Curves) -> bool:
        return not self.audited(number) and super()._stop(number, curve, curves)


def evidence_held(scheduler: ASHA, rung: int, curves: Curves) -> bool:
    """``ASHA.incumbent_stop_held`` with the burden reversed: held only once at least
    ``MIN_WINNERS`` winners are seen past ``rung`` and at most ``1/eta`` of them are misses."""
    winners, misses = scheduler.incumbent_stop_evidence(rung, curves)
    return winners >= MIN_WINNERS and misses <= winners / scheduler.eta


class EvidenceASHA(AuditedASHA):
    def incumbent_stop_held(self, rung: int, curves: Curves) -> bool:
        return evidence_held(self, rung, curves)


class EvidenceHyperband(Hyperband):
    def incumbent_stop_held(self, rung: int, curves: Curves) -> bool:
        return evidence_held(self, rung, curves)


class FinishedGuardASHA(EvidenceASHA):
    """Screen C (after the round's verdict, not judged): B, and the crossing guard reads only
    trials that reached ``max_resource`` (the audit trials supply them), not predicted finals:
    a final predicted from a curve's steps up to a rung ranks as that curve's value at the rung
    does, so those pairs agree with the rung whatever the true finals do."""

    def rung_ranks_finals(self, rung: int, curves: Curves) -> bool:
        done = [n for n, top in curves.tops.items() if top >= self.max_resource]
        return agrees([(curves.value_at(n, rung), curves.value_at(n, self.max_resource)) for n in done])  # type: ignore[misc]


class FinalsAuditStudy(Study):
    """es-23's candidate D: C's scheduler (``FinishedGuardASHA``), and each audit trial proposed
    from the finals alone (the strategy's history without the rungs, as full fidelity reads it):
    on a curve whose rungs rank backwards (grokking-3d's late drop) the rung values steer the
    model-based strategy away from the optimum, and the audit trials with it; proposed from the
    finals, they are a full-fidelity search of their own inside the run."""

    def history(self, trials: Sequence[Trial], snapshot: Snapshot | None = None) -> History:
        number = max((t.number for t in trials), default=0) + 1  # the number the next ask takes
        if isinstance(self.scheduler, AuditedASHA) and self.scheduler.audited(number):
            everything = [*self.prior_trials(), *trials]
            return history_of(self.space, everything, self.minimize, seed=self.seed, spec=self.spec)
        return super().history(trials, snapshot)


def swapped(run: Callable[..., Any], name: str, cls: type) -> Callable[..., Any]:
    """``run`` with ``SCHEDULERS[name]`` set to ``cls`` while it runs (restored after)."""

    def candidate(*args: Any) -> Any:
        original = SCHEDULERS[name]
        SCHEDULERS[name] = cls
        try:
            return run(*args)
        finally:
            SCHEDULERS[name] = original

    return candidate
