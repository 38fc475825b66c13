"""Bayesian optimization: a GP on the history, log-EI, batches by kriging believer.

Each call rebuilds everything from the history (no state between calls):

1. While fewer than ``n_initial`` points exist, scrambled Sobol' points fill the gap.
2. The objective values are warped (robust Yeo-Johnson), a Matérn-5/2 ARD GP is fitted
   as MAP (in a numeric space also with an additive term beside it, kept where its
   posterior density is higher: ``strategies.gp``); long histories are cut down to
   ``max_model_points`` (the best ones, those near the incumbent and a random rest) so
   the fit stays fast.
3. Failed trials feed a second GP on ran/failed labels whose log probability of
   running, counted twice (``FAILURE_WEIGHT``), is added to the acquisition. A failed
   trial enters the objective's GP too, at the worst value seen, only where that GP
   (fitted on the trials that ran) predicts it better than every trial: where the
   objective alone would lead the search into a region that crashes. Elsewhere a
   failure at the worst value only raised the model's mean over a length scale around
   it and hid the downhill direction of a good basin (``FAILURE_WEIGHT``).
4. Pending trials and each point already chosen for the batch enter the GP as
   fantasies at their predicted mean (kriging believer), and points within a small
   radius of them are penalized, so a batch spreads out.
5. Each point maximizes an acquisition from an ensemble (log-EI, LCB, log-PI, as HEBO
   mixes them) over a mixed-space search that only scores valid encodings. With at
   least ``trust_region_dim`` numeric dimensions, every other point of a batch is
   confined to a TuRBO-style box around the incumbent (global and local search hedged;
   categories and ints of two values, flags, are free in it);
   the box halves for every two batches that did not improve on the best (down to an
   eighth) and is back to full size once one does.
   With model-based early stopping, which asks one trial at a time, the hedge goes on
   across asks (``History.offset``, the trials so far): every other trial is confined to
   the box (each by log-EI).
6. In a conditional space (parameters with ``when``) the GP reads inactive parameters as
   absent, not as a value (an arc kernel, ``strategies.conditional``); every candidate is
   snapped to the tree (inactive columns to their filler) before it is scored, the trust
   region leaves alone the columns inactive at the incumbent, and its box binds a
   candidate only where the candidate's parameters are active.
7. When the model expects almost nothing more near the incumbent (log-EI within one
   length scale below ``EXHAUSTED_LOG_EI``), the global half of the batch must leave
   that basin while the box half keeps refining it: converged exploitation otherwise
   fills the batch with near-copies of a local optimum.

Options (the spec's ``strategy.options``): ``n_initial`` (initial design size, default
``initial_design_size``: ``min(2 * dim + 1, 10)``, and at most a quarter of a known budget,
at least 3), ``max_model_points`` (300), ``acquisition`` (``"ensemble"`` or ``"ei"``),
``trust_region_dim`` (5).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from hyperstep.spec_base import at_most
from hyperstep.strategies.base import History, Proposal, Strategy, StrategyOptions
from hyperstep.strategies.conditional import features_of
from hyperstep.strategies.search import batch_penalty, candidate_pool, far_from, maximize, nearest, unseen_points

FEASIBILITY_POINTS = 120
"""How many trials the ran/failed classifier sees at most."""
EXHAUSTED_LOG_EI = math.log(1e-3)
"""Below this log expected improvement (warped units) the incumbent's basin counts as exhausted."""
TRUST_REGION_HALF_WIDTH = 0.3
"""Half the side of the trust region along a dimension of average length scale."""
FAILURE_WEIGHT = 2.0
"""How many times the ran/failed classifier's log probability counts in the acquisition.

Until issue 14's fifth round every failed trial also entered the objective's GP at the
worst value seen. Instrumented on the held-out Hartmann-6 crash slab (seeds 1 and 2
crawled to -1.9 / -2.1 where HEBO ends near -3), two lone failures a length scale or
two from the path to the optimum raised the predicted mean there above the plateau's
and the search crept along a face instead; the acquisition optimizer was not the cause
(a multi-start L-BFGS-B on the same acquisition found the same points). Leaving
failures out of the objective's GP raised the crash kind on 10 seeds (tuned 54.8 ->
63.4, held out 65.9 -> 76.8) but let the search walk into a crash region the objective
improves towards (``test_a_region_of_failures_is_avoided``: on six draws of its history
4, 5 and 7 of 8 points went in on three). So a failure enters the objective's GP only
where the GP without failures predicts it better than every trial that ran, and the
classifier counts twice: at most 1 of 8 points in the region on the six draws, and the
crash kind at 63.1 / 74.9 (benchmarks/README.md, "Issue 14, round five")."""


MAX_MODEL_POINTS = 1_000
"""The GP's fit grows with the cube of its points: one suggestion (4-D, one point, shared
2-core machine, commit 45ab76a) took 3.8 s at 300 points, 6.7 s at 1,000, 58 s at 2,000 and
242 s at 4,000, and the Suggest function has one vCPU and 60 s. A spec stored before this
bound keeps its value (``spec_base.at_most``)."""


def initial_design_size(dim: int, budget: int | None) -> int:
    """How many Sobol' points come before the model: ``min(2 * dim + 1, 10)``, and with a known
    budget (``History.budget``) at most a quarter of it, at least 3 (SMAC3's ``max_ratio``).

    Pre-registered and measured at 10-30 trials on 16 held-out problems
    (``benchmarks/results/s16_small_budget.md``): without the cap 10 trials in 5+ dimensions
    were all Sobol' points; with it the normalized score rose from 7.4 to 33.1 at 10 trials and
    was as high or higher at 16, 20 and 30."""
    size = min(2 * dim + 1, 10)
    return size if budget is None else min(size, max(3, budget // 4))


class BayesianOptions(StrategyOptions):
    """The ``strategy.options`` of ``bayesian`` (see the module docstring)."""

    n_initial: int | None = Field(default=None, ge=1)
    """Initial design size; default ``initial_design_size``."""
    max_model_points: Annotated[int, at_most(MAX_MODEL_POINTS)] = Field(default=300, ge=20)
    acquisition: Literal["ei", "ensemble"] = "ensemble"
    trust_region_dim: int = Field(default=5, ge=1)


class BayesianOptimization(Strategy):
    """GP-based Bayesian optimization; see the module docstring for the steps and options."""

    name = "bayesian"
    Options = BayesianOptions
    uses_scipy = True  # the GP's Cholesky factors (``strategies.gp``)
    options: BayesianOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.n_initial = self.options.n_initial
        self.max_model_points = self.options.max_model_points
        self.acquisition = self.options.acquisition
        self.trust_region_dim = self.options.trust_region_dim

    def suggest(self, history: History, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.propose(history, n, rng).points

    def propose(self, history: History, n: int, rng: np.random.Generator) -> Proposal:
        """The points, and the model's largest expected improvement over its candidates
        (warped units, roughly standard deviations of the objective values) when the
        model chose any (None while the initial design fills)."""
        from hyperstep.strategies.transforms import Projector

        space = history.space
        proj = Projector(space)
        seen = proj(history.X_seen) if len(history.X_seen) else np.empty((0, space.dim))
        n_init = self.n_initial or initial_design_size(space.dim, history.budget)
        n_sobol = max(0, n_init - len(seen)) if len(history.X) >= 2 else n
        chosen = self._sobol(history, min(n, n_sobol), seen, proj)
        expected = None
        if len(chosen) < n and len(history.X) >= 2 and history.Y is not None:
            from hyperstep.strategies.multiobjective import suggest_pareto

            failures = self._feasibility(history, rng)
            more = suggest_pareto(history, n - len(chosen), rng, proj, np.vstack([seen, chosen]), chosen, failures)
            chosen = np.vstack([chosen, more])
        elif len(chosen) < n and len(history.X) >= 2:
            seen_now = np.vstack([seen, chosen])
            chosen, expected = self._bayesian(history, n - len(chosen), rng, proj, seen_now, chosen)
        if len(chosen) < n:
            extra = unseen_points(n - len(chosen), np.vstack([seen, chosen]), proj, rng)
            chosen = np.vstack([chosen, extra])
        points = np.array([space.round(x) for x in chosen]).reshape(len(chosen), space.dim)
        return Proposal(points, expected)

    def _sobol(self, history: History, k: int, seen: np.ndarray, proj: Any) -> np.ndarray:
        """Up to ``k`` new points of the study's Sobol' sequence."""
        if k <= 0:
            return np.empty((0, history.space.dim))
        from hyperstep.strategies.sobol import sobol_points

        C = proj(sobol_points(history.space.dim, len(seen), k, history.seed))
        keep: list[np.ndarray] = []
        for x in C:
            if far_from(x[None], np.vstack([seen, *keep]) if keep else seen, proj)[0]:
                keep.append(x)
        return np.array(keep).reshape(len(keep), history.space.dim)

    def _bayesian(
        self, history: History, k: int, rng: np.random.Generator, proj: Any, seen: np.ndarray, chosen: np.ndarray
    ) -> tuple[np.ndarray, float | None]:
        """``k`` points (or fewer if nothing new exists) chosen one by one on a fantasized GP,
        and the largest expected improvement over the candidate pool before any was chosen
        (None while no trial is feasible)."""
        from hyperstep.strategies.constraints import ConstraintModel, JointFeasibility
        from hyperstep.strategies.gp import GaussianProcess, PoolPosterior
        from hyperstep.strategies.transforms import warp_objective

        X, y, ok = self._model_data(history.X, history.y, rng, history.feasible)
        # failures count in the warp as the worst value, so the ran trials' scale does not depend on them
        yw = warp_objective(np.r_[y, np.full(len(history.X_failed), y.max())])[: len(y)]
        restarts = 3 if len(X) < 60 else 2 if len(X) < 150 else 1
        model = GaussianProcess.fit(
            X, yw, rng, restarts, onehot=~proj.numeric, features=features_of(proj), additive=True
        )
        X, yw, ok, model = _add_attractive_failures(model, X, yw, ok, history.X_failed[: self.max_model_points // 4])
        constraints = ConstraintModel.fit(history.X, history.G, rng, ~proj.numeric, features_of(proj))
        feasible = JointFeasibility.of(self._feasibility(history, rng, FAILURE_WEIGHT), constraints)
        if constraints is not None:  # the incumbent is the best feasible point; none yet: find one first
            yw = np.where(ok, yw, np.inf)
        incumbent = X[int(np.argmin(yw))] if ok.any() else X[0]
        pending = nearest(history.X_pending, incumbent[None], self.max_model_points - len(chosen))
        fantasies = np.vstack([pending, chosen]) if len(pending) else chosen
        best = float(model.predict(X[ok])[0].min()) if ok.any() else math.inf  # plug-in incumbent: robust to noise
        if len(fantasies):
            believed = model.predict(fantasies)[0]
            model = model.condition(fantasies, believed)
            if math.isfinite(best):  # fantasies are no feasible incumbent when none is known
                best = min(best, float(believed.min()))
        shrink = 0.5 ** min(3, _batches_since_best(np.where(history.feasible, history.y, np.inf), k + len(chosen)) // 2)
        if not ok.any():
            yw = np.zeros(len(X))  # no feasible incumbent: the trust region centres on the first point
        box = self._trust_region(X[int(np.argmin(yw))], model.lengths, proj, shrink)
        pool = candidate_pool(X[np.argsort(yw, kind="stable")[:5]], box, proj, rng)
        posterior = PoolPosterior(model, pool[far_from(pool, seen, proj)])
        if feasible is not None:
            feasible.remember(posterior.C)
        expected = _largest_expected_improvement(posterior, best) if math.isfinite(best) else None
        out = list(chosen)
        basin = self._exhausted_basin(model, posterior, X[int(np.argmin(yw))], best) if ok.any() else None
        for i in range(history.offset, history.offset + k):
            avoid = np.vstack([history.X_pending, *out]) if out else history.X_pending
            region = box if i % 2 else (np.zeros(len(box[0])), np.ones(len(box[0])))  # half the batch local
            kind = i - history.offset  # the ensemble cycles within a call; across calls only the region alternates
            score = self._score(model, feasible, best, kind, avoid, region, None if i % 2 else basin, proj)
            pool_values = score(posterior.C, (posterior.mean, posterior.sd))
            x = maximize(posterior.C, score, seen, proj, rng, pool_values)
            if x is None:
                break
            out.append(x)
            seen = np.vstack([seen, x])
            believed = model.predict(x[None])[0]
            posterior.add_fantasy(model, x)
            keep = far_from(posterior.C, x[None], proj)
            posterior.keep(keep)
            if feasible is not None:
                feasible.remember(posterior.C, keep)
            model = model.condition(x[None], believed)
            if math.isfinite(best):
                best = min(best, float(believed[0]))
        return np.array(out).reshape(len(out), history.space.dim), expected

    def _exhausted_basin(self, model: Any, posterior: Any, incumbent: np.ndarray, best: float) -> np.ndarray | None:
        """The incumbent if the model expects nothing more from its basin, else None.

        The basin is the pool within one length scale of the incumbent (in every
        dimension at once); it is exhausted when its best log-EI is below
        ``EXHAUSTED_LOG_EI``.
        """
        from hyperstep.strategies.acquisition import log_ei

        dist = np.sqrt((((posterior.C - incumbent) / model.lengths) ** 2).sum(1))
        near = dist < 1.0
        if not near.any():
            return None
        top = float(log_ei(posterior.mean[near], posterior.sd[near], best).max())
        return incumbent if top < EXHAUSTED_LOG_EI else None

    def _model_data(
        self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator, ok: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """At most ``max_model_points`` (and their ``ok``, feasibility, mask): a third best,
        a third nearest the incumbent, a third random."""
        cap = self.max_model_points
        if len(X) <= cap:
            return X, y, ok
        order = np.argsort(y, kind="stable")
        keep = list(order[: cap // 3])
        rest = np.setdiff1d(np.arange(len(X)), keep)
        dist = np.linalg.norm(X[rest] - X[order[0]], axis=1)
        near = rest[np.argsort(dist, kind="stable")[: cap // 3]]
        keep += list(near)
        rest = np.setdiff1d(rest, near)
        keep += list(rng.choice(rest, size=cap - len(keep), replace=False))
        keep = np.sort(np.array(keep))
        return X[keep], y[keep], ok[keep]

    def _feasibility(self, history: History, rng: np.random.Generator, weight: float = 1.0) -> Any:
        """A GP on +1 (ran) / -1 (failed) labels and its prior level, or None without failures.

        It sees at most ``FEASIBILITY_POINTS`` points (a third failures at most, the rest
        completed ones, both random) to stay cheap; its prior level is the mean label of
        the whole history. ``weight`` multiplies its log probability (``FAILURE_WEIGHT``
        here; the multi-objective strategy takes it once).
        """
        if len(history.X_failed) == 0:
            return None
        from hyperstep.strategies.gp import GaussianProcess
        from hyperstep.strategies.transforms import Projector

        level = float((len(history.X) - len(history.X_failed)) / (len(history.X) + len(history.X_failed)))
        bad = _sample_rows(history.X_failed, FEASIBILITY_POINTS // 3, rng)
        good = _sample_rows(history.X, FEASIBILITY_POINTS - len(bad), rng)
        Xa = np.vstack([good, bad])
        t = np.r_[np.ones(len(good)), -np.ones(len(bad))]
        model = GaussianProcess.fit(
            Xa, t - level, rng, restarts=1, maxiter=20, features=features_of(Projector(history.space))
        )
        return _Feasibility(model, level, weight)

    def _trust_region(
        self, center: np.ndarray, lengths: np.ndarray, proj: Any, shrink: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """The box the acquisition may search (TuRBO-style), the whole cube in low dimensions.

        In five or more numeric dimensions a global acquisition keeps chasing the
        uncertainty of the cube's corners; a box around the incumbent, longer along
        dimensions the GP finds smooth, keeps the search where it can pay off.
        Categorical columns are never restricted, nor those inactive at the centre, nor an
        int of two values (a flag: otherwise the local half of a batch could not flip the flags
        that matter, whose short length scales make the box narrowest; benchmarks/results/s18_flags.md).
        """
        lo, hi = np.zeros(len(center)), np.ones(len(center))
        numeric = ~np.zeros(len(center), dtype=bool)
        for cols in proj.cats:
            numeric[cols] = False
        if proj.conditional:
            numeric &= proj.active_columns(center[None])[0]
        if numeric.sum() < self.trust_region_dim:
            return lo, hi
        ell = lengths[numeric]
        weights = np.clip(ell / np.exp(np.log(ell).mean()), 0.25, 4.0)
        half = TRUST_REGION_HALF_WIDTH * shrink * weights
        lo[numeric] = np.clip(center[numeric] - half, 0.0, 1.0)
        hi[numeric] = np.clip(center[numeric] + half, 0.0, 1.0)
        for col, param in proj.ints:  # a flag: its two values are further apart than most boxes are wide
            if param.high - param.low == 1:
                lo[col], hi[col] = 0.0, 1.0
        return lo, hi

    def _score(
        self,
        model: Any,
        feasible: Any,
        best: float,
        i: int,
        avoid: np.ndarray,
        box: tuple[np.ndarray, np.ndarray],
        basin: np.ndarray | None = None,
        proj: Any = None,
    ) -> Any:
        """The acquisition for the ``i``-th point of the batch (ensemble cycles through three).

        Points closer than a small radius to ``avoid`` (pending trials, this batch) are
        penalized in proportion to how close they are: fantasies alone let a converged
        model pile a batch into one spot. Likewise points within one length scale of
        an exhausted ``basin`` (its incumbent), so global slots look elsewhere.
        """
        from hyperstep.strategies.acquisition import lcb, log_ei, log_pi

        kind = "ei" if self.acquisition == "ei" else ("ei", "lcb", "ei", "pi")[i % 4]

        def score(C: np.ndarray, moments: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
            mean, sd = model.predict(C) if moments is None else moments
            if not math.isfinite(best):  # no feasible point yet: the probability of feasibility alone
                value = np.zeros(len(C))
            elif kind == "ei":
                value = log_ei(mean, sd, best)
            elif kind == "pi":
                value = log_pi(mean, sd, best - 0.1)
            else:
                value = lcb(mean, sd, beta=4.0)
            if feasible is not None:
                value = value + feasible.log_prob(C)
            outside = np.maximum(box[0] - C, 0.0) + np.maximum(C - box[1], 0.0)
            if proj is not None and proj.conditional:
                outside = outside * proj.active_columns(C)
            outside = outside.sum(1)
            value = value - 1e6 * outside
            if basin is not None:
                dist = np.sqrt((((C - basin) / model.lengths) ** 2).sum(1))
                value = value - 1e6 * np.maximum(0.0, 1.0 - dist)
            return value - batch_penalty(C, avoid)

        return score


def _add_attractive_failures(
    model: Any, X: np.ndarray, yw: np.ndarray, ok: np.ndarray, X_failed: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """The failed trials that ``model`` (fitted on the trials that ran) predicts better than
    every one of them, added to the data and the model at the worst warped value (the
    hyperparameters kept): where the objective alone would send the search into a crash."""
    if len(X_failed) == 0 or len(yw) == 0:
        return X, yw, ok, model
    pull = model.predict(X_failed)[0] < float(yw.min())
    if not pull.any():
        return X, yw, ok, model
    worst = np.full(int(pull.sum()), float(yw.max()))
    model = model.condition(X_failed[pull], worst)
    return np.vstack([X, X_failed[pull]]), np.r_[yw, worst], np.r_[ok, np.zeros(len(worst), dtype=bool)], model


def _largest_expected_improvement(posterior: Any, best: float) -> float:
    """Plain EI's maximum over the pool (0.0 for an empty pool): what the model still expects."""
    from hyperstep.strategies.acquisition import log_ei

    if len(posterior.C) == 0:
        return 0.0
    return float(np.exp(log_ei(posterior.mean, posterior.sd, best).max()))


def _batches_since_best(y: np.ndarray, batch: int) -> int:
    """How many batches of ``batch`` trials came after the best one (``y`` in trial order)."""
    if len(y) == 0:
        return 0
    return (len(y) - 1 - int(np.argmin(y))) // max(batch, 1)


def _sample_rows(X: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``k`` rows of ``X``, a random subset (in order) when there are more."""
    if len(X) <= k:
        return X
    return X[np.sort(rng.choice(len(X), k, replace=False))]


class _Feasibility:
    """Log probability that a point runs, remembered for the candidate pool.

    The classifier does not change while a batch is chosen, so the pool's values are
    computed once and filtered along with the pool.
    """

    def __init__(self, model: Any, level: float, weight: float = 1.0) -> None:
        self.model, self.level, self.weight = model, level, weight
        self._pool: np.ndarray | None = None
        self._values = np.empty(0)

    def log_prob(self, C: np.ndarray) -> np.ndarray:
        from hyperstep.strategies.acquisition import log_feasible

        if C is self._pool:
            return self._values
        mean, sd = self.model.predict(C)
        return self.weight * log_feasible(mean + self.level, sd)

    def remember(self, pool: np.ndarray, keep: np.ndarray | None = None) -> None:
        """Cache ``pool``'s values: computed, or the remembered ones filtered by ``keep``."""
        self._values = self.log_prob(pool) if keep is None else self._values[keep]
        self._pool = pool
