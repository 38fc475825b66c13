"""Asynchronous successive halving (ASHA, Li et al., 2020) and Hyperband as brackets of it.

Stopping-based, so no trial is paused and resumed: rungs sit at ``min_resource * eta**k``
below ``max_resource``. When a trial passes a rung (its first step at or past it), it goes
on only if its value there ranks among the top ``ceil(n / eta)`` of the ``n`` values
recorded at that rung so far (its own included; ties go its way); else it stops. The first
trial at a rung always goes on. Each decision is taken once, as the trial passes the rung.

With ``curve_model`` (the spec's default), a trial out of the top at a rung still goes on
when its curve is heading there: the optimistic end of the final value its curve predicts
(``schedulers.curves``, a power-law fit, once it has three steps) ranks among the top
``ceil(n / eta)`` of its peers' expected finals (a peer's final value if it reached
``max_resource``, else its own curve's prediction, else its newest value). So a slow
starter whose slope is best passes; one that is merely slow does not.

A rung whose ranking misleads stops nobody by rank: once ``MIN_PAIRS`` trials have reached
``max_resource``, a trial behind at a rung still goes on when their values at that rung
and at the end do not rank alike (``base.agrees``: the curves cross, so the trials ahead
at the rung are not those ahead at the end). That is Hyperband's hedge (a bracket that
never stops) made adaptive: the rung's own evidence, read from the trials that ran to
the end, says whether to trust it.

With ``curve_model``, a trial also stops at a rung, however it ranks there, when even the
optimistic end of its predicted final value is worse than the best final value any trial
has reached (``behind_incumbent``; Domhan et al., 2015, stop a run whose extrapolated
curve is unlikely to beat the best so far). Ranks at a rung say nothing of that when the
curves cross, or when each new proposal beats the ones before it early and the first
trials at a rung pass by default: the incumbent is the bar a final value must clear.
That stop is taken at a rung only while it has not been shown to cut winners there
(``incumbent_stop_held``): of the trials seen past the rung whose newest value beat the
best final value of the trials that had ended before them (the winners), at most ``1/eta``
had an optimistic end, predicted from their steps up to the rung, above that best (the
stop would have cut them; they ran on in a bracket judged later, or before the incumbent
was set). A prediction that is merely pessimistic for a trial that ends behind the
incumbent anyway costs nothing and does not count (sgd-digits' quantised error rates: the
3-step fit misses 43% of final values, but few of the winners).

Hyperband (Li et al., 2018) runs several ASHA brackets at once: bracket ``b`` (``0`` the
most aggressive) has its first rung at ``min_resource * eta**b``; a trial is assigned a
bracket from its number and the seed, with Hyperband's weights (more trials to the
aggressive brackets), and is compared only with trials of its bracket.

With ``brackets: adaptive`` (Hyper-Tune's bracket selection, Li et al., VLDB 2022), those
weights are multiplied by how well each bracket's first rung ranks trials as their final
values do (Kendall's tau over trials that reached ``max_resource``, at 0 when negative), so
a rung that ranks unlike the finals (a plateau, crossing curves) judges few trials or
none, and their compute goes to the brackets that judge later. A trial's weights come
from the trials that had ended before it was created (``Curves.known_at_start``): fixed
data, so its bracket is drawn once, from its number and the seed, and never changes while
it runs; any process that reads the store draws the same one.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import repeat
from typing import Any

import numpy as np

from hyperstep.schedulers.base import (
    MIN_PAIRS,
    Curve,
    CurveFacts,
    Curves,
    Scheduler,
    agrees,
    crossed,
    kendall_tau,
    newest,
    value_at,
)
from hyperstep.schedulers.curves import MIN_POINTS, predict

MAX_EVIDENCE = 100
"""Finished trials adaptive brackets read at most (the newest): tau costs their square."""
MIN_WINNERS = 3
"""Winners seen past a rung before ``incumbent_stop_held`` can turn the incumbent stop off there."""


def hyperband_shares(brackets: int, eta: int) -> np.ndarray:
    """Hyperband's share of trials for each bracket ``b``: ``eta**(s_max - b) / (s_max - b + 1)``, normalised."""
    s_max = brackets - 1
    weights = np.array([eta ** (s_max - b) / (s_max - b + 1) for b in range(brackets)], dtype=float)
    return weights / weights.sum()


@lru_cache(maxsize=64)
def fixed_weights(brackets: int, eta: int, uniform: bool) -> tuple[float, ...]:
    """Hyperband's fixed bracket weights as a draw takes them (``Hyperband.bracket_weights``):
    the same shares for every bracket when ``uniform``, else ``hyperband_shares``."""
    weights = np.full(brackets, 1.0 / brackets) if uniform else hyperband_shares(brackets, eta)
    return tuple(weights.tolist())


@lru_cache(maxsize=8_192)
def drawn_bracket(seed: int, number: int, weights: tuple[float, ...]) -> int:
    """Trial ``number``'s bracket drawn with ``weights`` from its number and the seed (kept:
    a decision reads every peer's bracket, and a generator costs more than the rest of it).
    8,192 draws hold a job of thousands of trials at a few MB; 65,536 took 24-45 MB of a
    warm Collect's 256 (rev-s21), beside ``FACTS``."""
    rng = np.random.default_rng([seed, number])
    return int(rng.choice(len(weights), p=np.array(weights)))


def rungs(min_resource: int, max_resource: int, eta: int, first: int = 0) -> list[int]:
    """The rung steps ``min_resource * eta**k`` for ``k >= first``, below ``max_resource``."""
    out, k = [], first
    while min_resource * eta**k < max_resource:
        out.append(min_resource * eta**k)
        k += 1
    return out


def keeps_going(value: float, recorded: list[float], eta: int) -> bool:
    """Whether ``value`` is among the top ``ceil(n / eta)`` of ``recorded`` (which holds it)."""
    better = sum(map(operator.lt, recorded, repeat(value)))  # each ``v < value``, counted in C: a rung's peers
    return better < math.ceil(len(recorded) / eta)


class ASHA(Scheduler):
    name = "asha"

    def bracket(self, number: int, curves: Curves | None = None) -> int:
        """The trial's bracket (ASHA has one: ``0``); ``curves`` for a bracket chosen from data."""
        return 0

    def decides(self, number: int, step: int, previous: int | None) -> bool:
        """Only as the trial passes one of its bracket's rungs."""
        bracket_rungs = rungs(self.min_resource, self.max_resource, self.eta, self.bracket(number))
        return super().decides(number, step, previous) and any(crossed(step, previous, r) for r in bracket_rungs)

    def _stop(self, number: int, curve: Curve, curves: Curves) -> bool:
        bracket = self.bracket(number, curves)
        step, previous = newest(curve)
        for rung in rungs(self.min_resource, self.max_resource, self.eta, bracket):
            if crossed(step, previous, rung):
                if self.curve_model and self.behind_incumbent(curve, curves) and self.incumbent_stop_held(rung, curves):
                    return True
                recorded = self.rung_values(rung, bracket, curves)
                recorded.pop(number, None)
                mine = value_at(curve, rung)
                assert mine is not None
                if keeps_going(mine, [mine, *recorded.values()], self.eta):
                    return False
                if self.curve_model and self.heading_top(curve, recorded, curves):
                    return False
                return self.rung_ranks_finals(rung, curves)
        return False

    def rung_values(self, rung: int, bracket: int, curves: Curves) -> dict[int, float]:
        """The value at ``rung`` of every trial of ``bracket`` that reached it, by number."""
        values = curves.per_trial(("at", rung), lambda n: self._at(n, rung, curves))
        brackets = self.bracket_table(curves)
        if brackets is None:
            return {n: v for n, v in values.items() if v is not None and self.bracket(n, curves) == bracket}
        return {n: v for n, v in values.items() if v is not None and brackets[n] == bracket}

    def bracket_table(self, curves: Curves) -> dict[int, int] | None:
        """Every trial's bracket by number, when it depends on its number alone (None when
        it is chosen from the other trials' curves)."""
        return curves.per_trial(("bracket", self.name), lambda n: 0)

    @staticmethod
    def _at(number: int, rung: int, curves: Curves) -> float | None:
        """Trial ``number``'s value at ``rung``; None when its curve has not reached it."""
        top = curves.tops.get(number)
        return None if top is None or top < rung else curves.value_at(number, rung)

    def finals(self, curves: Curves) -> dict[int, float | None]:
        """Every trial's value at ``max_resource`` by number (None: its curve has not reached it)."""
        return curves.per_trial(("at", self.max_resource), lambda n: self._at(n, self.max_resource, curves))

    def expected(self, number: int, curves: Curves) -> float:
        """``expected_final`` of trial ``number``'s curve (which has a step), kept for these curves."""
        return curves.derived(("expected", self.max_resource), number, lambda n: self.expected_final(curves.facts(n)))

    def rung_ranks_finals(self, rung: int, curves: Curves) -> bool:
        """Whether the trials that reached ``max_resource`` (of every bracket) rank alike
        at ``rung`` and at the end (``base.agrees``; True while too few have). With the
        curve model, a trial whose curve predicts its final value counts with that too:
        when few trials run to the end (the incumbent stop), the finished ones alone would
        take long to show that a rung's ranking crosses, and it would stop slow starters."""
        key = ("pair", rung, self.max_resource, self.curve_model)
        pairs = curves.per_trial(key, lambda n: self._pair(n, rung, curves))
        return agrees([pair for pair in pairs.values() if pair is not None])

    def _pair(self, number: int, rung: int, curves: Curves) -> tuple[float, float] | None:
        """Trial ``number``'s value at ``rung`` and its final (``rung_ranks_finals``), None
        when it lacks either."""
        top = curves.tops.get(number)
        if top is None or top < rung or (top < self.max_resource and not self.predicts(curves.by_number[number])):
            return None  # no value at the rung, or no final: the curve has not reached either
        early = curves.value_at(number, rung)
        done = top >= self.max_resource
        final = curves.value_at(number, self.max_resource) if done else self.final_of(curves.facts(number))
        return None if final is None or early is None else (early, final)

    def predicts(self, curve: Curve) -> bool:
        """Whether ``curve`` may predict a final value (``final_of``): False when it cannot (no
        curve model, or too few steps to fit), before any fit is looked up."""
        return self.curve_model and len(curve) >= MIN_POINTS

    def final_of(self, facts: CurveFacts) -> float | None:
        """The curve's value at ``max_resource``; before it, with the curve model, the
        final value it predicts (None: neither)."""
        final = facts.value_at(self.max_resource)
        if final is not None or not self.curve_model:
            return final
        heading = facts.predict(self.max_resource)
        return None if heading is None else heading.mean

    def behind_incumbent(self, curve: Curve, curves: Curves) -> bool:
        """Whether the optimistic end of ``curve``'s predicted final value is worse than
        the best final value of the trials that reached ``max_resource`` (False while none
        has, or while the curve predicts nothing: fewer than three steps, or a curve the
        power law cannot bound, still falling in a straight line: ``Prediction.bounded``)."""
        mine = predict(curve, self.max_resource)
        if mine is None or not mine.bounded:
            return False  # the curve first: most trials are judged at the first rung, with one step
        best = min((v for v in self.finals(curves).values() if v is not None), default=None)
        return best is not None and mine.low > best

    def incumbent_stop_held(self, rung: int, curves: Curves) -> bool:
        """Whether the incumbent stop at ``rung`` would have spared the winners seen so far:
        held while at most ``1/eta`` of the winners (``incumbent_stop_evidence``) are misses,
        or fewer than ``MIN_WINNERS`` are seen."""
        winners, misses = self.incumbent_stop_evidence(rung, curves)
        return winners < MIN_WINNERS or misses <= winners / self.eta

    def incumbent_stop_evidence(self, rung: int, curves: Curves) -> tuple[int, int]:
        """The winners seen past ``rung`` and the misses among them: the trials with steps past
        ``rung`` (the newest ``MAX_EVIDENCE``, in the order they ended, running ones last) whose
        newest value beat the best final value of those that ended before them. A winner whose
        optimistic end predicted from its steps up to ``rung`` was above that best is a miss."""
        order = sorted(curves.by_number, key=lambda n: (curves.ended.get(n, math.inf), n))
        finals = self.finals(curves)
        best, seen = math.inf, []
        for n in order:
            if curves.tops.get(n, 0) > rung and best < math.inf:
                seen.append((n, best))
            final = finals[n]
            if final is not None:
                best = min(best, final)
        winners = misses = 0
        for n, incumbent in seen[-MAX_EVIDENCE:]:
            curve = curves.by_number[n]
            if curve[max(curve)] >= incumbent:
                continue
            heading = curves.facts(n).predict(self.max_resource, upto=rung)
            if heading is None:
                continue
            winners += 1
            misses += heading.bounded and heading.low > incumbent
        return winners, misses

    def heading_top(self, curve: Curve, peers: Iterable[int], curves: Curves) -> bool:
        """Whether the optimistic end of ``curve``'s predicted final value ranks among the
        top ``ceil(n / eta)`` of the ``peers``' expected finals (``expected_final``; see the
        module docstring). The peers' are read only for a curve that predicts one."""
        mine = predict(curve, self.max_resource)
        if mine is None:
            return False
        return keeps_going(mine.low, [mine.low, *(self.expected(n, curves) for n in peers)], self.eta)

    def expected_final(self, facts: CurveFacts) -> float:
        """A peer's final value if it reached ``max_resource``, else what its curve predicts,
        else its newest value."""
        curve = facts.points
        if max(curve) >= self.max_resource:
            final = facts.value_at(self.max_resource)
            assert final is not None
            return final
        heading = facts.predict(self.max_resource)
        return heading.mean if heading is not None else curve[max(curve)]


class Hyperband(ASHA):
    name = "hyperband"

    def __init__(self, *args: Any, brackets: str = "hyperband", **kwargs: Any) -> None:
        """``brackets``: ``hyperband`` (Hyperband's shares of trials per bracket),
        ``uniform`` (as many trials in each bracket) or ``adaptive`` (Hyperband's shares
        weighted by how well each bracket's first rung ranks the trials as their final
        values do: ``adaptive_weights``)."""
        super().__init__(*args, **kwargs)
        self.weighting = brackets
        self._drawn: dict[tuple[int, int], int] = {}
        """Adaptive brackets already drawn, by (trial, how many trials were known at its
        start): a trial's bracket is a function of these, so it is drawn once per scheduler."""

    @property
    def brackets(self) -> int:
        """How many brackets: one per rung of the most aggressive, plus one that never stops."""
        return len(rungs(self.min_resource, self.max_resource, self.eta)) + 1

    def bracket_weights(self) -> np.ndarray:
        """Each bracket's share of trials: Hyperband's ``eta**(s_max - b) / (s_max - b + 1)``
        (the same budget per bracket under successive halving, so most trials go to the
        most aggressive; ``adaptive`` too, before anything is known), or the same share for
        every bracket (``uniform``: more trials are judged late, which slow starters that
        end best need)."""
        return np.array(fixed_weights(self.brackets, self.eta, self.weighting == "uniform"))

    def rung_agreement(self, curves: Curves, known: Sequence[int]) -> np.ndarray:
        """Per bracket, how well its first rung ranks the ``known`` trials that reached
        ``max_resource`` as their final values do: Kendall's tau between the two over the
        newest ``MAX_EVIDENCE`` of them, at 0 when negative (the rung misleads); 1 for
        the bracket that never stops (it ranks by the final values themselves), and while
        fewer than ``MIN_PAIRS`` trials show both (nothing known: trusted, as Hyperband)."""
        finished = [n for n in known if curves.tops.get(n, 0) >= self.max_resource][-MAX_EVIDENCE:]
        agreement = np.ones(self.brackets)
        for b, rung in enumerate(rungs(self.min_resource, self.max_resource, self.eta)):
            pairs = [(curves.value_at(n, rung), curves.value_at(n, self.max_resource)) for n in finished]
            if len(pairs) >= MIN_PAIRS:
                tau = kendall_tau(pairs)  # type: ignore[arg-type]  # every finished curve reached every rung
                agreement[b] = 1.0 if tau is None else max(tau, 0.0)
        return agreement

    def adaptive_weights(self, curves: Curves, known: Sequence[int]) -> np.ndarray:
        """Hyperband's shares times each bracket's ``rung_agreement`` over ``known``,
        normalised: a bracket whose first rung ranks unlike the finals gets few trials, none
        when it ranks against them (Hyper-Tune's bracket selection, Li et al., VLDB 2022,
        with a rank correlation over finished trials instead of a model's ranking loss)."""
        weights = hyperband_shares(self.brackets, self.eta) * self.rung_agreement(curves, known)
        return weights / weights.sum()

    def bracket(self, number: int, curves: Curves | None = None) -> int:
        """The trial's bracket: drawn from its number and the seed, so every process agrees.
        ``adaptive``: with the weights of what was known when it started
        (``Curves.known_at_start``, which does not change while it runs, so neither does
        its bracket); Hyperband's weights when nothing is known."""
        if self.weighting != "adaptive":
            return drawn_bracket(self.seed, number, self._fixed_weights)
        known = () if curves is None else curves.known_at_start(number)
        key = (number, len(known))  # a trial's known trials only ever are one prefix of the ends
        if key not in self._drawn:
            known_any = curves is not None and known
            weights = self.adaptive_weights(curves, known) if known_any else self.bracket_weights()
            self._drawn[key] = self._draw(number, weights)
        return self._drawn[key]

    @property
    def _fixed_weights(self) -> tuple[float, ...]:
        """``bracket_weights`` as a draw takes them (not ``adaptive``: they do not change), made
        once a process (``fixed_weights``): a scheduler is made for each step report."""
        return fixed_weights(self.brackets, self.eta, self.weighting == "uniform")

    def bracket_table(self, curves: Curves) -> dict[int, int] | None:
        """Drawn from each trial's number (None for ``adaptive``: from the other trials' curves)."""
        if self.weighting == "adaptive":
            return None
        return curves.per_trial(("bracket", self.seed, self._fixed_weights), self.bracket)

    def _draw(self, number: int, weights: np.ndarray) -> int:
        return drawn_bracket(self.seed, number, tuple(weights.tolist()))

    def decides(self, number: int, step: int, previous: int | None) -> bool:
        """With adaptive brackets the trial's bracket needs the others' curves: any rung of
        the first bracket (every bracket's rungs are among them) may decide."""
        if self.weighting != "adaptive":
            return super().decides(number, step, previous)
        every = rungs(self.min_resource, self.max_resource, self.eta)
        return Scheduler.decides(self, number, step, previous) and any(crossed(step, previous, r) for r in every)
