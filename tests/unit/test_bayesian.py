"""The bayesian strategy: better than random, deterministic, valid, spread-out batches."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from hyperstep.space import SearchSpace
from hyperstep.strategies.base import History
from hyperstep.strategies.bayesian import BayesianOptimization
from hyperstep.study import Study

SPACE2 = SearchSpace.model_validate(
    {
        "parameters": [
            {"name": "a", "type": "float", "low": 0, "high": 1},
            {"name": "b", "type": "float", "low": 0, "high": 1},
        ]
    }
)
MIXED = SearchSpace.model_validate(
    {
        "parameters": [
            {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
            {"name": "layers", "type": "int", "low": 1, "high": 6},
            {"name": "width", "type": "int", "low": 8, "high": 512, "scale": "log"},
            {"name": "act", "type": "categorical", "choices": ["relu", "tanh", "gelu"]},
        ]
    }
)


def _history(space: SearchSpace, X: np.ndarray, y: np.ndarray, **kw: np.ndarray) -> History:
    empty = np.empty((0, space.dim))
    return History(
        space=space, X=X, y=y, X_failed=kw.get("X_failed", empty), X_pending=kw.get("X_pending", empty), seed=3
    )


def _quadratic_history(n: int = 12, seed: int = 0) -> History:
    X = np.random.default_rng(seed).random((n, 2))
    return _history(SPACE2, X, ((X - [0.7, 0.2]) ** 2).sum(1))


def _best_after(strategy: str, seed: int, rounds: int = 5, batch: int = 4) -> float:
    study = Study(SPACE2, strategy=strategy, seed=seed)
    best = np.inf
    for _ in range(rounds):
        for trial in study.ask(batch):
            value = (trial.params["a"] - 0.7) ** 2 + (trial.params["b"] - 0.2) ** 2
            best = min(best, value)
            study.tell(trial.id, value)
    return best


def test_beats_random_search_on_a_quadratic_by_a_clear_margin() -> None:
    bo = [_best_after("bayesian", seed) for seed in (1, 2)]
    rs = [_best_after("random", seed) for seed in (1, 2)]
    assert max(bo) < 1e-3
    assert np.median(bo) < 0.1 * np.median(rs)


def test_same_seed_and_history_give_the_same_points() -> None:
    history = _quadratic_history()
    strategy = BayesianOptimization()
    a = strategy.suggest(history, 4, np.random.default_rng([3, 12]))
    b = strategy.suggest(history, 4, np.random.default_rng([3, 12]))
    np.testing.assert_array_equal(a, b)


def test_a_batch_has_no_duplicates_and_keeps_away_from_pending_points() -> None:
    history = _quadratic_history()
    pending = np.array([[0.7, 0.2], [0.69, 0.21]])
    history = _history(SPACE2, history.X, history.y, X_pending=pending)
    points = BayesianOptimization().suggest(history, 8, np.random.default_rng(0))
    assert points.shape == (8, 2)
    pairwise = np.linalg.norm(points[:, None] - points[None], axis=2) + np.eye(8)
    assert pairwise.min() > 0.02  # spread out, not piled next to each other
    assert np.linalg.norm(points[:, None] - pending[None], axis=2).min() > 0.02
    assert np.linalg.norm(points[:, None] - history.X[None], axis=2).min() > 1e-3


def test_mixed_space_suggestions_are_valid_encodings() -> None:
    rng = np.random.default_rng(0)
    X = np.array([MIXED.round(x) for x in rng.random((15, MIXED.dim))])
    y = np.array([MIXED.decode(x)["layers"] + np.log(MIXED.decode(x)["lr"]) ** 2 for x in X])
    points = BayesianOptimization().suggest(_history(MIXED, X, y), 8, rng)
    assert len(points) == 8
    keys = {MIXED.key(MIXED.decode(x)) for x in points}
    assert len(keys) == 8
    assert not keys & {MIXED.key(MIXED.decode(x)) for x in X}
    for x in points:
        np.testing.assert_allclose(x, MIXED.round(x), atol=1e-12)
        assert x[-3:].sum() == 1.0 and set(x[-3:]) <= {0.0, 1.0}


def test_a_small_discrete_space_runs_out_instead_of_repeating() -> None:
    space = SearchSpace.model_validate(
        {
            "parameters": [
                {"name": "k", "type": "int", "low": 1, "high": 3},
                {"name": "c", "type": "categorical", "choices": ["x", "y"]},
            ]
        }
    )
    everything = [space.encode({"k": k, "c": c}) for k in (1, 2, 3) for c in ("x", "y")]
    X = np.array(everything[:4])
    points = BayesianOptimization().suggest(_history(space, X, np.arange(4.0)), 8, np.random.default_rng(0))
    assert sorted(space.key(space.decode(p)) for p in points) == sorted(
        space.key(space.decode(p)) for p in everything[4:]
    )
    none_left = BayesianOptimization().suggest(
        _history(space, np.array(everything), np.arange(6.0)), 8, np.random.default_rng(0)
    )
    assert len(none_left) == 0


def test_a_region_of_failures_is_avoided() -> None:
    # the objective improves towards a < 0.4, but every trial there crashed
    rng = np.random.default_rng(5)
    pts = rng.random((30, 2))
    ok, bad = pts[pts[:, 0] >= 0.4], pts[pts[:, 0] < 0.4]
    history = _history(SPACE2, ok, ok[:, 0] + (ok[:, 1] - 0.5) ** 2, X_failed=bad)
    points = BayesianOptimization().suggest(history, 8, np.random.default_rng(0))
    assert np.mean(points[:, 0] < 0.35) <= 0.25
    # without the failures the same strategy goes straight there
    blind = BayesianOptimization().suggest(_history(SPACE2, ok, history.y), 8, np.random.default_rng(0))
    assert np.mean(blind[:, 0] < 0.35) >= 0.5


def test_first_batch_is_an_initial_design_of_distinct_points() -> None:
    points = BayesianOptimization().suggest(
        _history(SPACE2, np.empty((0, 2)), np.empty(0)), 8, np.random.default_rng(0)
    )
    assert points.shape == (8, 2)
    assert len({tuple(p) for p in points}) == 8


def test_unknown_and_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError):
        BayesianOptimization(kappa=2)
    with pytest.raises(ValueError):
        BayesianOptimization(acquisition="magic")


def test_importing_the_strategy_does_not_import_scipy_stats() -> None:
    code = "import sys, hyperstep.strategies.bayesian; print('scipy.stats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_trust_region_box_is_around_the_incumbent_and_longer_where_the_model_is_smooth() -> None:
    from hyperstep.strategies.transforms import Projector

    space = SearchSpace.model_validate(
        {
            "parameters": [
                *({"name": f"x{i}", "type": "float", "low": 0, "high": 1} for i in range(5)),
                {"name": "c", "type": "categorical", "choices": ["a", "b"]},
            ]
        }
    )
    center = np.array([0.5, 0.5, 0.5, 0.5, 0.95, 1.0, 0.0])
    lengths = np.array([0.1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    lo, hi = BayesianOptimization()._trust_region(center, lengths, Projector(space))
    assert np.all(lo <= center) and np.all(center <= hi)
    assert np.all((lo >= 0) & (hi <= 1))
    assert hi[0] - lo[0] < 0.5 * (hi[1] - lo[1])  # short length scale: narrow side
    assert hi[1] - lo[1] < 1.0  # restricted...
    assert (lo[5], hi[5], lo[6], hi[6]) == (0.0, 1.0, 0.0, 1.0)  # ...but never a categorical
    lo, hi = BayesianOptimization(trust_region_dim=6)._trust_region(center, lengths, Projector(space))
    assert np.all(lo == 0.0) and np.all(hi == 1.0)  # too few numeric dimensions: the whole cube


def test_the_local_search_flips_a_flag_the_model_prefers_at_its_other_value() -> None:
    """Six 0/1 int flags and a float; the incumbent has every flag at 0 and the model's mean is lowest
    with f0 at 1, f0's length scale short (it matters). The trust region's box along f0 (half-width
    0.3 x 0.25 around 0.25) did not reach 1's encoding (0.75): the local half of a batch could not
    flip the flag the model asks for (strat-18, benchmarks/results/s18_flags.md)."""
    from hyperstep.strategies.search import candidate_pool, far_from, maximize
    from hyperstep.strategies.transforms import Projector

    flags = [{"name": f"f{i}", "type": "int", "low": 0, "high": 1} for i in range(6)]
    space = SearchSpace.model_validate({"parameters": [*flags, {"name": "x", "type": "float", "low": 0, "high": 1}]})
    proj = Projector(space)
    incumbent = space.encode({**{f"f{i}": 0 for i in range(6)}, "x": 0.5})

    class Model:
        lengths = np.r_[0.05, np.ones(6)]

        def predict(self, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return (C[:, 0] < 0.5) + (C[:, 6] - 0.5) ** 2, np.full(len(C), 0.1)

    strategy = BayesianOptimization()
    box = strategy._trust_region(incumbent, Model.lengths, proj)
    score = strategy._score(Model(), None, 1.0, 1, np.empty((0, 7)), box, proj=proj)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        pool = candidate_pool(incumbent[None], box, proj, rng)
        found = maximize(pool[far_from(pool, incumbent[None], proj)], score, incumbent[None], proj, rng)
        assert found is not None
        assert space.decode(found)["f0"] == 1
        assert box[0][6] > 0.0 and box[1][6] < 1.0  # the float stays confined to the box


def test_fine_perturbations_still_move_a_chosen_integer_by_one_step() -> None:
    from hyperstep.strategies.search import perturb
    from hyperstep.strategies.transforms import Projector

    proj = Projector(MIXED)
    start = MIXED.encode({"lr": 0.01, "layers": 3, "width": 64, "act": "tanh"})
    moved = perturb(np.repeat(start[None], 400, axis=0), 0.003, proj, np.random.default_rng(0))
    layers = np.array([MIXED.decode(x)["layers"] for x in moved])
    assert set(layers) == {2, 3, 4}  # one step either way, never stuck at tiny scales
    assert np.mean(layers != 3) > 0.1
    for x in moved:
        np.testing.assert_allclose(x, MIXED.round(x), atol=1e-12)  # still valid encodings


def test_the_acquisition_search_reaches_the_peak_of_a_wide_integer_lattice() -> None:
    """Six integers of 101 values: random perturbations of a few coordinates rarely hit the peak exactly."""
    from hyperstep.strategies.search import maximize
    from hyperstep.strategies.transforms import Projector

    space = SearchSpace.model_validate(
        {"parameters": [{"name": f"n{i}", "type": "int", "low": 0, "high": 100} for i in range(6)]}
    )
    target = np.array([3, 97, 41, 60, 12, 88])
    decode = np.vectorize(lambda u: round(-0.5 + u * 101))  # linear integers: the lattice value ``u`` encodes

    def score(C: np.ndarray) -> np.ndarray:
        return -np.abs(decode(C) - target).sum(1).astype(float)  # separable, peak at ``target``

    proj = Projector(space)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        pool = proj(rng.random((300, 6)))
        found = maximize(pool, score, np.empty((0, 6)), proj, rng)
        assert found is not None
        assert [space.decode(found)[f"n{i}"] for i in range(6)] == target.tolist()


def test_a_converged_basin_is_marked_exhausted_and_a_fresh_one_is_not() -> None:
    from hyperstep.strategies.gp import GaussianProcess, PoolPosterior

    rng = np.random.default_rng(0)
    strategy = BayesianOptimization()
    pool = rng.random((500, 2))
    for n_near, exhausted in ((60, True), (0, False)):
        X = np.r_[rng.random((15, 2)), np.clip([0.7, 0.2] + 0.05 * rng.standard_normal((n_near, 2)), 0, 1)]
        y = ((X - [0.7, 0.2]) ** 2).sum(1)
        y = (y - y.mean()) / y.std()
        model = GaussianProcess.fit(X, y, rng)
        best = float(model.predict(X)[0].min())
        basin = strategy._exhausted_basin(model, PoolPosterior(model, pool), X[int(np.argmin(y))], best)
        assert (basin is not None) == exhausted


def test_the_trust_region_halves_after_batches_without_improvement() -> None:
    from hyperstep.strategies.bayesian import _batches_since_best

    y = np.r_[5.0, 4.0, 1.0, np.full(40, 2.0)]
    assert _batches_since_best(y, 8) == 5
    assert _batches_since_best(np.r_[y, 0.5], 8) == 0
    space = SearchSpace.model_validate(
        {"parameters": [{"name": f"x{i}", "type": "float", "low": 0, "high": 1} for i in range(5)]}
    )
    from hyperstep.strategies.transforms import Projector

    center, lengths = np.full(5, 0.5), np.ones(5)
    full = BayesianOptimization()._trust_region(center, lengths, Projector(space))
    half = BayesianOptimization()._trust_region(center, lengths, Projector(space), 0.5)
    np.testing.assert_allclose(half[1] - half[0], 0.5 * (full[1] - full[0]))


def test_far_from_gives_the_same_mask_through_the_k_d_tree_as_through_every_pair(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A long job's history (thousands of seen rows) goes through the tree: same answer, near
    duplicates (within the tolerance, on one coordinate or all) and exact repeats included."""
    from hyperstep.strategies import search
    from hyperstep.strategies.transforms import FLOAT_RESOLUTION, Projector

    floats = [{"name": f"p{i}", "type": "float", "low": 0, "high": 1} for i in range(10)]
    proj = Projector(SearchSpace.model_validate({"parameters": floats}))
    rng = np.random.default_rng(5)
    seen = rng.random((3000, 10))
    C = rng.random((600, 10))
    C[:50] = seen[:50]  # repeats
    C[50:100] = seen[50:100] + 0.4 * FLOAT_RESOLUTION  # within the resolution
    C[100:150, 1:] = seen[100:150, 1:]  # same but for one coordinate: far
    by_tree = search.far_from(C, seen, proj)
    monkeypatch.setattr(search, "DENSE_PAIRS", 10**12)
    every_pair = search.far_from(C, seen, proj)
    assert (by_tree == every_pair).all()
    assert not by_tree[:100].any() and by_tree[100:].all()


def test_batch_penalty_is_the_same_as_every_pair_at_once() -> None:
    """The per-avoided-point loop gives bit-identical penalties to the all-pairs broadcast
    (random candidates, some inside the radius of an avoided point, some outside)."""
    import math

    from hyperstep.strategies.search import BATCH_RADIUS, batch_penalty

    rng = np.random.default_rng(11)
    for dim, n_avoid in [(1, 1), (3, 2), (10, 7), (24, 15)]:
        avoid = rng.random((n_avoid, dim))
        C = rng.random((500, dim))
        C[:100] = avoid[rng.integers(0, n_avoid, 100)] + rng.normal(0.0, 0.01, (100, dim))
        radius = BATCH_RADIUS * math.sqrt(dim)
        dist = np.sqrt(((C[:, None, :] - avoid[None]) ** 2).sum(2).min(1))
        expected = 1e6 * np.maximum(0.0, 1.0 - dist / radius)
        got = batch_penalty(C, avoid)
        assert np.array_equal(got, expected)
        assert (got[:100] > 0).any() and (got == 0).any()
    assert np.array_equal(batch_penalty(C, np.empty((0, C.shape[1]))), np.zeros(len(C)))


def test_a_failure_enters_the_objective_model_only_where_it_would_draw_the_search() -> None:
    """A failure the model (fitted on the trials that ran) predicts worse than the best trial
    stays out of the objective's GP; one it predicts better than every trial goes in at the
    worst value, so the objective alone no longer leads the search there."""
    from hyperstep.strategies.bayesian import _add_attractive_failures
    from hyperstep.strategies.gp import GaussianProcess

    rng = np.random.default_rng(2)
    X = rng.uniform(0.3, 1.0, (20, 2))
    yw = X[:, 0] + X[:, 1]  # improves towards the origin, where nothing ran
    yw = (yw - yw.mean()) / yw.std()
    model = GaussianProcess.fit(X, yw, rng)
    lone, drawn = np.array([[0.95, 0.95]]), np.array([[0.05, 0.05]])
    assert model.predict(lone)[0][0] > yw.min() and model.predict(drawn)[0][0] < yw.min()
    ok = np.ones(len(X), dtype=bool)
    X2, y2, ok2, model2 = _add_attractive_failures(model, X, yw, ok, np.vstack([lone, drawn]))
    assert len(X2) == len(X) + 1 and (X2[-1] == drawn[0]).all()
    assert y2[-1] == yw.max() and not ok2[-1] and ok2[:-1].all()
    assert model2.predict(drawn)[0][0] > yw.max() - 0.5  # now predicted bad
    np.testing.assert_allclose(model2.theta, model.theta)
    same = _add_attractive_failures(model, X, yw, ok, lone)
    assert same[3] is model and len(same[0]) == len(X)


def test_the_failure_classifier_counts_twice_in_the_single_objective_acquisition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``suggest`` builds the classifier with ``FAILURE_WEIGHT``, which multiplies its log probability."""
    from hyperstep.strategies import bayesian

    rng = np.random.default_rng(4)
    pts = rng.random((20, 2))
    history = _history(SPACE2, pts[:15], pts[:15, 0], X_failed=pts[15:])
    once = BayesianOptimization()._feasibility(history, np.random.default_rng(0))
    twice = BayesianOptimization()._feasibility(history, np.random.default_rng(0), 2.0)
    C = rng.random((50, 2))
    np.testing.assert_allclose(twice.log_prob(C), 2.0 * once.log_prob(C))
    weights: list[float] = []
    built = BayesianOptimization._feasibility

    def recorded(self: BayesianOptimization, history: History, rng: np.random.Generator, weight: float = 1.0) -> Any:
        weights.append(weight)
        return built(self, history, rng, weight)

    monkeypatch.setattr(BayesianOptimization, "_feasibility", recorded)
    BayesianOptimization().suggest(history, 2, np.random.default_rng(0))
    assert weights and set(weights) == {bayesian.FAILURE_WEIGHT} and bayesian.FAILURE_WEIGHT > 1


def _regions_scored(monkeypatch: pytest.MonkeyPatch, offset: int, n: int) -> list[tuple[bool, int]]:
    """For each point ``suggest`` chooses on a 6-d bowl: whether its acquisition was confined to a
    box smaller than the cube (the trust region), and the ensemble member (``_score``'s ``i``)."""
    calls: list[tuple[bool, int]] = []
    original = BayesianOptimization._score

    def spy(
        self: BayesianOptimization, model: Any, feasible: Any, best: float, i: int, avoid: Any, box: Any, *rest: Any
    ) -> Any:
        calls.append((bool(np.any(box[0] > 0.0) or np.any(box[1] < 1.0)), i))
        return original(self, model, feasible, best, i, avoid, box, *rest)

    monkeypatch.setattr(BayesianOptimization, "_score", spy)
    space = SearchSpace.model_validate(
        {"parameters": [{"name": f"x{i}", "type": "float", "low": 0, "high": 1} for i in range(6)]}
    )
    X = np.random.default_rng(1).random((20, 6))
    empty = np.empty((0, 6))
    history = History(
        space=space, X=X, y=((X - 0.4) ** 2).sum(1), X_failed=empty, X_pending=empty, seed=3, offset=offset
    )
    BayesianOptimization().suggest(history, n, np.random.default_rng(0))
    return calls


def test_one_point_at_a_time_alternates_global_and_trust_region_asks_when_given_an_offset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Model-based early stopping asks one trial at a time: the batch's global/local hedge goes on
    across asks (``History.offset``); a plain call (offset 0) is a batch of its own, as before."""
    assert _regions_scored(monkeypatch, 0, 1) == [(False, 0)]  # one point: global log-EI, as always
    assert _regions_scored(monkeypatch, 1, 1) == [(True, 0)]  # the next ask: in the box, by log-EI
    assert _regions_scored(monkeypatch, 2, 1) == [(False, 0)]
    assert _regions_scored(monkeypatch, 0, 2) == [(False, 0), (True, 1)]  # a batch: unchanged
    assert _regions_scored(monkeypatch, 1, 2) == [(True, 0), (False, 1)]


SPACE10 = SearchSpace.model_validate(
    {"parameters": [{"name": f"x{i}", "type": "float", "low": 0, "high": 1} for i in range(10)]}
)


def test_the_initial_design_is_at_most_a_quarter_of_a_known_budget() -> None:
    from hyperstep.strategies.bayesian import initial_design_size

    assert initial_design_size(10, None) == 10  # unknown budget: min(2 * dim + 1, 10)
    assert initial_design_size(10, 10) == 3  # at least 3
    assert initial_design_size(10, 20) == 5
    assert initial_design_size(10, 40) == 10  # never more than without a budget
    assert initial_design_size(2, 8) == 3
    assert initial_design_size(2, 100) == 5


def test_with_a_budget_of_12_the_model_proposes_after_3_trials_in_10_dimensions() -> None:
    X = np.random.default_rng(0).random((3, 10))
    history = _history(SPACE10, X, ((X - 0.3) ** 2).sum(1))
    sobol = BayesianOptimization().propose(history, 2, np.random.default_rng(0))
    assert sobol.expected_improvement is None  # budget unknown: 10 Sobol' points first
    known = BayesianOptimization().propose(replace(history, budget=12), 2, np.random.default_rng(0))
    assert known.expected_improvement is not None  # the model chose them


def test_study_ask_tells_the_strategy_the_budget() -> None:
    def run(max_trials: int | None) -> list[float | None]:
        study = Study(SPACE10, seed=1)
        for _ in range(2):
            for trial in study.ask(2, max_trials=max_trials):
                study.tell(trial.id, sum(v * v for v in trial.params.values()))
        return [t.expected_improvement for t in study.ask(2, max_trials=max_trials)]

    assert run(None) == [None, None]
    assert all(ei is not None for ei in run(12))


def test_the_model_fantasizes_at_most_max_model_points_pending_trials_the_nearest_the_incumbent(
    conditioned: list[np.ndarray],
) -> None:
    """``Study.ask(1)`` after an ``ask(1000)`` not yet told took 13-17 s: the GP was conditioned
    on every pending trial (a Cholesky factor of a 1,020-point kernel, several times). It now
    takes the ``max_model_points`` pending trials nearest the incumbent; the others still
    count as seen. Fewer pending trials than that are all taken, as before."""
    history = _quadratic_history(12)
    incumbent = history.X[int(np.argmin(history.y))]
    pending = np.random.default_rng(1).random((60, 2))
    BayesianOptimization(max_model_points=20).suggest(replace(history, X_pending=pending), 1, np.random.default_rng(0))
    nearest = pending[np.sort(np.argsort(np.linalg.norm(pending - incumbent, axis=1))[:20])]
    np.testing.assert_array_equal(conditioned[0], nearest)
    conditioned.clear()
    BayesianOptimization(max_model_points=20).suggest(
        replace(history, X_pending=pending[:15]), 1, np.random.default_rng(0)
    )
    np.testing.assert_array_equal(conditioned[0], pending[:15])
