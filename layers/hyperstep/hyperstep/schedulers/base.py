"""The scheduler port: whether a running trial goes on, given every trial's learning curve.

A strategy proposes configurations; a scheduler decides who continues (Syne Tune keeps
the two apart, and so does hyperstep: every scheduler works with every strategy). A
scheduler is stateless: it decides from the curves alone (``Curves``), rebuilt from the
store on every call, so any process (a Lambda, the local runtime, a notebook) reaches the
same decision, and decisions are deterministic for a seed.

Values are always to be minimized here (the caller flips the sign for ``maximize``).
A decision is taken when a trial reports a step: ``should_stop`` looks at the trial's
newest step. A trial whose newest step has reached ``max_resource`` is complete and is
never stopped.
"""

from __future__ import annotations

import heapq
import math
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np

from hyperstep.schedulers.curves import Prediction, miss, predict, reach

Curve = Mapping[int, float]
"""One trial's objective by step (only steps it reported)."""
_T = TypeVar("_T")


@dataclass(frozen=True)
class Curves:
    """Every trial's curve by trial number; the one to decide about among them. With
    ``created`` and ``ended`` (the store's times, one clock), a scheduler can also tell
    what was known when a trial started (``known_at_start``)."""

    by_number: Mapping[int, Curve] = field(default_factory=dict)
    created: Mapping[int, float] = field(default_factory=dict)
    """When each trial was created (its number's key), epoch seconds of the store's clock."""
    ended: Mapping[int, float] = field(default_factory=dict)
    """When each trial that has ended ended (running trials are absent)."""
    owner: str = ""
    """Whose trials these are (the job's id): what each trial's facts are kept under
    (``FactsMemo``)."""
    carried: Mapping[Hashable, Mapping[int, object]] = field(default_factory=dict)
    """``per_trial`` tables of an earlier ``Curves`` of the same trials, each holding only the
    trials whose curve has not changed since (``early_stopping.CurvesMemo``): a decision
    derives again only what the reports since then changed. Empty: everything is derived."""

    def others(self, number: int) -> dict[int, Curve]:
        return {n: c for n, c in self.by_number.items() if n != number and c}

    @cached_property
    def tables(self) -> dict[Hashable, dict[int, object]]:
        """The ``per_trial`` tables made for these curves, by key (what a later ``Curves``
        of the same trials carries)."""
        return {}

    def per_trial(self, key: Hashable, derive: Callable[[int], _T]) -> dict[int, _T]:
        """``derive(n)`` for every trial ``n`` of ``by_number``, in its order, made once for
        these curves and kept under ``key``; taken from ``carried[key]`` for a trial found
        there. ``derive`` reads trial ``n``'s curve alone (never another trial's, nor when
        it was created or ended), and ``key`` names everything else it depends on: that is
        what makes a value derived before still the answer for a curve that has not changed."""
        table = self.tables.get(key)
        if table is None:
            kept = self.carried.get(key, {})
            table = {n: kept[n] if n in kept else derive(n) for n in self.by_number}  # type: ignore[misc]
            self.tables[key] = table
        return table  # type: ignore[return-value]

    def derived(self, key: Hashable, number: int, derive: Callable[[int], _T]) -> _T:
        """``derive(number)`` for one trial, kept under ``key`` as ``per_trial`` keeps a whole
        table (same rules; a key is used by one of the two): for values a decision reads
        of some trials only."""
        table = self.tables.setdefault(key, {})
        if number not in table:
            kept = self.carried.get(key, {})
            table[number] = kept[number] if number in kept else derive(number)
        return table[number]  # type: ignore[return-value]

    @cached_property
    def tops(self) -> dict[int, int]:
        """Each curve's newest step, by trial number (curves with none left out): what tells,
        before any value is read, whether a curve reached a rung (``value_at`` is not None)."""
        tops = self.per_trial("top", lambda n: max(self.by_number[n]) if self.by_number[n] else None)
        return {n: top for n, top in tops.items() if top is not None}

    @cached_property
    def _facts(self) -> dict[int, CurveFacts]:
        return {}

    def facts(self, number: int) -> CurveFacts:
        """The facts of trial ``number``'s curve (``FACTS``), looked up once for these curves
        (one read of the store: its curves do not change while a decision reads them)."""
        found = self._facts.get(number)
        if found is None:
            found = self._facts[number] = FACTS.of((self.owner, number), self.by_number[number])
        return found

    def value_at(self, number: int, step: int) -> float | None:
        """``value_at`` of trial ``number``'s curve: its point at ``step`` when it has one (as
        most curves have at a rung: a trial reports every step), else from its facts."""
        found = self.by_number[number].get(step)
        return found if found is not None else self.facts(number).value_at(step)

    @cached_property
    def _ends(self) -> tuple[list[float], list[int]]:
        order = sorted((at, n) for n, at in self.ended.items() if n in self.by_number)
        return [at for at, _ in order], [n for _, n in order]

    def known_at_start(self, number: int) -> tuple[int, ...]:
        """The trials that had ended strictly before trial ``number`` was created, in the
        order they ended: what was known when it started. An ended trial's curve and end
        time no longer change, and an end is stamped with the store's clock as it is
        written, so this never changes while the trial runs (empty when its creation
        time is unknown)."""
        if number not in self.created:
            return ()
        times, numbers = self._ends
        return tuple(numbers[: bisect_left(times, self.created[number])])


def value_at(curve: Curve, step: int) -> float | None:
    """The value of the first reported step at or past ``step`` (how a trial that reports
    every few steps meets a rung), None when the curve has not reached it."""
    reached = [s for s in curve if s >= step]
    return None if not reached else curve[min(reached)]


POINTS_KEPT = 500_000
"""Points of curves whose facts a process keeps at most (``FactsMemo``; past it, it forgets
them all): a copy of each trial's curve, about 100 bytes a point (a dict entry, its float
and step as a DynamoDB read makes them), so some 50 MB: a fifth of Collect's 256 MB, where a
warm Lambda keeps the facts of every job it served (2,000,000 points took about 200 MB)."""


class CurveFacts:
    """What the schedulers derive from one curve (its value at a step, the final value it
    predicts), each computed once from a copy of its points."""

    __slots__ = ("known", "points")

    def __init__(self, curve: Curve) -> None:
        self.points = dict(curve)
        self.known: dict[tuple[str, int, int | None], object] = {}

    def value_at(self, step: int) -> float | None:
        """``value_at`` of the curve."""
        key = ("at", step, None)
        if key not in self.known:
            self.known[key] = value_at(self.points, step)
        return self.known[key]  # type: ignore[return-value]

    def predict(self, target: int, upto: int | None = None) -> Prediction | None:
        """``curves.predict`` of the curve (``upto``: of its steps up to that one only)."""
        key = ("predict", target, upto)
        if key not in self.known:
            points = self.points if upto is None else {s: v for s, v in self.points.items() if s <= upto}
            self.known[key] = predict(points, target)
        return self.known[key]  # type: ignore[return-value]

    def reach(self) -> float:
        """``curves.reach`` of the curve (past which depths ``curves.held`` reads it)."""
        key = ("reach", 0, None)
        if key not in self.known:
            self.known[key] = reach(self.points)
        return self.known[key]  # type: ignore[return-value]

    def miss(self, depth: int) -> bool | None:
        """``curves.miss`` of the curve at ``depth`` (its newest step past it)."""
        key = ("miss", depth, None)
        if key not in self.known:
            self.known[key] = miss(self.points, depth)
        return self.known[key]  # type: ignore[return-value]

    def bounds(self) -> tuple[float, float]:
        """The lowest and the highest of the curve's values (not for an empty curve)."""
        key = ("bounds", 0, None)
        if key not in self.known:
            values = self.points.values()
            self.known[key] = (min(values), max(values))
        return self.known[key]  # type: ignore[return-value]


class FactsMemo:
    """Each trial's ``CurveFacts``, kept while its curve holds the same points.

    A scheduler is stateless: each decision reads every trial's curve from the store again,
    and most have not changed since the decision before (a trial stopped early reports no
    more), so deriving the same facts again made every decision O(trials) fits and scans.
    The facts are kept by trial (its job and number) with the points they were made from,
    and served only when the curve the store returned now holds exactly those points
    (compared on every read): the store stays the truth, whether it hands back the same
    objects (SQLite) or builds them afresh on each read (DynamoDB, a warm Lambda that other
    invocations did not update), and a curve changed in place is never answered from before.
    One entry a trial, at most ``points_kept`` points in all."""

    def __init__(self, points_kept: int = POINTS_KEPT) -> None:
        self.points_kept = points_kept
        self.by_trial: dict[Hashable, CurveFacts] = {}
        self.points = 0

    def of(self, trial: Hashable, curve: Curve) -> CurveFacts:
        """The facts of ``curve``, trial ``trial``'s: those kept if made from the same points."""
        kept = self.by_trial.get(trial)
        if kept is not None and kept.points == curve:
            return kept
        if self.points + len(curve) > self.points_kept:
            self.by_trial.clear()
            self.points, kept = 0, None
        facts = self.by_trial[trial] = CurveFacts(curve)
        self.points += len(curve) - (0 if kept is None else len(kept.points))
        return facts


FACTS = FactsMemo()
"""The process's facts (a decision's ``Curves.facts``)."""


def newest(curve: Curve) -> tuple[int, int | None]:
    """The curve's newest (highest) step and the one below it (None for a curve of one
    step), in one scan: all a scheduler's ``decides`` needs of a curve. Not for an empty one."""
    first, *below = heapq.nlargest(2, curve)
    return first, next(iter(below), None)


def crossed(step: int, previous: int | None, rung: int) -> bool:
    """Whether ``step``, a curve's newest, is its first one at or past ``rung`` (``previous``:
    the curve's step below it, None when there is none): the moment to decide at that rung
    (once, as the trial passes it)."""
    return step >= rung and (previous is None or previous < rung)


MIN_PAIRS = 6
"""Trials seen at both steps before ``agrees`` can say that two steps rank trials apart."""


def mid_ranks(values: np.ndarray) -> np.ndarray:
    """Each value's rank in ``values`` (0-based, ties sharing the mean of their ranks): the
    values below it and those equal to it, counted by bisecting the sorted values (a
    decision at a rung ranks every trial there; comparing all pairs cost their square). A
    NaN equals nothing, itself included, which bisection cannot say: then all pairs."""
    if np.isnan(values).any():
        less = (values[None, :] < values[:, None]).sum(axis=1)
        equal = (values[None, :] == values[:, None]).sum(axis=1)
        return less + (equal - 1) / 2
    ordered = np.sort(values)
    less = np.searchsorted(ordered, values, side="left")
    return less + (np.searchsorted(ordered, values, side="right") - less - 1) / 2


def agrees(pairs: Sequence[tuple[float, float]]) -> bool:
    """Whether trials ranked by their first values rank alike by their second ones
    (Spearman's rho above 0): a lower rung's ranking tells something of the final one.
    False when the curves cross (the trials ahead early end behind, rho at or below 0);
    True while fewer than ``MIN_PAIRS`` trials show both (nothing known yet: the lower
    rung is trusted, as ASHA does)."""
    if len(pairs) < MIN_PAIRS:
        return True
    ranks = [mid_ranks(np.array(column, dtype=float)) for column in zip(*pairs)]
    if min(float(np.ptp(r)) for r in ranks) == 0.0:
        return True  # one side all tied: no ranking to compare
    return float(np.corrcoef(ranks[0], ranks[1])[0, 1]) > 0.0


def kendall_tau(pairs: Sequence[tuple[float, float]]) -> float | None:
    """Kendall's tau-b between the pairs' first and second values (tied pairs count as
    neither concordant nor discordant); None when either side is all tied."""
    first, second = np.array(pairs, dtype=float).reshape(-1, 2).T
    upper = np.triu_indices(len(first), 1)
    dx = np.sign(first[:, None] - first[None, :])[upper]
    dy = np.sign(second[:, None] - second[None, :])[upper]
    scale = math.sqrt(float(np.count_nonzero(dx)) * float(np.count_nonzero(dy)))
    return None if scale == 0.0 else float((dx * dy).sum()) / scale


class Scheduler(ABC):
    """Decides whether a trial stops now. ``min_resource`` and ``max_resource`` are steps."""

    name: str = ""

    def __init__(
        self,
        min_resource: int = 1,
        max_resource: int = 1,
        reduction_factor: int = 3,
        seed: int = 0,
        curve_model: bool = False,
    ) -> None:
        self.min_resource = min_resource
        self.max_resource = max_resource
        self.eta = reduction_factor
        self.seed = seed
        self.curve_model = curve_model
        """Whether a trial's predicted final value can save it (asha, hyperband: ``schedulers.curves``)."""

    def should_stop(self, number: int, curves: Curves) -> bool:
        """True when trial ``number`` should stop at its newest step. Never for a trial
        with no step yet, nor for one that has reached ``max_resource`` (it is complete)."""
        curve = curves.by_number.get(number) or {}
        if not curve or max(curve) >= self.max_resource:
            return False
        return self._stop(number, curve, curves)

    def decides(self, number: int, step: int, previous: int | None) -> bool:
        """Whether trial ``number``'s newest step ``step`` may stop it at all (``previous``:
        its curve's step below it, None when it has one step; ``newest``), before any curve
        is read: False means ``should_stop`` is False whatever the curves hold, so a step
        report that decides nothing reads nothing more, and costs the same at any length of
        its curve. Default: every step below ``max_resource``."""
        return step < self.max_resource

    @abstractmethod
    def _stop(self, number: int, curve: Curve, curves: Curves) -> bool:
        """The rule itself, for a trial with steps below ``max_resource``."""


class NoStopping(Scheduler):
    """Every trial runs to its end."""

    name = "none"

    def decides(self, number: int, step: int, previous: int | None) -> bool:
        return False

    def _stop(self, number: int, curve: Curve, curves: Curves) -> bool:
        return False
