"""What a partial learning curve predicts of its final value (a power-law fit, numpy only).

ASHA judges a trial by its value at a rung, so a configuration that learns slowly but
ends best (a small learning rate, a large model) is stopped at the first rung it meets.
Learning-curve extrapolation (Domhan et al., 2015; the "pow3" family of Klein et al.'s
LC-Net; freeze-thaw's exponential decay) asks instead where the curve is heading.

Here a curve is fit with ``y(s) = c + a * s**(-b)``, the pow3 family: for each decay
exponent ``b`` on a fixed log-spaced grid (then a finer one around the best), ``c`` and
``a`` are one linear least-squares solve, so the fit is exact, deterministic and takes
microseconds. The uncertainty is the profile of that fit: every exponent whose residual
is within ``PLAUSIBLE`` times the best one's is plausible, and the prediction is the
interval their extrapolations span, and the point prediction is the least-squares
exponent itself (the grid zoomed around its best point, ``_fit``), which the
interval always holds. A noisy or short curve thus gets a wide interval, an exact power
law a point at its final value (to about 1e-6).

"Within ``PLAUSIBLE`` times the best residual" is measured against the least-squares
exponent's own residual (the zoomed grids' fits join the profile) once the curve has more
than ``MIN_POINTS`` steps. Measured against the coarse grids' best alone, as before, an
exact power law kept the interval between the two grid exponents around its own (a
crossing curve after 9 steps: 0.0998 to 0.1046 about its final 0.1021), so the incumbent
stop could not stop a trial heading 2e-3 behind the best and it ran to the end. With
exactly ``MIN_POINTS`` steps (three points, three parameters) some exponent fits almost any
curve exactly, so its zero residual says nothing of the fit: the grids' best stays the bar
there (on the benchmark's real curves, raising it would have turned half of the 3-step
intervals into points).

A curve needs ``MIN_POINTS`` distinct steps (three parameters) before it predicts anything.

Whether the power law holds on a problem at all is read from the trials themselves
(``held``): a prediction from a curve's first ``depth`` steps is checked against the value
the same curve reached later. On curves that are not power laws (a plateau that drops late,
quantised error rates) the fit from the first steps is pessimistic for the very trials that
end best, and a value extrapolated there would teach a strategy that the good region is bad.
"""

from __future__ import annotations

import hashlib
import math
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

MIN_POINTS = 3
EXPONENTS = np.geomspace(0.05, 4.0, 24)
"""The decay exponents ``b`` tried (from nearly flat in log-steps to fast decay)."""
PLAUSIBLE = 2.0
"""An exponent is plausible when its residual sum of squares is at most this many times the best's."""
ZOOMS = 3
"""How many times the exponent's grid is zoomed around its best point for the point prediction."""
MISS_TOLERANCE = 1e-5
"""How far (relative) below a prediction's optimistic end a value must be to count as a miss
(``held``): an exact power law's optimistic end from 3 or 9 steps was at most 2.7e-6
(relative) above its value at 27 on 4,000 crossing curves, so those never count."""
MIN_CHECKS = 6
"""Curves seen past a depth before ``held`` can say that the power law failed there."""
MAX_CHECKS = 100
"""Curves ``held`` reads at most (the newest)."""
TOLERANCE = 1e-12
"""Residuals below this (relative to the values' size) count as zero: an exact power law
gets a point, not an interval picked up by rounding."""


@dataclass(frozen=True)
class Prediction:
    """The final value a curve is heading to: the best fit's, and the plausible interval."""

    mean: float
    low: float
    high: float
    bounded: bool = True
    """False when the curve gives the power law no support: it improves, and a straight line
    fits its steps at least as well as any power law does (a loss still falling as fast as
    it did, with no sign of levelling off). ``low`` is then no bound on where it ends: the
    family only levels off, so it would put a limit the curve has not shown."""


def predict(curve: Mapping[int, float], target: int) -> Prediction | None:
    """The value at step ``target`` that the power law fit to ``curve`` predicts; None with
    fewer than ``MIN_POINTS`` steps, or when ``target`` is not past the last one (then
    the curve's value there is known, not predicted)."""
    ordered = sorted(s for s in curve if s > 0)
    if len(ordered) < MIN_POINTS or ordered[-1] >= target:
        return None
    values = [float(curve[s]) for s in ordered]
    if not all(math.isfinite(v) for v in values):
        return None
    key = hashlib.blake2b(array("d", ordered).tobytes() + array("d", values).tobytes(), digest_size=16).digest()
    return _kept(_PREDICTIONS, (key, target), PREDICTIONS_KEPT, lambda: _fitted(key, ordered, values).at(target))


def _fitted(key: bytes, steps: Sequence[int], values: Sequence[float]) -> _Fit:
    """The kept ``_Fit`` of the curve whose digest is ``key``."""
    return _kept(_FITS, key, FITS_KEPT, lambda: _fit(np.array(steps, dtype=float), np.array(values, dtype=float)))


FITS_KEPT = 4096
"""Curve fits kept (``_fit``: a decision at a rung predicts every peer's final value, and a
finished peer's curve no longer changes; ``held`` predicts from the same first steps of a
running curve at each of its newer steps). Keyed by a digest of the curve, not the curve: a
fit is about 5.4 KB whatever the curve's length, while a key holding a curve's points costs
about 69 bytes a point, which at 1,000-step curves would have taken 283 MB of Collect's 256
(rev-f23, measured with tracemalloc)."""
PREDICTIONS_KEPT = 8192
"""Predictions kept, by the curve's digest and the step predicted."""
_FITS: OrderedDict[Hashable, _Fit] = OrderedDict()
_PREDICTIONS: OrderedDict[Hashable, Prediction] = OrderedDict()
_KEEPING = threading.Lock()
"""One thread at a time reads or changes the kept fits (the local runtime's threads share them)."""
_T = TypeVar("_T")


def _kept(kept: OrderedDict[Hashable, _T], key: Hashable, size: int, make: Callable[[], _T]) -> _T:
    """``kept[key]``, made (``make``) and kept when missing, the least recently used of more
    than ``size`` dropped."""
    with _KEEPING:
        if key in kept:
            kept.move_to_end(key)
            return kept[key]
    value = make()  # outside the lock: a fit takes a millisecond, and ``make`` may keep another
    with _KEEPING:
        kept[key] = value
        kept.move_to_end(key)
        while len(kept) > size:
            kept.popitem(last=False)
    return value


@dataclass(frozen=True)
class _Fit:
    """The power-law fits of one curve, all that does not depend on the step predicted: each
    grid's exponents and least-squares ``c, a`` (``_fits``), which of their predictions are
    plausible, and whether the fit is ``bounded``. A curve's first steps are checked against
    its newest one, which moves while it runs (``held``): the fit of those steps is made once."""

    grids: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]
    """(exponents, intercepts, slopes) of each grid, the coarse one first, the last zoom last."""
    profiled: int
    """How many of the grids (the first ones) make the profile the interval is read from."""
    plausible: np.ndarray
    best: int
    """The least-squares exponent's index in the last grid."""
    bounded: bool

    def at(self, target: int) -> Prediction:
        """The prediction at step ``target``: the least-squares exponent's value there, and the
        interval the plausible exponents' values span."""
        t = float(target)
        finals = [intercept + slope * t**-exponents for exponents, intercept, slope in self.grids]
        mean = float(finals[-1][self.best])
        span = np.append(np.concatenate(finals[: self.profiled])[self.plausible], mean)
        return Prediction(mean=mean, low=float(span.min()), high=float(span.max()), bounded=self.bounded)


def _fit(steps: np.ndarray, values: np.ndarray) -> _Fit:
    """The curve's ``_Fit`` (kept: ``FITS_KEPT``).

    The least-squares exponent itself: the grid around the coarse grid's best point is
    zoomed ``ZOOMS`` more times (each time between the best's neighbours), so ``b`` is found
    to about 1e-5 relative. The grids alone leave ``b`` a percent or two off, which a
    nine-fold extrapolation turns into an error larger than the differences a decision near
    the incumbent turns on: an exact power law was predicted 1e-3 off its final value, and a
    trial that would have ended best could be stopped as behind. Every grid's fits join the
    profile (with more than ``MIN_POINTS`` steps; else the coarse and the fine one)."""
    grid = EXPONENTS
    grids, residuals = [], []
    for zoom in range(ZOOMS + 2):  # the coarse grid, the fine one around its best, ``ZOOMS`` more
        if zoom:
            grid = _zoomed(grid, residuals[-1])
        intercept, slope, residual = _fits(steps, values, grid)
        grids.append((grid, intercept, slope))
        residuals.append(residual)
    # a residual left over: the least-squares exponent's own (the zoomed grids') is the bar
    profiled = len(grids) if len(steps) > MIN_POINTS else 2
    profile = np.concatenate(residuals[:profiled])
    best = float(profile.min())
    plausible = profile <= PLAUSIBLE * best + TOLERANCE * (1.0 + float(_sum(values**2)))
    improving = values[-1] < values[0]
    bounded = not (improving and _line_residual(steps, values) <= best)
    return _Fit(tuple(grids), profiled, plausible, int(np.argmin(residuals[-1])), bounded)


def _line_residual(steps: np.ndarray, values: np.ndarray) -> float:
    """The residual sum of squares of the least-squares straight line through the curve."""
    centred, mean = steps - _mean(steps), _mean(values)
    slope = float(centred @ (values - mean) / _sum(centred**2))
    return float(_sum((mean + slope * centred - values) ** 2))


def held(curves: Sequence[Mapping[int, float]], depth: int, ratio: float) -> bool:
    """Whether predictions from the first ``depth`` steps have held on ``curves`` (oldest
    first; the newest ``MAX_CHECKS`` of those with steps past ``depth`` are read: ``checked``):
    each such curve's power law, fitted to its steps up to ``depth``, predicts its value at
    its newest step, and it is a miss when that value ends below the prediction's optimistic
    end (``miss``). Held: at most ``ratio`` of them missed; True while fewer than
    ``MIN_CHECKS`` curves show a prediction (nothing known: trusted; ``held_in``).

    Every curve past ``depth`` counts, not only those that reached the end: the trials
    a scheduler let run to the end are mostly the ones whose prediction looked good, so
    the finished ones alone would hide the misses; a trial stopped at a later rung shows
    them too."""
    reaches = np.array([reach(curve) for curve in curves], dtype=float)
    read = checked(reaches, depth)
    return held_in((miss(curves[i], depth) for i in read), len(read), ratio)


def reach(curve: Mapping[int, float]) -> float:
    """The curve's newest step when it is past 0, else ``-inf``: past which depths ``held`` reads it."""
    newest = max(curve, default=0)
    return newest if newest > 0 else -math.inf


def checked(reaches: np.ndarray, depth: int) -> np.ndarray:
    """The positions of the curves ``held`` reads at ``depth``, given each one's ``reach``
    (oldest first): the newest ``MAX_CHECKS`` of those with steps past ``depth``."""
    return np.flatnonzero(reaches > depth)[-MAX_CHECKS:]


def miss(curve: Mapping[int, float], depth: int) -> bool | None:
    """Whether the value at the curve's newest step (past ``depth``) ended below the
    optimistic end of what its steps up to ``depth`` predict there, by more than
    ``MISS_TOLERANCE`` (relative); None when those steps predict nothing."""
    newest = max(curve)
    heading = predict({s: v for s, v in curve.items() if s <= depth}, newest)
    if heading is None:
        return None
    value = float(curve[newest])
    return value < heading.low - MISS_TOLERANCE * (1.0 + abs(value))


def held_in(misses: Iterable[bool | None], count: int, ratio: float) -> bool:
    """``held``'s verdict on the ``count`` checked curves' ``miss``es (None: no prediction, not
    counted): held when fewer than ``MIN_CHECKS`` are seen, or at most ``ratio`` of those seen
    missed. ``misses`` is read in order (the checked curves oldest first) and only until the
    verdict is known whatever the rest hold: the newest curves are the running ones, whose
    ``miss`` is made again at every ask (their newest step moves), and the older ones, each
    ``miss`` made once, usually settle it."""
    seen = missed = 0
    unread = iter(misses)
    for left in range(count, 0, -1):  # ``left``: the next one and those after it, none read yet
        if seen + left < MIN_CHECKS or missed + left <= ratio * (seen + left):
            return True  # held even were every curve left a miss
        if seen >= MIN_CHECKS and missed > ratio * (seen + left):
            return False  # not held even were every curve left seen and no miss
        verdict = next(unread)
        if verdict is not None:
            seen += 1
            missed += verdict
    return seen < MIN_CHECKS or missed <= ratio * seen


def _zoomed(grid: np.ndarray, residuals: np.ndarray) -> np.ndarray:
    """A grid as fine as ``grid`` between the neighbours of its best point."""
    i = int(np.argmin(residuals))
    return geomspace(grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)], len(grid))


def geomspace(start: float, stop: float, num: int) -> np.ndarray:
    """``np.geomspace(start, stop, num)`` for two positive numbers, ``start`` not ``stop``, and
    ``num`` > 1, as numpy (2.x) computes it, float for float: ``num`` powers of ten evenly
    spaced in log10, the two ends exactly ``start`` and ``stop``. numpy's own takes any
    arrays, signs and dtypes, and cost a fit's ``ZOOMS`` grids 40 us each of about 800."""
    low, high = np.log10(start), np.log10(stop)
    exponents = np.arange(num, dtype=float) * ((high - low) / (num - 1)) + low
    out = np.power(10.0, exponents)
    out[0], out[-1] = start, stop
    return out


def _fits(steps: np.ndarray, values: np.ndarray, exponents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each exponent ``b``: the least-squares ``c, a`` of ``c + a * s**-b`` (closed
    form, all exponents at once) and its residual sum of squares."""
    powers = steps[None, :] ** -exponents[:, None]
    means, mean = _mean(powers, axis=1), _mean(values)  # each once: numpy's calls cost more than their sums here
    centred = powers - means[:, None]
    slope = centred @ (values - mean) / _sum(centred**2, axis=1)
    intercept = mean - slope * means
    residuals = _sum((intercept[:, None] + slope[:, None] * powers - values[None, :]) ** 2, axis=1)
    return intercept, slope, residuals


def _sum(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    """``values.sum(axis)``, float for float: the ufunc reduction it calls, without its Python
    wrapper (``ndarray.sum`` and ``mean`` were a third of a fit's CPU: 10 calls a grid)."""
    return np.add.reduce(values, axis=axis)


def _mean(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    """``values.mean(axis)``, float for float: numpy's mean is that sum over the count, for the
    float64 arrays ``_fit`` makes (and float32); not for float16 or integers, which numpy's
    mean sums in float32 and float64."""
    return _sum(values, axis) / (values.size if axis is None else values.shape[axis])
