"""What an ask derives from every trial's curve for the strategy (model-based early stopping,
``schedulers.fidelity``) is kept while the curve holds the same points (``schedulers.base.FACTS``),
and a power law's fit of a curve's steps is made once for any step it is asked to predict: an
ask's cost no longer grows with the trials that did not change (perf-23). Every answer is the
one fcc7883's code gave (its functions are here as the reference)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperstep.models import Trial, TrialState
from hyperstep.schedulers import base, curves
from hyperstep.schedulers.base import FactsMemo, agrees, mid_ranks
from hyperstep.schedulers.curves import EXPONENTS, MIN_POINTS, PLAUSIBLE, TOLERANCE, ZOOMS, Prediction
from hyperstep.schedulers.fidelity import MIN_REFERENCE, MISSES, levels, rung_observations
from hyperstep.space import SearchSpace
from hyperstep.study_history import history_of

# fcc7883's power-law prediction (``curves._predict``): a fit at each target


def reference_fits(steps: np.ndarray, values: np.ndarray, exponents: np.ndarray, target: int) -> Any:
    powers = steps[None, :] ** -exponents[:, None]
    centred = powers - powers.mean(axis=1, keepdims=True)
    slope = centred @ (values - values.mean()) / np.sum(centred**2, axis=1)
    intercept = values.mean() - slope * powers.mean(axis=1)
    residuals = np.sum((intercept[:, None] + slope[:, None] * powers - values[None, :]) ** 2, axis=1)
    return intercept + slope * float(target) ** -exponents, residuals


def reference_refined(
    steps: np.ndarray, values: np.ndarray, grid: np.ndarray, residuals: np.ndarray, target: int
) -> Any:
    all_finals, all_residuals = [], []
    for _ in range(ZOOMS):
        grid = curves._zoomed(grid, residuals)
        finals, residuals = reference_fits(steps, values, grid, target)
        all_finals.append(finals)
        all_residuals.append(residuals)
    return float(finals[int(np.argmin(residuals))]), np.concatenate(all_finals), np.concatenate(all_residuals)


def reference_predict(curve: Mapping[int, float], target: int) -> Prediction | None:
    steps_ = tuple(sorted(s for s in curve if s > 0))
    if len(steps_) < MIN_POINTS or steps_[-1] >= target:
        return None
    values_ = tuple(float(curve[s]) for s in steps_)
    if not all(math.isfinite(v) for v in values_):
        return None
    steps, values = np.array(steps_, dtype=float), np.array(values_, dtype=float)
    finals, residuals = reference_fits(steps, values, EXPONENTS, target)
    fine = curves._zoomed(EXPONENTS, residuals)
    fine_finals, fine_residuals = reference_fits(steps, values, fine, target)
    mean, zoomed_finals, zoomed_residuals = reference_refined(steps, values, fine, fine_residuals, target)
    finals, residuals = np.concatenate([finals, fine_finals]), np.concatenate([residuals, fine_residuals])
    if len(steps) > MIN_POINTS:
        finals, residuals = np.concatenate([finals, zoomed_finals]), np.concatenate([residuals, zoomed_residuals])
    best = float(residuals.min())
    plausible = residuals <= PLAUSIBLE * best + TOLERANCE * (1.0 + float(np.sum(values**2)))
    span = np.append(finals[plausible], mean)
    bounded = not (values[-1] < values[0] and curves._line_residual(steps, values) <= best)
    return Prediction(mean=mean, low=float(span.min()), high=float(span.max()), bounded=bounded)


# fcc7883's rung observations: every curve read and fitted again at every ask


def reference_held(given: list[Mapping[int, float]], depth: int, ratio: float) -> bool:
    checks = [c for c in given if [s for s in c if s > 0] and max(s for s in c if s > 0) > depth]
    misses = seen = 0
    for curve in checks[-curves.MAX_CHECKS :]:
        newest = max(curve)
        heading = reference_predict({s: v for s, v in curve.items() if s <= depth}, newest)
        if heading is None:
            continue
        seen += 1
        value = float(curve[newest])
        misses += value < heading.low - curves.MISS_TOLERANCE * (1.0 + abs(value))
    return seen < curves.MIN_CHECKS or misses <= ratio * seen


def reference_observations(
    given: Mapping[int, Mapping[int, float]], finals: Mapping[int, float], steps: list[int], extrapolate: bool
) -> dict[int, float]:
    top = steps[-1]
    by_step: dict[int, dict[int, float]] = {}
    for step in steps:
        reached = {n: base.value_at(c, step) for n, c in given.items() if c and (n not in finals or step < top)}
        by_step[step] = {n: v for n, v in reached.items() if v is not None}
    by_step[top].update(finals)
    by_step = {step: values for step, values in by_step.items() if values}
    if extrapolate:
        seen = [v for c in given.values() for v in c.values()] + list(finals.values())
        heading = {}
        if seen:
            low, high, ordered, trusted = min(seen), max(seen), [given[n] for n in sorted(given)], {}
            for number, curve in given.items():
                predicted = None if number in finals or not curve else reference_predict(curve, top)
                if predicted is None:
                    continue
                depth = max(curve)
                if depth not in trusted:
                    trusted[depth] = reference_held(ordered, depth, MISSES)
                if trusted[depth] and math.isfinite(predicted.mean):
                    heading[number] = min(high, max(low, predicted.mean))
        if heading:
            by_step[top] = {**by_step.get(top, {}), **heading}
    if not by_step:
        return {}
    reference = max((s for s, vs in by_step.items() if len(vs) >= MIN_REFERENCE), default=max(by_step))
    scale = np.sort(np.fromiter(by_step[reference].values(), dtype=float))
    out = dict(by_step[reference])
    for step in sorted(by_step, reverse=True):
        if step >= reference:
            for number, value in by_step[step].items():
                out.setdefault(number, value)
            continue
        numbers = [n for n in by_step[step] if n not in out]
        both = [(v, by_step[reference][n]) for n, v in by_step[step].items() if n in by_step[reference]]
        if numbers and agrees(both):
            values = np.fromiter(by_step[step].values(), dtype=float)
            q = dict(zip(by_step[step], (mid_ranks(values) + 0.5) / len(values)))
            out.update({n: float(np.quantile(scale, q[n])) for n in numbers})
    return out


def random_curve(rng: np.random.Generator) -> dict[int, float]:
    """A curve as a trial leaves it: a power law, a late drop or noise, with gaps, ties, a
    point at step 0 sometimes, stopped anywhere up to 27."""
    top = int(rng.choice([1, 2, 3, 4, 5, 9, 10, 14, 26, 27]))
    steps = [s for s in range(int(rng.integers(0, 2)), top + 1) if rng.random() > 0.2 or s == top]
    floor, scale, slope = rng.uniform(0.05, 0.6), rng.uniform(0.1, 1.0), rng.uniform(0.1, 2.0)
    kind = int(rng.integers(4))
    out = {}
    for s in steps:
        if kind == 0:
            out[s] = floor + scale * max(s, 1) ** -slope
        elif kind == 1:
            out[s] = floor + (1.0 - floor) / (1.0 + (s / 8.0) ** 4)
        elif kind == 2:
            out[s] = round(float(rng.uniform(0.0, 1.0)), 1)
        else:
            out[s] = floor + scale * max(s, 1) ** -slope + float(rng.normal(0.0, 0.01))
    return out


def test_a_prediction_is_the_one_fitted_at_each_target() -> None:
    rng = np.random.default_rng(23)
    compared = 0
    for _ in range(400):
        curve = random_curve(rng)
        for target in (max(curve, default=0) + 1, 9, 27, 81):
            expected = reference_predict(curve, target)
            assert curves.predict(curve, target) == expected  # the same floats, to the bit
            compared += expected is not None
    assert compared > 300


def test_a_curves_first_steps_are_fitted_once_for_every_newer_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """``held`` checks a running trial's first steps against its newest one at every ask: the
    fit of those steps (every grid's least squares) does not depend on the step predicted."""
    curve = {s: 0.3 + 0.5 * s**-0.8 + 0.001 * (s % 2) for s in range(1, 4)}
    assert curves.predict(curve, 4) is not None
    fits: list[int] = []
    original = curves._fits
    monkeypatch.setattr(curves, "_fits", lambda *args: fits.append(1) or original(*args))
    for newest in range(5, 28):
        assert curves.predict(curve, newest) == reference_predict(curve, newest)
    assert fits == []  # before: five grids fitted again for each of the 23 steps


def counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the power-law predictions asked of ``curves.predict`` by any scheduler module."""
    calls: list[int] = []
    original = curves.predict

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    from hyperstep.schedulers import fidelity

    for module in (curves, base, fidelity):
        monkeypatch.setattr(module, "predict", counted, raising=False)
    return calls


def job(rng: np.random.Generator, n: int) -> tuple[dict[int, dict[int, float]], dict[int, float]]:
    given = {i: random_curve(rng) for i in range(n)}
    finals = {i: c[27] for i, c in given.items() if c and max(c) == 27 and rng.random() > 0.2}
    return given, finals


def test_rung_observations_over_kept_facts_are_those_read_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asks in turn over one job whose running curves grow, change in place or are read anew
    (DynamoDB builds every curve afresh; a warm Lambda keeps facts other invocations did not
    update), against a memo small enough to be forgotten on the way: each ask's observations
    are fcc7883's for the curves as they are."""
    monkeypatch.setattr(base, "FACTS", FactsMemo(points_kept=400))
    rng, steps = np.random.default_rng(9), levels(1, 27, 3)
    extrapolated = 0
    for _ in range(6):
        given, finals = job(rng, int(rng.integers(8, 40)))
        for _ask in range(8):
            keys = {n: ("job", n) for n in given}
            for extrapolate in (False, True):
                expected = reference_observations(given, finals, steps, extrapolate)
                assert rung_observations(given, finals, steps, extrapolate, trials=keys) == expected
            extrapolated += expected != reference_observations(given, finals, steps, False)
            for n in rng.choice(list(given), size=3):  # three trials move on, one is changed in place
                curve = given[int(n)]
                if n not in finals and curve and max(curve) < 27:
                    curve[max(curve) + 1] = curve[max(curve)] * float(rng.uniform(0.9, 1.0))
            changed = given[int(rng.integers(len(given)))]
            if changed:
                changed[min(changed)] += 0.05
            given = {n: dict(c) for n, c in given.items()}  # the next read: new objects, same points
    assert extrapolated > 10  # the curve model changed what most asks read


def trial(number: int, curve: dict[int, float], state: TrialState, value: float | None = None) -> Trial:
    return Trial(
        id=f"t{number}",
        job_id="job-1",
        number=number,
        params={"x": number / 100},
        state=state,
        curve=curve,
        value=value,
    )


def test_an_ask_fits_no_curve_that_did_not_change_since_the_one_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forty pruned trials and six finished ones, read again from the store (new objects, the
    same points): the second ask's history derives nothing again from them."""
    monkeypatch.setattr(base, "FACTS", FactsMemo())
    space = SearchSpace.model_validate({"parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}]})
    rng = np.random.default_rng(4)

    def listed() -> list[Trial]:
        stopped = [
            trial(n, {s: 0.4 + 0.01 * n + 0.5 * s**-0.6 for s in range(1, 4 + n % 6)}, TrialState.PRUNED)
            for n in range(40)
        ]
        done = [
            trial(40 + i, {s: 0.3 + 0.01 * i + 0.4 * s**-0.5 for s in range(1, 28)}, TrialState.COMPLETED)
            for i in range(6)
        ]
        done = [t.model_copy(update={"value": t.curve[27]}) for t in done]
        rng.shuffle(stopped)  # the listing's order does not matter: facts are kept by trial
        return sorted([*stopped, *done], key=lambda t: t.number)

    def ask() -> Any:
        return history_of(space, listed(), True, fidelity=levels(1, 27, 3), extrapolate=True)

    first = ask()
    calls = counting(monkeypatch)
    second = ask()
    assert np.array_equal(first.X, second.X) and np.array_equal(first.y, second.y)
    assert len(first.y) == 46
    assert calls == []  # before: each stopped trial's final fitted again, and 100 checks a depth


def test_a_rungs_trials_are_read_off_the_reference_scale_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forty trials stopped at rung 1 take their values off the finals' scale in one
    ``np.quantile`` call (before: one a trial, at every ask); the values are fcc7883's."""
    given = {i: {1: 0.5 + 0.01 * i, 3: 0.4 + 0.01 * i, 9: 0.3 + 0.01 * i, 27: 0.2 + 0.01 * i} for i in range(6)}
    given.update({10 + i: {1: 0.45 + 0.005 * i} for i in range(40)})
    finals = {i: given[i][27] for i in range(6)}
    expected = reference_observations(given, finals, levels(1, 27, 3), False)
    calls: list[int] = []
    quantile = np.quantile
    monkeypatch.setattr(np, "quantile", lambda *a, **k: calls.append(1) or quantile(*a, **k))
    assert rung_observations(given, finals, levels(1, 27, 3)) == expected
    assert len(expected) == 46 and calls == [1]


def test_an_ask_checks_the_newest_hundred_curves_past_a_depth() -> None:
    """``extrapolated`` trusts a depth by the newest ``MAX_CHECKS`` curves past it, as fcc7883's
    ``held`` did: 60 old trials whose curves dropped late (each a miss from 4 steps) and 90 newer
    power laws. The newest hundred hold 10 misses (trusted: the running trial's final is its
    prediction); all 150, or the oldest hundred, would hold 60 (not trusted). rev-f23: no test
    had more than 40 curves, so reading every curve, or the oldest ones, went unseen."""
    assert curves.MAX_CHECKS == 100
    old = {n: {s: 0.1 + 0.001 * n + 0.9 / (1.0 + (s / 12.0) ** 4) for s in range(1, 28)} for n in range(60)}
    new = {60 + n: {s: 0.2 + 0.001 * n + 0.5 * s**-0.7 for s in range(1, 28)} for n in range(90)}
    running = {150: {s: 0.25 + 0.5 * s**-0.7 for s in range(1, 5)}}
    given = {**running, **new, **old}  # listed newest first: the check goes by number, not by the listing
    finals = {n: c[27] for n, c in given.items() if n != 150}
    steps = levels(1, 27, 3)
    expected = reference_observations(given, finals, steps, True)
    got = rung_observations(given, finals, steps, extrapolate=True, trials={n: ("job", n) for n in given})
    assert got == expected
    heading = curves.predict(running[150], 27)
    assert heading is not None and got[150] == heading.mean  # trusted: the prediction, not a rung's rank


def test_an_ask_makes_no_running_curves_miss_when_the_older_curves_settle_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Thirty finished power laws and five running trials, the newest: at each running trial's
    depth the finished curves' misses (none) settle ``held`` whatever the running ones' would
    be, so no running curve's ``miss`` is made (perf-29: a running curve's is made again at
    every ask, its newest step having moved). Before, every checked curve's was made. The
    observations are fcc7883's."""
    monkeypatch.setattr(base, "FACTS", FactsMemo())
    done = {n: {s: 0.2 + 0.01 * n + 0.5 * s**-0.7 for s in range(1, 28)} for n in range(30)}
    running = {30 + n: {s: 0.25 + 0.01 * n + 0.5 * s**-0.7 for s in range(1, 5 + n)} for n in range(5)}
    given = {**done, **running}
    finals = {n: c[27] for n, c in done.items()}
    steps = levels(1, 27, 3)
    expected = reference_observations(given, finals, steps, True)
    made: list[int] = []
    miss = base.miss
    monkeypatch.setattr(base, "miss", lambda curve, depth: made.append(max(curve)) or miss(curve, depth))
    got = rung_observations(given, finals, steps, extrapolate=True, trials={n: ("job", n) for n in given})
    assert got == expected and set(running) <= set(got)
    assert made and set(made) == {27}  # the finished curves' only


@pytest.mark.parametrize("ratio", [0.0, 0.25, MISSES, 0.5, 1.0])
def test_held_reads_its_checks_until_the_verdict_is_known_and_gives_the_same_one(ratio: float) -> None:
    """``curves.held_in`` stops reading once the rest cannot change the verdict; on every list
    of up to 9 misses (a miss, none, or no prediction) its verdict is the definition's: fewer
    than ``MIN_CHECKS`` seen, or at most ``ratio`` of those seen missed."""
    settled_early = 0
    for length in range(10):
        for misses in itertools.product([True, False, None], repeat=length):
            seen = [m for m in misses if m is not None]
            expected = len(seen) < curves.MIN_CHECKS or sum(seen) <= ratio * len(seen)
            read: list[bool | None] = []
            assert curves.held_in((read.append(m) or m for m in misses), length, ratio) == expected
            settled_early += len(read) < length
    assert settled_early


def settled_after(misses: tuple[bool | None, ...], ratio: float) -> int:
    """The fewest of ``misses`` (oldest first) whose verdict no value of the rest changes: of
    the rest, ``k`` seen and all of them misses, or none (the extremes, for ``k`` from 0 to all)."""
    for read in range(len(misses)):
        seen = [m for m in misses[:read] if m is not None]
        verdicts = set()
        for k in range(len(misses) - read + 1):
            for tail in ([True] * k, [False] * k):
                every = seen + tail
                verdicts.add(len(every) < curves.MIN_CHECKS or sum(every) <= ratio * len(every))
        if len(verdicts) == 1:
            return read
    return len(misses)


@pytest.mark.parametrize("ratio", [0.0, 0.25, MISSES, 0.5, 1.0])
def test_held_makes_no_miss_past_those_that_settle_its_verdict(ratio: float) -> None:
    """Each ``miss`` is a curve fit (a running curve's made again at every ask): ``held_in``
    reads none past the fewest that settle the verdict. Before, it read one more (``zip``
    takes the next before the loop's test that returns)."""
    for length in range(10):
        for misses in itertools.product([True, False, None], repeat=length):
            read: list[bool | None] = []
            curves.held_in((read.append(m) or m for m in misses), length, ratio)
            assert len(read) == settled_after(misses, ratio), misses


@settings(max_examples=2_000, deadline=None)
@given(
    misses=st.lists(st.sampled_from([True, False, None]), max_size=curves.MAX_CHECKS),
    ratio=st.one_of(st.sampled_from([MISSES, 0.0, 1.0, math.nan, math.inf]), st.floats(allow_nan=True)),
)
def test_held_gives_the_definitions_verdict_on_any_checks_at_any_ratio(misses: list[bool | None], ratio: float) -> None:
    """As many checks as ``held`` reads (``MAX_CHECKS``), any ratio (NaN and infinities too):
    the verdict read early is the one read whole (ties at the threshold compare the same products)."""
    seen = [m for m in misses if m is not None]
    expected = len(seen) < curves.MIN_CHECKS or sum(seen) <= ratio * len(seen)
    assert curves.held_in(iter(misses), len(misses), ratio) == expected


def test_an_extrapolation_is_clipped_to_every_value_seen_finals_too() -> None:
    """A trial's extrapolated final stays within every value seen, curves' points and told
    finals alike (as fcc7883's): told finals below and above any curve's point widen the range
    (a rising curve's prediction is clipped at the top); a final's value told apart from its
    curve (a script's last line, not a step) is one of them. rev-f23: no test told a final
    outside the curves' points or had a prediction above them, so a range read off the curves
    alone, or an upper end at their lowest point, went unseen."""
    steps = levels(1, 27, 3)
    given = {n: {s: 0.5 + 0.01 * n + 0.3 * s**-0.7 for s in range(1, 28)} for n in range(8)}
    given[8] = {s: 0.9 - 0.3 * s**-0.7 for s in range(1, 5)}  # rising: heading above the rest
    given[9] = {s: 0.2 + 0.6 * s**-0.7 for s in range(1, 5)}  # heading below the other curves
    keys = {n: ("job", n) for n in given}
    for low, high in ((0.0, 2.0), (0.5, 0.85), (0.3, 0.95)):
        finals = {n: given[n][27] for n in range(6)} | {6: low, 7: high}
        expected = reference_observations(given, finals, steps, True)
        assert rung_observations(given, finals, steps, extrapolate=True, trials=keys) == expected
        for n in (8, 9):
            heading = curves.predict(given[n], 27)
            assert heading is not None
            seen = [v for c in given.values() for v in c.values()] + list(finals.values())
            assert expected[n] == min(max(seen), max(min(seen), heading.mean))


def test_an_ask_keeps_the_facts_of_a_parents_trials_apart_from_its_own_of_the_same_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A study's prior trials (its parents', ``warm_start``) are numbered from 0 as its own are:
    their facts are kept by job and number, so neither evicts the other's, and the second ask
    derives nothing again. rev-f23: keyed by number alone, each ask refitted both."""
    monkeypatch.setattr(base, "FACTS", FactsMemo())
    space = SearchSpace.model_validate({"parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}]})

    def listed() -> list[Trial]:
        own = [
            trial(n, {s: 0.4 + 0.01 * n + 0.5 * s**-0.6 for s in range(1, 4 + n % 6)}, TrialState.PRUNED)
            for n in range(12)
        ]
        parents = [
            t.model_copy(update={"job_id": "parent", "curve": {s: v + 0.2 for s, v in t.curve.items()}}) for t in own
        ]
        return [*parents, *own]

    def ask() -> Any:
        return history_of(space, listed(), True, fidelity=levels(1, 27, 3), extrapolate=True)

    first = ask()
    calls = counting(monkeypatch)
    second = ask()
    assert np.array_equal(first.y, second.y) and len(first.y) == 24
    assert calls == []


def test_an_ask_sets_its_running_trials_apart_from_the_observed_ones_in_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The running trials that are not observations stay points to avoid; which are is read off
    one set of the observations' ids: ``id`` is called about once a trial and a running one, not
    once an observation for each running trial (before: 40 running x 201 observed, over 8,000)."""
    from hyperstep import study_history

    space = SearchSpace.model_validate({"parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}]})
    stopped = [trial(n, {s: 0.4 + 0.001 * n + 0.5 * s**-0.6 for s in (1, 2, 3)}, TrialState.PRUNED) for n in range(200)]
    done = trial(200, {s: 0.3 + 0.4 * s**-0.5 for s in range(1, 28)}, TrialState.COMPLETED, value=0.3 + 0.4 * 27**-0.5)
    running = [trial(300 + n, {}, TrialState.RUNNING) for n in range(40)]
    calls: list[int] = []
    monkeypatch.setattr(study_history, "id", lambda o: calls.append(1) or id(o), raising=False)
    history = history_of(space, [*stopped, done, *running], True, fidelity=levels(1, 27, 3))
    assert len(history.y) == 201 and len(history.X_pending) == 40
    assert len(calls) < 4 * (201 + 40)
