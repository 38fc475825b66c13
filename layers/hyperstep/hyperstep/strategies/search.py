"""Maximizing an acquisition over a mixed space, and keeping suggestions new.

Gradient steps do not apply to integers and categories, so the search is
derivative-free: score a pool of random points and perturbations of the best trials,
then refine the winners by shrinking random perturbations (continuous and integer
columns move by Gaussian steps and are snapped back; a categorical parameter is
mutated to another choice), and finish with a coordinate sweep: each parameter in
turn tries every value of its lattice (an integer with up to ``SWEEP_POINTS`` values,
every category) or a grid over its range (a wider integer: the grid and moves of
1, 2, 4 and 8 steps), the others held, and the best single move is taken, a few times
over (taking every improving move at once scored lower on the broad set). Random
perturbations of a few coordinates at once rarely land on the one integer value, far
from the start, where the acquisition peaks on a wide lattice (33-101 values): the
sweep reaches it in one move. Every point scored is a valid encoding.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from hyperstep.space import CategoricalParameter, IntParameter
from hyperstep.strategies.transforms import Projector, step_int

Score = Callable[[np.ndarray], np.ndarray]
SCALES = (0.2, 0.08, 0.03, 0.01, 0.003)
SWEEP_POINTS = 64
"""Grid points per float parameter (and lattice values per integer at most) in the coordinate sweep."""
SWEEP_PASSES = 3
NEAR_STEPS = np.array([-8.0, -4.0, -2.0, -1.0, 1.0, 2.0, 4.0, 8.0])
"""Lattice moves tried beside the grid on an integer with more than ``SWEEP_POINTS`` values."""


BATCH_RADIUS = 0.02
"""Points of one batch keep at least this far apart (unit cube, times sqrt(dim))."""


def batch_penalty(C: np.ndarray, avoid: np.ndarray) -> np.ndarray:
    """A large penalty for candidates within ``BATCH_RADIUS`` of a point already chosen for
    the batch (``avoid``), falling linearly to 0 at the radius; zeros when nothing is chosen.

    One pass per avoided point keeps the work in arrays the size of ``C`` (the broadcast
    over every pair at once built a len(C) x len(avoid) x dim temporary); each pass sums
    the same contiguous rows, so the distances are bit-identical to the broadcast's.
    """
    if not len(avoid):
        return np.zeros(len(C))
    radius = BATCH_RADIUS * math.sqrt(C.shape[1])
    nearest = np.full(len(C), np.inf)
    for a in avoid:
        np.minimum(nearest, ((C - a) ** 2).sum(1), out=nearest)
    return 1e6 * np.maximum(0.0, 1.0 - np.sqrt(nearest) / radius)


def nearest(X: np.ndarray, centres: np.ndarray, cap: int) -> np.ndarray:
    """``X``, or its ``cap`` rows nearest any of ``centres`` (rows) when it has more (ties by
    order). The pending trials a model fantasizes: past its cap of them (an ``ask(1000)`` not
    yet told), conditioning on each cost seconds a proposal (a Cholesky factor of every
    pending point) where those near where the search looks (the incumbent, the Pareto set)
    decide; the rest still count as seen and in the batch penalty."""
    if len(X) <= cap:
        return X
    distance = np.linalg.norm(X[:, None, :] - centres[None], axis=2).min(1)
    order = np.argsort(distance, kind="stable")
    return X[np.sort(order[: max(cap, 0)])]


def perturb(X: np.ndarray, scale: float, proj: Projector, rng: np.random.Generator) -> np.ndarray:
    """Random neighbours of the rows of ``X``: a few coordinates moved, then snapped.

    Moving only some coordinates (TuRBO's trick) keeps steps local in higher dimensions.
    An integer chosen to move moves by at least one step: at fine scales a Gaussian
    step would round back to the same integer, and the local search would stall on
    integer columns while it refines the continuous ones. In a conditional space the
    inactive columns are drawn afresh before snapping: where a move activates a
    parameter (a category changed), it gets a random value, not its filler.
    """
    m, d = X.shape
    out = X.copy()
    numeric = ~np.zeros(d, dtype=bool)
    for cols in proj.cats:
        numeric[cols] = False
    movable = np.broadcast_to(numeric, (m, d))
    cats_on = np.ones((m, len(proj.cats)), dtype=bool)
    if proj.conditional:  # move only what a row has: a few of its active coordinates
        was = proj.active_columns(X)
        out = np.where(was, out, rng.random((m, d)))
        movable = movable & was
        cats_on = was[:, [cols.start for cols in proj.cats]].reshape(m, len(proj.cats))
    n_units = np.maximum(movable.sum(1) + cats_on.sum(1), 1)
    p = np.minimum(1.0, 3.0 / n_units)
    mask = (rng.random((m, d)) < p[:, None]) & movable
    out += mask * rng.normal(0.0, scale, (m, d))
    for k, cols in enumerate(proj.cats):
        flip = (rng.random(m) < np.maximum(p, 0.5 / n_units)) & cats_on[:, k]
        choice = rng.integers(0, cols.stop - cols.start, m)
        block = out[flip, cols]
        block[:] = 0.0
        block[np.arange(len(block)), choice[flip]] = 1.0
        out[flip, cols] = block
    out = proj(out)
    active = proj.active_columns(out) if proj.conditional else None
    for col, param in proj.ints:  # a step finer than one integer would snap straight back
        stuck = mask[:, col] & (np.abs(out[:, col] - X[:, col]) < 1e-12)
        direction = np.where(rng.random(int(stuck.sum())) < 0.5, -1.0, 1.0)
        out[stuck, col] = step_int(X[stuck, col], param, direction)
    if active is not None:  # an integer parent's step may (de)activate children: back onto the tree
        out = proj(np.where(active, out, rng.random((m, d))))
    return out


def candidate_pool(
    X_best: np.ndarray, box: tuple[np.ndarray, np.ndarray], proj: Projector, rng: np.random.Generator
) -> np.ndarray:
    """Uniform random points in ``box`` (low, high corners) plus perturbations of the best points."""
    lo, hi = box
    dim = len(lo)
    n_random = int(min(2000, 200 + 100 * dim))
    pool = [proj(lo + (hi - lo) * rng.random((n_random, dim)))]
    for scale in SCALES[:3]:
        if len(X_best):
            pool.append(perturb(np.repeat(X_best, 40, axis=0), scale, proj, rng))
    return np.vstack(pool)


DENSE_PAIRS = 50_000
"""Above this many (candidate, seen) pairs, ``far_from`` asks a k-d tree instead of every pair
(measured: 2,000 candidates x 400 seen, 12 columns, 0.7 ms through the tree, 70 ms pair by pair)."""


def far_from(C: np.ndarray, seen: np.ndarray, proj: Projector) -> np.ndarray:
    """Mask of the rows of ``C`` that are a configuration no seen row is: some parameter
    differs past its resolution (``Projector.resolution_units``: integers and categories
    after rounding, floats to ``FLOAT_RESOLUTION``), so no suggestion repeats a trial
    in all but digits no script prints.

    Every pair costs len(C) x len(seen): with a long job's 10,000 seen rows and a pool of
    thousands of candidates that was most of a suggestion's time. Past ``DENSE_PAIRS`` a
    k-d tree answers the same question (a nearest neighbour within one unit, in the
    maximum norm) in about (len(C) + len(seen)) log len(seen); ``scipy.spatial`` comes
    with ``scipy.optimize``.
    """
    if len(seen) == 0 or len(C) == 0:
        return np.ones(len(C), dtype=bool)
    A, B = proj.resolution_units(C), proj.resolution_units(seen)
    if len(C) * len(seen) > DENSE_PAIRS:
        from scipy.spatial import cKDTree

        distance, _ = cKDTree(B).query(A, k=1, p=np.inf, distance_upper_bound=1.0)
        return ~(distance <= 1.0)  # inf where nothing is within one unit
    apart = np.zeros((len(A), len(B)), dtype=bool)
    for j in range(A.shape[1]):
        apart |= np.abs(A[:, j, None] - B[None, :, j]) > 1.0
    return apart.all(1)


def local_search(
    starts: np.ndarray, score: Score, seen: np.ndarray, proj: Projector, rng: np.random.Generator, per_round: int = 96
) -> np.ndarray | None:
    """The best new point met while refining all ``starts`` at once by shrinking perturbations."""
    s = len(starts)
    X, V = starts.copy(), score(starts)
    met, met_values = [X.copy()], [V.copy()]
    for scale in SCALES:
        C = perturb(np.repeat(X, per_round, axis=0), scale, proj, rng)
        values = score(C)
        met.append(C)
        met_values.append(values)
        block = values.reshape(s, per_round)
        i = block.argmax(1)
        better = block[np.arange(s), i] > V
        X[better] = C.reshape(s, per_round, -1)[np.arange(s), i][better]
        V[better] = block[np.arange(s), i][better]
    return best_unseen(np.vstack(met), np.concatenate(met_values), seen, proj)


def best_unseen(C: np.ndarray, values: np.ndarray, seen: np.ndarray, proj: Projector) -> np.ndarray | None:
    """The highest-valued row of ``C`` that is not a seen point (None if all are)."""
    order = np.argsort(-values, kind="stable")
    for start in range(0, len(order), 64):
        rows = order[start : start + 64]
        fresh = far_from(C[rows], seen, proj)
        if fresh.any():
            return C[rows[int(np.argmax(fresh))]]
    return None


def maximize(
    pool: np.ndarray,
    score: Score,
    seen: np.ndarray,
    proj: Projector,
    rng: np.random.Generator,
    pool_values: np.ndarray | None = None,
) -> np.ndarray | None:
    """The best new point: top pool members refined by local search (None if nothing new).

    ``pool`` must hold no seen point already (filtering it once is much cheaper);
    ``pool_values`` are its scores when the caller has them more cheaply.
    """
    if len(pool) == 0:
        return None
    values = score(pool) if pool_values is None else pool_values
    top = pool[np.argsort(-values, kind="stable")[:3]]
    found = local_search(top, score, seen, proj, rng)
    start = top[0] if found is None else found
    swept = coordinate_sweep(start, score, seen, proj, rng)
    return start if swept is None else swept


def coordinate_lines(x: np.ndarray, proj: Projector, rng: np.random.Generator) -> np.ndarray:
    """Copies of ``x`` with one parameter moved to each value of its lattice or grid (all parameters)."""
    rows: list[np.ndarray] = []
    offset = rng.random() / SWEEP_POINTS
    for param, cols in zip(proj.space.parameters, proj.space.slices()):
        width = cols.stop - cols.start
        if isinstance(param, CategoricalParameter):
            block = np.repeat(x[None], width, axis=0)
            block[:, cols] = np.eye(width)
        else:
            count = SWEEP_POINTS
            if isinstance(param, IntParameter):
                count = min(SWEEP_POINTS, param.high - param.low + 1)
            values = (np.arange(count) + (0.5 if count < SWEEP_POINTS else offset * SWEEP_POINTS)) / count
            if isinstance(param, IntParameter) and param.high - param.low + 1 > SWEEP_POINTS:
                values = np.r_[values, step_int(np.full(len(NEAR_STEPS), x[cols.start]), param, NEAR_STEPS)]
            block = np.repeat(x[None], len(values), axis=0)
            block[:, cols.start] = values
        rows.append(block)
    return proj(np.vstack(rows))


def coordinate_sweep(
    x: np.ndarray, score: Score, seen: np.ndarray, proj: Projector, rng: np.random.Generator
) -> np.ndarray | None:
    """The best new point reached from ``x`` by up to ``SWEEP_PASSES`` single-parameter moves (None if none)."""
    value = float(score(x[None])[0])
    best: np.ndarray | None = None
    for _ in range(SWEEP_PASSES):
        C = coordinate_lines(x, proj, rng)
        C = C[far_from(C, seen, proj)]
        if len(C) == 0:
            break
        values = score(C)
        i = int(np.argmax(values))
        if values[i] <= value:
            break
        x, value = C[i], float(values[i])
        best = x
    return best


def unseen_points(n: int, seen: np.ndarray, proj: Projector, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` valid points not yet seen: random ones, or all of a small discrete space."""
    C = proj(rng.random((max(200, 20 * n), proj.dim)))
    C = _unique_rows(C[far_from(C, seen, proj)])
    if len(C) < n and proj.discrete_size <= 100_000:
        C = enumerate_space(proj)
        C = C[far_from(C, seen, proj)]
        C = C[rng.permutation(len(C))]
    return C[:n]


def _unique_rows(C: np.ndarray) -> np.ndarray:
    """The distinct rows of ``C``, in their first order."""
    if len(C) == 0:
        return C
    _, index = np.unique(np.round(C, 9), axis=0, return_index=True)
    return C[np.sort(index)]


def enumerate_space(proj: Projector) -> np.ndarray:
    """Every configuration of an all-discrete space, as encodings."""
    columns: list[list[np.ndarray]] = []
    for param, cols in zip(proj.space.parameters, proj.space.slices()):
        if isinstance(param, IntParameter):
            columns.append([np.array(param.encode(v)) for v in range(param.low, param.high + 1)])
        else:
            columns.append(list(np.eye(cols.stop - cols.start)))
    rows = [np.concatenate(combo) for combo in itertools.product(*columns)]
    X = np.array(rows, dtype=float).reshape(len(rows), proj.dim)
    return _unique_rows(proj(X)) if proj.conditional else X
