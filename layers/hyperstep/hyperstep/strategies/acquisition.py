"""Acquisition functions for minimization, in log space where that keeps them finite.

Plain expected improvement underflows to exactly zero a few standard deviations away
from the incumbent, which leaves an optimizer with flat plateaus; ``log_ei`` follows
Ament et al. (2023, "Unexpected improvements to expected improvement") and stays
finite and ordered far into the tail.
"""

from __future__ import annotations

import math

import numpy as np

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
LOG_SQRT_PI_2 = 0.5 * math.log(math.pi / 2.0)
INV_SQRT_EPS = 1.0 / math.sqrt(np.finfo(float).eps)


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 - exp(x))`` for ``x < 0``, accurate at both ends."""
    return np.where(x > -math.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def log_h(z: np.ndarray) -> np.ndarray:
    """``log(phi(z) + z * Phi(z))``: the log of expected improvement at unit scale."""
    from scipy.special import erfcx, ndtr

    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    mid = z > -1.0
    zm = z[mid]
    out[mid] = np.log(np.exp(-0.5 * zm * zm - LOG_SQRT_2PI) + zm * ndtr(zm))
    tail = ~mid & (z > -INV_SQRT_EPS)
    zt = z[tail]
    out[tail] = (
        -0.5 * zt * zt - LOG_SQRT_2PI + _log1mexp(np.log(erfcx(-zt / math.sqrt(2.0)) * np.abs(zt)) + LOG_SQRT_PI_2)
    )
    far = ~mid & ~tail
    zf = z[far]
    out[far] = -0.5 * zf * zf - LOG_SQRT_2PI - 2.0 * np.log(np.abs(zf))
    return out


def log_ei(mean: np.ndarray, sd: np.ndarray, best: float) -> np.ndarray:
    """Log expected improvement below ``best`` of a normal with ``mean`` and ``sd``."""
    return np.log(sd) + log_h((best - mean) / sd)


def log_pi(mean: np.ndarray, sd: np.ndarray, best: float) -> np.ndarray:
    """Log probability of improving on ``best``."""
    from scipy.special import log_ndtr

    return log_ndtr((best - mean) / sd)


def lcb(mean: np.ndarray, sd: np.ndarray, beta: float) -> np.ndarray:
    """Negated lower confidence bound (larger is better, as for the others)."""
    return -(mean - math.sqrt(beta) * sd)


def log_feasible(mean: np.ndarray, sd: np.ndarray, sharpness: float = 0.25) -> np.ndarray:
    """Log probability that a point runs, from a GP regressed on +1 (ran) / -1 (failed).

    A probit link on the latent mean with its uncertainty folded in (least-squares GP
    classification): crude but cheap. The small ``sharpness`` floor makes a region the
    model is sure fails nearly forbidden (a mean of -1 there gives p ~ 1e-4), while an
    unexplored region keeps a fair chance.
    """
    from scipy.special import log_ndtr

    return log_ndtr(mean / np.sqrt(sharpness**2 + sd * sd))
