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
- ``ClosingAuditASHA`` with ``ClosingAuditStudy`` (es-24's candidate E, round fifteen): D,
  with every trial audited until ``MIN_PAIRS`` audit trials have finished, while the finished
  audit trials have not shown every rung ranking as the finals do (``rungs_shown_right``);
  once they have, no trial is audited any more and every later one is proposed and stopped
  as the product does (``ASHA``).
- ``CostlyStopASHA`` with ``CostlyStopStudy`` (es-25's candidate F, round sixteen): every trial
  an audit (never stopped, proposed from the finals: full fidelity) until ``CLEAN_RUN`` audits
  in a row after the strategy's initial design showed no stop by ASHA's rank rule that would
  have cost a good final (``costly_stop``);
  then that rank rule alone (the product's rescues, guard and incumbent stop read the finished
  audits, and with them stopped almost nothing: a smoke run, round sixteen).
- ``NewBestAuditASHA`` with ``CostlyStopStudy`` (es-27's candidate G, round seventeen): F, with
  only audits that became a new best as evidence: the rank rule is cleared after
  ``SPARED_NEW_BESTS`` of them in a row it would have spared, reopened by one it would have
  stopped, and a seeded ``CLEARED_AUDIT_SHARE`` of trials is still audited once it is cleared.
- ``PayingArmASHA`` with ``PayingArmStudy`` (es-28's candidate H, round eighteen): each trial an
  audit (G's) or a trial under the ASHA default's stopping, the arm whose posterior mean rate of
  new bests per step spent is higher, each arm keeping ``ARM_SHARE`` of the compute.
- ``GainingArmASHA`` with ``PayingArmStudy`` (es-29's candidate H2, round nineteen): H, each new
  best credited by its share of the incumbent's descent below the median final, not one apiece.
- ``FoundGainArmASHA`` with ``PayingArmStudy`` (es-30's candidate H3, round twenty): H2, each new
  best's credit fixed when it is found (its descent as a share of the spread of the finals then),
  never recomputed.

Run as methods of ``benchmarks.early_stopping`` (the user defaults with the class swapped
in ``hyperstep.schedulers.SCHEDULERS`` while a run builds its ``Study``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from hyperstep.early_stopping import curves_of
from hyperstep.models import Trial
from hyperstep.schedulers import SCHEDULERS
from hyperstep.schedulers.asha import (
    ASHA,
    MIN_WINNERS,
    Hyperband,
    drawn_bracket,
    hyperband_shares,
    keeps_going,
    rungs,
)
from hyperstep.schedulers.base import MIN_PAIRS, Curve, Curves, agrees, crossed, kendall_tau, newest, value_at
from hyperstep.strategies import History
from hyperstep.strategies.bayesian import initial_design_size
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

    def history(
        self, trials: Sequence[Trial], snapshot: Snapshot | None = None, parents: list[list[Trial]] | None = None
    ) -> History:
        if self.audits_next(trials):
            everything = [*self.prior_trials(), *trials]
            return history_of(self.space, everything, self.minimize, seed=self.seed, spec=self.spec)
        return super().history(trials, snapshot, parents)

    def audits_next(self, trials: Sequence[Trial]) -> bool:
        """Whether the trial the next ask makes (numbered after ``trials``) is an audit trial."""
        return isinstance(self.scheduler, AuditedASHA) and self.scheduler.audited(next_number(trials))


def next_number(trials: Sequence[Trial]) -> int:
    """The number the next ask takes."""
    return max((t.number for t in trials), default=0) + 1


CLOSE_Z = 1.645
"""The one-sided 5% point of the normal: a rung is shown to rank as the finals do when its
Kendall tau over the audit trials is that many null standard deviations above 0."""


def rungs_shown_right(scheduler: ASHA, audits: Sequence[Curve]) -> bool:
    """Whether the finished ``audits`` (never stopped, proposed from the finals: an unbiased
    sample of what the search runs) show every rung ranking as the finals do: at least
    ``MIN_PAIRS`` of them, and at each rung Kendall's tau between their values there and at
    ``max_resource`` at or above ``CLOSE_Z`` times its standard deviation under no relation,
    ``sqrt(2 (2k + 5) / (9 k (k - 1)))`` for ``k`` trials (a rung all tied shows nothing)."""
    k = len(audits)
    if k < MIN_PAIRS:
        return False
    bar = CLOSE_Z * math.sqrt(2 * (2 * k + 5) / (9 * k * (k - 1)))
    for rung in rungs(scheduler.min_resource, scheduler.max_resource, scheduler.eta):
        pairs = [(value_at(c, rung), value_at(c, scheduler.max_resource)) for c in audits]
        tau = kendall_tau(pairs)  # type: ignore[arg-type]  # a finished curve reached every rung
        if tau is None or tau < bar:
            return False
    return True


def finished(curves: Curves, max_resource: int) -> dict[int, Curve]:
    """The curves that reached ``max_resource``, by trial number."""
    return {n: curves.by_number[n] for n, top in curves.tops.items() if top >= max_resource}


class ClosingAuditASHA(FinishedGuardASHA):
    """es-24's candidate E: D's scheduler (``FinishedGuardASHA``, its audit trials proposed from
    the finals by ``ClosingAuditStudy``) while auditing is open, with every trial an audit until
    ``MIN_PAIRS`` audit trials have finished (the evidence is missing until then), and the
    product's ASHA for every trial once the finished audit trials have shown the rungs right
    (``rungs_shown_right``). Once closed, no trial is audited, so the evidence no longer grows
    and auditing stays closed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.product = ASHA(*args, **kwargs)

    def auditing(self, number: int, finished: Mapping[int, Curve]) -> tuple[bool, int]:
        """Whether auditing is open for trial ``number``, and how many audit trials numbered
        below it have finished, given the curves of the trials that reached ``max_resource``
        (by number). Trials run one at a time here (the benchmark's loop), so those are what
        was known when it started; a product would read ``Curves.known_at_start``."""
        evidence: list[Curve] = []
        for m in sorted(n for n in finished if n < number):
            if len(evidence) < MIN_PAIRS or self.audited(m):  # an audit: auditing was open for it
                evidence.append(finished[m])
                if rungs_shown_right(self, evidence):
                    return False, len(evidence)
        return True, len(evidence)

    def audits(self, number: int, finished: Mapping[int, Curve]) -> bool:
        """Whether trial ``number`` is an audit trial (never stopped, proposed from the finals)."""
        is_open, known = self.auditing(number, finished)
        return is_open and (known < MIN_PAIRS or self.audited(number))

    def _stop(self, number: int, curve: Curve, curves: Curves) -> bool:
        done = finished(curves, self.max_resource)
        if not self.auditing(number, done)[0]:
            return self.product._stop(number, curve, curves)
        return not self.audits(number, done) and ASHA._stop(self, number, curve, curves)  # C's rules


class ClosingAuditStudy(FinalsAuditStudy):
    """Candidate E's study: D's (an audit trial proposed from the finals alone), with
    ``ClosingAuditASHA.audits`` saying which trials are audit trials (none once closed)."""

    def audits_next(self, trials: Sequence[Trial]) -> bool:
        if not isinstance(self.scheduler, ClosingAuditASHA):
            return False
        done = finished(curves_of(trials, self.minimize), self.scheduler.max_resource)
        return self.scheduler.audits(next_number(trials), done)


CLEAN_RUN = 5
"""Candidate F closes its audits after this many audits in a row (after the strategy's initial
design) with no costly stop: were the rule's chance of a costly stop per audit 0.45 or more, five
clean audits in a row would come with probability at most 0.55**5 = 0.05 (the one-sided 5% of
E's test)."""


def costly_stop(scheduler: ASHA, curve: Curve, peers: Sequence[Curve]) -> bool:
    """Whether a finished audit trial's ``curve`` shows a stop that would have cost a good final:
    it is a new best (``new_best``) and ASHA's rank rule against the peers would have stopped it
    (``rank_rule_stops``). Only the rank rule is replayed: the product's rescues and guard read
    finals predicted from stopped curves, which a run of audits never has."""
    return new_best(scheduler, curve, peers) and rank_rule_stops(scheduler, curve, peers)


def new_best(scheduler: ASHA, curve: Curve, peers: Sequence[Curve]) -> bool:
    """Whether ``curve``'s final beats the best final of the ``peers`` (the trials known when it
    ran; the incumbent it replaced). False while no peer has a final: nothing to beat."""
    final = value_at(curve, scheduler.max_resource)
    finals = [v for c in peers if (v := value_at(c, scheduler.max_resource)) is not None]
    return final is not None and bool(finals) and final < min(finals)


def rank_rule_stops(scheduler: ASHA, curve: Curve, peers: Sequence[Curve]) -> bool:
    """Whether ASHA's rank rule, replayed against the ``peers``, would have stopped the finished
    ``curve`` at one of its rungs (1, 3, 9): outside the top ``ceil(n / eta)`` of the values there
    (``keeps_going``)."""
    for rung in rungs(scheduler.min_resource, scheduler.max_resource, scheduler.eta):
        mine = value_at(curve, rung)
        assert mine is not None  # a finished curve reached every rung
        recorded = [v for c in peers if (v := value_at(c, rung)) is not None]
        if not keeps_going(mine, [mine, *recorded], scheduler.eta):
            return True
    return False


def rank_rule_stop(scheduler: ASHA, number: int, curve: Curve, curves: Curves) -> bool:
    """ASHA's rank rule alone, as trial ``number``'s ``curve`` passes a rung: stopped outside the
    top ``ceil(n / eta)`` of the values recorded there (what ``rank_rule_stops`` replays)."""
    step, previous = newest(curve)
    for rung in rungs(scheduler.min_resource, scheduler.max_resource, scheduler.eta):
        if crossed(step, previous, rung):
            recorded = scheduler.rung_values(rung, 0, curves)
            recorded.pop(number, None)
            mine = value_at(curve, rung)
            assert mine is not None
            return not keeps_going(mine, [mine, *recorded.values()], scheduler.eta)
    return False


class CostlyStopASHA(ASHA):
    """es-25's candidate F: every trial an audit (never stopped; ``CostlyStopStudy`` proposes it
    from the finals) while auditing is open; ASHA's rank rule alone, the rule ``costly_stop``
    replays, once ``CLEAN_RUN`` finished audits in a row with an incumbent showed no costly stop.
    Once closed, no trial is audited, so the evidence no longer grows and auditing stays closed.
    ``designed``: how many trials the strategy's initial design fills (``CostlyStopStudy`` sets
    it): they are no evidence (below)."""

    designed = 0

    def auditing(self, number: int, by_number: Mapping[int, Curve]) -> bool:
        """Whether auditing is open for trial ``number``, given every trial's curve by number.
        While open every trial is an audit, so the finished trials numbered below ``number`` are
        audits, and each one's peers are the trials numbered below it: trials run one at a time
        here (the benchmark's loop), so those are what was known when it ran (a product would
        read ``Curves.known_at_start``). The trials of the strategy's initial design are no
        evidence: space-filling points, not where the model searches, and on grokking-3d the rungs
        rank random configurations right (tau 0.43 at rung 1) and the best 20% backwards (-0.87)."""
        clean = 0
        done = sorted(
            n for n, c in by_number.items() if self.designed < n < number and max(c, default=0) >= self.max_resource
        )
        for m in done:
            peers = [c for n, c in by_number.items() if n < m]
            if not any(value_at(c, self.max_resource) is not None for c in peers):
                continue  # no incumbent to beat: no evidence either way
            clean = 0 if costly_stop(self, by_number[m], peers) else clean + 1
            if clean >= CLEAN_RUN:
                return False
        return True

    def _stop(self, number: int, curve: Curve, curves: Curves) -> bool:
        """Never while auditing is open; once closed, the rank rule ``costly_stop`` replayed and
        found costless (``rank_rule_stop``)."""
        return not self.auditing(number, curves.by_number) and rank_rule_stop(self, number, curve, curves)


class CostlyStopStudy(FinalsAuditStudy):
    """Candidate F's study: D's (an audit trial proposed from the finals alone), every trial an
    audit while ``CostlyStopASHA.auditing`` is open; it tells the scheduler the size of the
    strategy's initial design (the Bayesian strategy's default, the benchmark's strategy)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.scheduler, CostlyStopASHA):
            self.scheduler.designed = initial_design_size(self.space.dim, None)

    def audits_next(self, trials: Sequence[Trial]) -> bool:
        if not isinstance(self.scheduler, CostlyStopASHA):
            return False
        return self.scheduler.auditing(next_number(trials), curves_of(trials, self.minimize).by_number)


SPARED_NEW_BESTS = 3
"""Candidate G clears ASHA's rank rule after this many new-best audits in a row (since the last
one it would have stopped) that the rule, replayed, would have spared."""
CLEARED_AUDIT_SHARE = 1 / 8
"""Candidate G's seeded share of audit trials once the rule is cleared: what can still show a
new best the rule would have stopped, and reopen it."""


class NewBestAuditASHA(CostlyStopASHA):
    """es-27's candidate G: F's audits (never stopped, proposed from the finals by
    ``CostlyStopStudy``) and F's rule once cleared (ASHA's rank rule alone), with the evidence
    counted as F did not: only an audit that became a new best says anything about the rule (an
    audit that found nothing new would have cost nothing whatever the rule did). The rule is cleared
    once ``SPARED_NEW_BESTS`` new-best audits in a row, after the strategy's initial design, would
    have been spared by it (``rank_rule_stops`` replayed against the trials numbered below), and
    reopened by one it would have stopped. While it is not cleared every trial is an audit; once it
    is, a seeded ``CLEARED_AUDIT_SHARE`` of trials still is, so a late crossing can reopen it."""

    def auditing(self, number: int, by_number: Mapping[int, Curve]) -> bool:
        """Whether trial ``number`` is an audit, given every trial's curve by number: trials run
        one at a time here (the benchmark's loop), so the trials numbered below it are what was
        known when it started (a product would read ``Curves.known_at_start``)."""
        return not self.cleared(number, by_number) or self.drawn_audit(number)

    def drawn_audit(self, number: int) -> bool:
        """Whether trial ``number`` is one of the seeded share audited once the rule is cleared."""
        return drawn_bracket(self.seed, number, (1.0 - CLEARED_AUDIT_SHARE, CLEARED_AUDIT_SHARE)) == 1

    def cleared(self, number: int, by_number: Mapping[int, Curve]) -> bool:
        """Whether the finished trials numbered below ``number`` clear the rule: the newest
        ``SPARED_NEW_BESTS`` new-best audits after the initial design were all spared by it. A trial
        was an audit when the rule was not cleared for it, or drawn (``drawn_audit``)."""
        spared = 0
        for m in sorted(n for n in by_number if n < number):
            if m <= self.designed or max(by_number[m], default=0) < self.max_resource:
                continue
            if spared < SPARED_NEW_BESTS or self.drawn_audit(m):
                peers = [c for n, c in by_number.items() if n < m]
                if new_best(self, by_number[m], peers):
                    spared = 0 if rank_rule_stops(self, by_number[m], peers) else spared + 1
        return spared >= SPARED_NEW_BESTS


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


ARM_SHARE = 0.1
"""Candidate H: the least share of the compute spent so far that each arm keeps (the arm below
it takes the next trial), so that a late crossing (audits) or a late payoff of stopping (the
rule) can still be seen."""


class PayingArmASHA(ASHA):
    """es-28's candidate H: each trial is drawn to one of two arms, an **audit** (never stopped;
    ``PayingArmStudy`` proposes it from the finals alone: full fidelity) or a **rule** trial (the
    ASHA default's stopping, proposed as the product does): the arm whose posterior mean rate of
    new bests per step is higher (a new best: a final beating every earlier final of either arm;
    the run's first final beats nothing; a stopped rule trial's steps count, it found nothing),
    under a Gamma prior worth one full trial with one new best (``(1 + bests) / (max_resource +
    steps)``), a tie (the first trial) drawn from the seed and the trial's number; an arm below
    ``ARM_SHARE`` of the compute spent takes the next trial. Trials run one at a time here (the
    benchmark's loop), so the trials numbered below a trial are what was known when it started (a
    product would read ``Curves.known_at_start``); a trial's arm is drawn once and kept (``arms``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arms: dict[int, bool] = {}
        """Whether each trial drawn so far is an audit, by number."""

    def audits(self, number: int, by_number: Mapping[int, Curve]) -> bool:
        """Whether trial ``number`` is an audit, given every trial's curve by number."""
        if number not in self.arms:
            self.arms[number] = self.draw(number, by_number)
        return self.arms[number]

    prior = 1.0
    """The prior's credit, found in one full trial (``max_resource`` steps): one new best."""

    def draw(self, number: int, by_number: Mapping[int, Curve]) -> bool:
        """The arm of trial ``number`` (True: audit) from the trials numbered below it."""
        steps = {True: 0, False: 0}
        bests: list[tuple[bool, float, float]] = []
        finals: list[float] = []
        incumbent: float | None = None
        for m in sorted(n for n in by_number if n < number):
            arm = self.audits(m, by_number)
            steps[arm] += max(by_number[m], default=0)
            final = value_at(by_number[m], self.max_resource)
            if final is None:
                continue
            finals.append(final)
            if incumbent is None or final < incumbent:
                if incumbent is not None:
                    bests.append((arm, incumbent, final))
                incumbent = final
        spent = steps[True] + steps[False]
        for arm in (True, False):
            if spent and steps[arm] < ARM_SHARE * spent:
                return arm
        found = self.credits(bests, finals)
        rates = {arm: (self.prior + found[arm]) / (self.max_resource + steps[arm]) for arm in (True, False)}
        if rates[True] == rates[False]:
            return bool(np.random.default_rng((self.seed, number)).random() < 0.5)
        return rates[True] > rates[False]

    def credits(self, bests: Sequence[tuple[bool, float, float]], finals: Sequence[float]) -> dict[bool, float]:
        """Each arm's credit from the run's new bests (its arm, the incumbent it beat, its final;
        ``finals``: every final so far): one a new best."""
        return {arm: float(sum(a == arm for a, _, _ in bests)) for arm in (True, False)}

    def _stop(self, number: int, curve: Curve, curves: Curves) -> bool:
        return not self.audits(number, curves.by_number) and super()._stop(number, curve, curves)


class PayingArmStudy(FinalsAuditStudy):
    """Candidate H's study: an audit trial (``PayingArmASHA.audits``) proposed from the finals
    alone (D's), a rule trial as the product proposes it."""

    def audits_next(self, trials: Sequence[Trial]) -> bool:
        if not isinstance(self.scheduler, PayingArmASHA):
            return False
        return self.scheduler.audits(next_number(trials), curves_of(trials, self.minimize).by_number)


GAIN_PRIOR = 0.1
"""Candidate H2: the prior's credit, found in one full trial: a tenth of the incumbent's descent
below the median final. H's prior was one new best, and H's runs made about ten (round eighteen's
spies: 5 to 21 a seed), so this keeps the prior's weight against the evidence as H had it."""


class GainingArmASHA(PayingArmASHA):
    """es-29's candidate H2: H (``PayingArmASHA``: the two arms, the floor ``ARM_SHARE``, the first
    trial a seeded coin), with each new best credited by **how much** it improved the incumbent,
    not one apiece: its share of the incumbent's descent below the median of the finals so far
    (``credits``), per step spent, under a prior of ``GAIN_PRIOR`` per full trial."""

    prior = GAIN_PRIOR

    def credits(self, bests: Sequence[tuple[bool, float, float]], finals: Sequence[float]) -> dict[bool, float]:
        """Each arm's credit: the sum, over its new bests, of ``(min(beaten, median) - final) /
        (median - incumbent)`` where positive (``median``: of the finite finals so far; ``incumbent``:
        the best of them), recomputed at each draw. So credits are in no unit of the problem's, sum to
        at most 1 over both arms, and only descent below the typical final counts: a diverged final
        moves the median little, and a best that a later median has passed earns nothing. No credit
        while the median is the incumbent (no descent to share)."""
        finite = [v for v in finals if math.isfinite(v)]
        median = float(np.median(finite)) if finite else math.nan
        descent = median - min(finite, default=math.nan)
        found = {True: 0.0, False: 0.0}
        if not descent > 0:
            return found
        for arm, beaten, final in bests:
            found[arm] += max(min(beaten, median) - final, 0.0) / descent
        return found


class FoundGainArmASHA(PayingArmASHA):
    """es-30's candidate H3: H2 (``GainingArmASHA``: H's arms, floor and first coin, a credit per new
    best by how much it improved the incumbent, prior ``GAIN_PRIOR``) with each new best's credit
    **fixed when it is found**, in a unit known then: its descent as a share of the spread of the
    finite finals known at that moment (``credits``). A later crowding of finals near the optimum
    (which moved H2's median past the early large finds) cannot move a past credit."""

    prior = GAIN_PRIOR

    def credits(self, bests: Sequence[tuple[bool, float, float]], finals: Sequence[float]) -> dict[bool, float]:
        """Each arm's credit: the sum, over its new bests, of ``(beaten - final) / (worst - final)``,
        ``worst`` the largest finite final known when it was found (``finals`` up to it, in the
        order found: a new best beats every earlier final, so its first occurrence is where it was
        found). So a credit is in no unit of the problem's, at most 1 (the run's first new best
        takes 1), and a refinement of the incumbent earns its small share of the spread. No credit
        while the spread is 0 (no earlier finite final)."""
        found = {True: 0.0, False: 0.0}
        for arm, beaten, final in bests:
            known = [v for v in finals[: list(finals).index(final) + 1] if math.isfinite(v)]
            spread = max(known) - final
            if spread > 0:
                found[arm] += (beaten - final) / spread
        return found
