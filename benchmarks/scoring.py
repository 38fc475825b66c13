"""Bayesmark's normalized score, recomputed from raw losses.

Source: uber/bayesmark, ``docs/scoring.rst`` ("How scoring works") and the code it
describes, ``bayesmark/experiment_baseline.py::compute_baseline`` and
``bayesmark/experiment_analysis.py::compute_aggregates``. For problem ``p``, method
``m``, batch ``t`` and repeated run ``n``:

* ``F[pmtn]`` = the best loss within batch ``t``; ``S[pmtn] = cummin_t F[pmtn]``.
* ``opt[p]`` = the best loss any method found on ``p`` (minus a tiny pad so it is
  strictly below every random-search value), the estimate of the global minimum.
* ``clip[p]`` = the median of all random-search losses on ``p`` (the median after one
  evaluation); ``S' = min(S, clip)``.
* ``rand_mean_perf[pt]`` = the unbiased expected minimum of ``batch * (t + 1)`` draws
  from the pooled random-search losses (``expected_max.expected_min``), clipped.
* ``norm_mean_perf[pmt] = (mean_n S'[pmtn] - opt[p]) / (clip[p] - opt[p])`` (each run's
  value clipped to ``[-1, 1]`` before the mean, as in the code).
* ``mean_perf[mt] = mean_p norm_mean_perf[pmt]``;
  ``rand_mean_perf[t] = mean_p (rand_mean_perf[pt] - opt[p]) / (clip[p] - opt[p])``;
  ``norm_mean_perf[mt] = mean_perf[mt] / rand_mean_perf[t]``.

The **normalized score** reported here is ``100 * (1 - norm_mean_perf[mt])`` at the last
batch: 100 is the best value found by any method, 0 is the mean of random search at the
same number of evaluations. We also report Bayesmark's leaderboard number,
``100 * (1 - mean_perf[mt])`` (``experiment_analysis.main``: "Final score `100 x
(1-loss)` for leaderboard"), where random search does not sit at 0.

Failed evaluations (NaN) count as the clip value: no better than a median random draw.

Noisy problems (``benchmarks.broad``) score the *true* loss at each method's
recommendation (its best noisy observation); their random-search reference is then
built from random search's (noisy, true) pairs: the clip level is the median true loss
of one draw, and the expected recommendation after ``m`` draws weighs the true losses
in the order of the noisy ones with the same L-estimator weights (``expected_recommended``).
A method is scored on its current recommendation too, not the best of its past ones (which
credited every method, random search included, with points it no longer recommends: random
scored +20 to +47 against its own reference on the fresh set's noisy-region problems).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, logsumexp

PAD_FACTOR = 10000
MIN_POS = np.nextafter(0, 1)


def expected_min(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Unbiased estimate of E[min of ``m`` iid draws] from samples ``x`` (an L-estimator).

    With ``m`` at least the number of samples (random search's failures left fewer finite
    draws than the budget) it is the smallest sample: what ``m`` draws without replacement
    would find, all of them (biased up, against random search; it was NaN)."""
    values = np.sort(-np.asarray(x, dtype=float))
    return -np.sum(values * _min_weights(values.size, m), axis=-1)


def _min_weights(n: int, m: np.ndarray) -> np.ndarray:
    """Probability that the k-th smallest of ``n`` values is the minimum of ``m`` draws without replacement
    (``m`` past ``n`` counts as ``n``: all the weight on the smallest)."""
    m = np.minimum(np.asarray(m), n)[..., None]
    k = 1 + np.arange(n)
    log_w = gammaln(k) - gammaln(k - (m - 1))
    return np.exp(log_w - logsumexp(log_w, axis=-1, keepdims=True))


def expected_recommended(noisy: np.ndarray, true: np.ndarray, m: np.ndarray) -> np.ndarray:
    """E[true value at the noisy argmin of ``m`` draws] from paired samples (the noisy analogue of ``expected_min``;
    with ``m`` at least the number of pairs, the true value at the smallest noisy one)."""
    order = np.argsort(-np.asarray(noisy, dtype=float), kind="stable")
    return np.sum(np.asarray(true, dtype=float)[order] * _min_weights(len(order), m), axis=-1)


@dataclass(frozen=True)
class Baseline:
    """Per-problem reference values: estimated optimum, clip level, random mean per batch."""

    opt: float
    clip: float
    rand_mean: np.ndarray


def best_so_far(losses: np.ndarray) -> np.ndarray:
    """``S``: cumulative minimum over batches of each batch's best; losses ``(runs, rounds, batch)``."""
    filled = np.where(np.isfinite(losses), losses, np.inf)
    return np.minimum.accumulate(filled.min(axis=2), axis=1)


def current(losses: np.ndarray) -> np.ndarray:
    """Each batch's recommendation (its losses are the same over the batch); ``(runs, rounds)``."""
    return np.where(np.isfinite(losses), losses, np.inf).min(axis=2)


def baseline(
    random_losses: np.ndarray, all_losses: list[np.ndarray], pairs: tuple[np.ndarray, np.ndarray] | None = None
) -> Baseline:
    """Reference values from random search's runs and every method's losses on one problem.

    ``pairs`` (random search's noisy and true losses per evaluation, same shape) switch
    to the reference of a noisy problem (module docstring).
    """
    batch = random_losses.shape[2]
    grid = batch * (1 + np.arange(random_losses.shape[1]))
    if pairs is None:
        pooled = random_losses[np.isfinite(random_losses)]
        clip = float(np.median(pooled))
        expected = expected_min(np.minimum(clip, pooled), grid)
    else:
        noisy, true = (np.asarray(a, dtype=float).ravel() for a in pairs)
        ok = np.isfinite(noisy) & np.isfinite(true)
        clip = float(np.median(true[ok]))
        expected = expected_recommended(noisy[ok], np.minimum(clip, true[ok]), grid)
    best = float(min(np.nanmin(np.where(np.isfinite(a), a, np.nan)) for a in all_losses))
    opt = best + PAD_FACTOR * np.spacing(-np.maximum(MIN_POS, abs(best)))
    rand_mean = np.minimum.accumulate(np.minimum(clip, expected))
    if not clip > opt:
        clip = opt + max(abs(opt), 1.0) * 1e-12
    return Baseline(opt=float(opt), clip=clip, rand_mean=rand_mean)


def normed_mean_perf(losses: np.ndarray, ref: Baseline, noisy: bool = False) -> np.ndarray:
    """``norm_mean_perf[pmt]`` per batch for one method on one problem (0 = optimum, 1 = clip).

    ``noisy``: ``losses`` are the true losses at each batch's recommendation, scored as they
    are, like the random reference (``expected_recommended``): the best of a run's past
    recommendations would credit it with a point it no longer recommends."""
    s = np.minimum(current(losses) if noisy else best_so_far(losses), ref.clip)
    normed = np.clip((s - ref.opt) / (ref.clip - ref.opt), -1.0, 1.0)
    return normed.mean(axis=0)


def random_normed(ref: Baseline) -> np.ndarray:
    """Random search's expected normalized performance per batch on one problem."""
    return (ref.rand_mean - ref.opt) / (ref.clip - ref.opt)


def score(
    problem_losses: dict[str, dict[str, np.ndarray]],
    random_method: str = "random",
    noisy_pairs: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, dict]:
    """Scores of every method from ``{problem: {method: losses (runs, rounds, batch)}}``.

    ``noisy_pairs`` maps noisy problems to random search's (noisy, true) losses (``baseline``).

    Returns ``{"normalized": {method: score}, "leaderboard": {method: score},
    "per_problem": {problem: {method: 100 * (1 - norm_mean_perf)}}}`` at the last batch.
    """
    methods = sorted({m for by_method in problem_losses.values() for m in by_method})
    per_problem: dict[str, dict[str, float]] = {}
    perf = {m: [] for m in methods}
    rand_ref = []
    for problem, by_method in problem_losses.items():
        pairs = (noisy_pairs or {}).get(problem)
        ref = baseline(by_method[random_method], list(by_method.values()), pairs)
        rand_ref.append(random_normed(ref))
        per_problem[problem] = {}
        for m in methods:
            curve = normed_mean_perf(by_method[m], ref, noisy=pairs is not None)
            perf[m].append(curve)
            per_problem[problem][m] = float(100 * (1 - curve[-1]))
    rand_curve = np.mean(rand_ref, axis=0)
    mean_perf = {m: np.mean(perf[m], axis=0) for m in methods}
    return {
        "normalized": {m: float(100 * (1 - mean_perf[m][-1] / rand_curve[-1])) for m in methods},
        "leaderboard": {m: float(100 * (1 - mean_perf[m][-1])) for m in methods},
        "per_problem": per_problem,
    }
