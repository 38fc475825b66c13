"""Transforms around the GP: warping the objective values, snapping points to valid encodings.

Objective values of real tuning jobs are skewed and carry outliers (a diverged run
reports a loss of 1e6). A GP assumes roughly Gaussian values, so we standardize
robustly, apply a Yeo-Johnson power transform whose exponent maximizes the Gaussian
likelihood (as HEBO does), and standardize again.

``Projector`` snaps many unit-cube points at once to the encodings of the integers and
categories they decode to, and in a conditional space sets the columns of inactive
parameters to their filler, so the acquisition is evaluated where trials can really run
and every configuration has one encoding.
"""

from __future__ import annotations

import math

import numpy as np

from hyperstep.space import CategoricalParameter, FloatParameter, IntParameter, SearchSpace

LAMBDAS = np.linspace(-2.0, 2.0, 41)
FLOAT_RESOLUTION = 1e-4
"""Two values of a float parameter this close are one configuration (``Projector.resolution_units``):
relative to the value on a log scale (to ``1 - value`` on reverse_log), to the range on a
linear one; about four significant digits, finer than a script prints or a model tells apart."""
DISCRETE_UNIT = 4.0
"""Distinct integers and categories differ by at least this in resolution units (more than 1)."""


def yeo_johnson(x: np.ndarray, lam: float) -> np.ndarray:
    """The Yeo-Johnson transform of ``x`` with exponent ``lam``."""
    out = np.empty_like(x)
    pos = x >= 0
    if abs(lam) < 1e-8:
        out[pos] = np.log1p(x[pos])
    else:
        out[pos] = ((x[pos] + 1.0) ** lam - 1.0) / lam
    if abs(lam - 2.0) < 1e-8:
        out[~pos] = -np.log1p(-x[~pos])
    else:
        out[~pos] = -((1.0 - x[~pos]) ** (2.0 - lam) - 1.0) / (2.0 - lam)
    return out


def _yeo_johnson_loglik(x: np.ndarray, lam: float) -> float:
    t = yeo_johnson(x, lam)
    var = float(t.var())
    if not np.isfinite(var) or var <= 0:
        return -math.inf
    return -0.5 * len(x) * math.log(var) + (lam - 1.0) * float((np.sign(x) * np.log1p(np.abs(x))).sum())


def _standardize(y: np.ndarray) -> np.ndarray:
    sd = float(y.std())
    return (y - y.mean()) / (sd if sd > 1e-12 else 1.0)


def by_largest_magnitude(values: np.ndarray) -> np.ndarray:
    """``values`` scaled, column by column, by the power of two that brings their largest
    finite magnitude into [0.5, 1) (a column of zeros as it is): the same order, signs and
    ratios, with no spread, mean or square left to overflow (``1e308`` and ``-1e308``) or
    underflow to 0 (subnormals, ``5e-324``). For the models' normalizations, which are
    scale-free; a value that is not finite stays so. A power of two scales every value
    exactly, so the normalizations after it give, bit for bit, what they give unscaled
    wherever that did not overflow: ordinary values' proposals are unchanged."""
    largest = np.max(np.abs(values), axis=0, initial=0.0, where=np.isfinite(values))
    return np.ldexp(values, -np.frexp(largest)[1])


def warp_objective(y: np.ndarray) -> np.ndarray:
    """Values to minimize mapped to roughly standard-normal ones, order preserved. The warp
    is scale-free, so the values are first scaled by the power of two of their largest
    magnitude (``by_largest_magnitude``): ``1e308`` and ``-1e308`` (their spread overflows) and
    subnormals like ``5e-324`` (their spread underflows to a zero scale) warp as 1 and -1
    would, not to NaN, which no GP fits."""
    y = by_largest_magnitude(np.asarray(y, dtype=float))
    if len(y) < 2 or float(np.ptp(y)) <= 0:
        return np.zeros_like(y)
    q25, q50, q75 = np.percentile(y, [25, 50, 75])
    scale = (q75 - q25) / 1.349
    if scale <= 1e-12:
        scale = float(y.std())
    z = np.clip((y - q50) / scale, -1e6, 1e6)
    lam = max(LAMBDAS, key=lambda lam_: _yeo_johnson_loglik(z, float(lam_)))
    return _standardize(yeo_johnson(z, float(lam)))


class Projector:
    """Snaps unit-cube points (rows) to valid encodings, vectorized over many points."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.dim = space.dim
        self.ints: list[tuple[int, IntParameter]] = []
        self.cats: list[slice] = []
        self.continuous = np.ones(space.dim, dtype=bool)
        self._units = np.ones(space.dim)
        """Per column, what one resolution unit is (``resolution_units``; integer columns decode first)."""
        for param, cols in zip(space.parameters, space.slices()):
            if isinstance(param, IntParameter):
                self.ints.append((cols.start, param))
                self.continuous[cols] = False
            elif isinstance(param, CategoricalParameter):
                self.cats.append(cols)
                self.continuous[cols] = False
                self._units[cols] = DISCRETE_UNIT
            elif isinstance(param, FloatParameter):
                self._units[cols] = 1.0 / float_resolution(param)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.clip(np.array(X, dtype=float, ndmin=2), 0.0, 1.0)
        for col, param in self.ints:
            X[:, col] = _snap_int(X[:, col], param)
        for cols in self.cats:
            block = X[:, cols]
            onehot = np.zeros_like(block)
            onehot[np.arange(len(block)), block.argmax(1)] = 1.0
            X[:, cols] = onehot
        if self.conditional:
            X = np.where(self.space.active_columns(X), X, self.space.inactive_fill)
        return X

    @property
    def conditional(self) -> bool:
        """Whether some parameters are active only under conditions (``when``)."""
        return self.space.conditional

    def resolution_units(self, X: np.ndarray) -> np.ndarray:
        """Rows of ``X`` measured in each parameter's resolution: two rows are one
        configuration when no coordinate differs by more than 1. A float's encoding is
        divided by its ``FLOAT_RESOLUTION`` in the encoding's units; an integer column
        becomes the integer it decodes to and a category's one-hot columns stay 0 or 1,
        both times ``DISCRETE_UNIT``: equal after rounding, whatever the last bits of the
        encoding, and distinct ones far apart however close their encodings."""
        out = np.array(X, dtype=float, ndmin=2) * self._units
        for col, param in self.ints:
            out[:, col] = DISCRETE_UNIT * _int_values(np.clip(out[:, col], 0.0, 1.0), param)
        return out

    def active_columns(self, X: np.ndarray) -> np.ndarray:
        """Which columns of the snapped rows of ``X`` belong to active parameters (all in a plain space)."""
        return self.space.active_columns(X)

    @property
    def numeric(self) -> np.ndarray:
        """Mask of the float and integer columns (the rest are one-hot categorical)."""
        mask = np.ones(self.dim, dtype=bool)
        for cols in self.cats:
            mask[cols] = False
        return mask

    @property
    def discrete_size(self) -> float:
        """How many distinct configurations exist (inf with a float parameter)."""
        if any(not isinstance(p, IntParameter | CategoricalParameter) for p in self.space.parameters):
            return math.inf
        size = 1.0
        for p in self.space.parameters:
            size *= p.high - p.low + 1 if isinstance(p, IntParameter) else len(p.choices)
        return size


def float_resolution(p: FloatParameter) -> float:
    """``FLOAT_RESOLUTION`` in the units of the parameter's encoding (its unit interval):
    relative to the range on a linear scale; on a log (reverse_log) scale, a relative change
    of the value (of ``1 - value``) moves the encoding by about itself over the log span."""
    lo, hi = p.encoded_span()
    return FLOAT_RESOLUTION if p.scale == "linear" else FLOAT_RESOLUTION / (hi - lo)


def step_int(u: np.ndarray, p: IntParameter, direction: np.ndarray) -> np.ndarray:
    """Encodings of the integers one step (``direction``: -1 or +1) from those ``u`` decodes to."""
    fwd, bwd = (np.log, np.exp) if p.scale == "log" else (np.asarray, np.asarray)
    lo, hi = float(fwd(p.low - 0.5)), float(fwd(p.high + 0.5))
    k = np.clip(np.round(bwd(lo + np.clip(u, 0.0, 1.0) * (hi - lo))) + direction, p.low, p.high)
    return np.clip((fwd(k) - lo) / (hi - lo), 0.0, 1.0)


def _int_values(u: np.ndarray, p: IntParameter) -> np.ndarray:
    """The integers that encodings ``u`` decode to (as ``IntParameter`` does), as floats."""
    fwd, bwd = (np.log, np.exp) if p.scale == "log" else (np.asarray, np.asarray)
    lo, hi = float(fwd(p.low - 0.5)), float(fwd(p.high + 0.5))
    return np.clip(np.round(bwd(lo + u * (hi - lo))), p.low, p.high)


def _snap_int(u: np.ndarray, p: IntParameter) -> np.ndarray:
    """Encodings of the integers that ``u`` decodes to (as ``IntParameter`` does)."""
    fwd = np.log if p.scale == "log" else np.asarray
    lo, hi = float(fwd(p.low - 0.5)), float(fwd(p.high + 0.5))
    return np.clip((fwd(_int_values(u, p)) - lo) / (hi - lo), 0.0, 1.0)
