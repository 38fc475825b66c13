"""Model-based early stopping: the strategy learns from every rung's results (issue 9)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import hyperstep
from hyperstep.models import TrialState
from hyperstep.schedulers.curves import held, predict
from hyperstep.schedulers.fidelity import levels, rung_observations
from hyperstep.study import history_of

SPACE = hyperstep.SearchSpace.model_validate({"parameters": [{"name": "rate", "type": "float", "low": 0, "high": 1}]})
ASHA = {"name": "asha", "min_resource": 1, "max_resource": 27, "reduction_factor": 3}


def run(study: hyperstep.Study, curve, n: int) -> None:
    """The issue's ask/report/tell loop for ``n`` trials, one at a time."""
    for _ in range(n):
        trial = study.ask(1)[0]
        for step in range(1, 28):
            value = curve(trial.params, step)
            if study.report(trial.id, step, value):
                study.tell(trial.id, value, state="stopped")
                break
        else:
            study.tell(trial.id, value)


def simple(params: dict, step: int) -> float:
    return params["rate"] + 1.0 / step


def test_rung_observations_rank_lower_rungs_onto_the_top_rungs_scale() -> None:
    steps = levels(1, 9, 3)
    assert steps == [1, 3, 9]
    curves = {0: {1: 5.0, 3: 4.0, 9: 1.0}, 1: {1: 6.0, 3: 5.0, 9: 2.0}, 2: {1: 7.0}, 3: {1: 9.0}, 4: {1: 5.5, 3: 6.0}}
    out = rung_observations(curves, {0: 1.0, 1: 2.0}, steps)
    assert out[0] == 1.0 and out[1] == 2.0  # completed: as told
    # rung 3 holds 0, 1, 4 (4 worst: quantile 5/6); rung 1 holds all (2: 4th of 5, 3: 5th of 5)
    assert out[4] == pytest.approx(np.quantile([1.0, 2.0], 5 / 6))
    assert out[2] == pytest.approx(np.quantile([1.0, 2.0], 3.5 / 5)) and out[3] == pytest.approx(
        np.quantile([1.0, 2.0], 0.9)
    )
    assert out[2] < out[3]


def test_rung_observations_before_two_trials_complete_use_the_highest_rung_with_two() -> None:
    curves = {0: {1: 5.0, 3: 4.0, 9: 1.0}, 1: {1: 6.0, 3: 5.0}, 2: {1: 7.0}}
    out = rung_observations(curves, {0: 1.0}, [1, 3, 9])
    assert out[0] == 4.0 and out[1] == 5.0  # the reference is rung 3: trial 0 counts with its value there
    assert 4.0 <= out[2] <= 5.0 and out[2] == pytest.approx(np.quantile([4.0, 5.0], 2.5 / 3))


def test_with_early_stopping_pruned_and_running_trials_reach_the_history() -> None:
    study = hyperstep.Study(SPACE, goal="minimize", strategy="evolutionary", seed=0, early_stopping=ASHA)
    run(study, simple, 10)
    running = study.ask(1)[0]
    study.report(running.id, 1, simple(running.params, 1))
    trials = study.trials
    pruned = [t for t in trials if t.state is TrialState.PRUNED]
    completed = [t for t in trials if t.state is TrialState.COMPLETED]
    assert pruned and completed

    learned = history_of(SPACE, trials, True, fidelity=study.fidelity_levels)
    assert len(learned.y) == len(trials)  # every trial: pruned, completed and the running one
    assert len(learned.X_pending) == 0
    finals = sorted(float(t.value) for t in completed)  # type: ignore[arg-type]
    assert set(finals) <= set(learned.y.tolist())
    assert all(finals[0] <= y <= finals[-1] for y in learned.y)  # on the top rung's scale
    ranks = np.argsort(np.argsort(learned.X[:, 0])), np.argsort(np.argsort(learned.y))
    assert np.corrcoef(*ranks)[0, 1] > 0.6  # lower rate, lower curve everywhere: the order mostly survives

    old = history_of(SPACE, trials, True)  # what the strategy saw before: completed trials only
    assert len(old.y) == len(completed)
    assert len(old.X_pending) == 1 + len(pruned)  # the running trial, and the pruned ones not to propose again


def test_without_early_stopping_or_model_based_the_history_is_unchanged() -> None:
    plain = hyperstep.Study(SPACE, goal="minimize", strategy="random", seed=0)
    assert plain.fidelity_levels is None
    off = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping={**ASHA, "model_based": False})
    assert off.fidelity_levels is None
    run(plain, simple, 4)
    running = plain.ask(1)[0]
    plain.report(running.id, 3, 0.5)
    history = history_of(SPACE, plain.trials, True, fidelity=plain.fidelity_levels)
    assert sorted(history.y.tolist()) == sorted(float(t.value) for t in plain.trials if t.value is not None)
    assert len(history.X_pending) == 1


TWO_D = hyperstep.SearchSpace.model_validate(
    {
        "parameters": [
            {"name": "a", "type": "float", "low": 0, "high": 1},
            {"name": "b", "type": "float", "low": 0, "high": 1},
        ]
    }
)


def learning(params: dict, step: int) -> float:
    """A learning curve whose final value is least near (a, b) = (0.65, 0.3), 0.1612 there."""
    final = (params["a"] - 0.7) ** 2 + (params["b"] - 0.3) ** 2
    return final + 0.5 / math.sqrt(step) * (1 + params["a"])


OPTIMUM = 0.1612


def final_best(study: hyperstep.Study) -> float:
    return min(learning(t.params, 27) for t in study.trials if t.state is TrialState.COMPLETED)


def test_model_based_early_stopping_finds_a_good_config_on_a_learning_curve_problem() -> None:
    """Over six seeds: learning from the pruned trials, it finds the optimum every time, and
    its mean regret is well under that of the same search fed only the completed trials."""
    model_regrets, blind_regrets = [], []
    for seed in range(6):
        model = hyperstep.Study(TWO_D, strategy="bayesian", seed=seed, early_stopping=ASHA)
        blind = hyperstep.Study(TWO_D, strategy="bayesian", seed=seed, early_stopping={**ASHA, "model_based": False})
        run(model, learning, 30)
        run(blind, learning, 30)
        model_regrets.append(final_best(model) - OPTIMUM)
        blind_regrets.append(final_best(blind) - OPTIMUM)
    assert max(model_regrets) < 0.005
    assert sum(model_regrets) < 0.5 * sum(blind_regrets)


def test_rung_observations_leave_out_a_rung_whose_ranking_crosses_the_reference() -> None:
    """Six completed trials rank one way at rung 1 and the other way at the end: a trial
    best at rung 1 would be read as the best final value; the crossing rung gives nothing."""
    steps = [1, 3, 9]
    finals = {i: 1.0 - 0.1 * i for i in range(6)}
    curves = {i: {1: 0.1 * i, 3: 0.1 * i} for i in range(6)}
    out = rung_observations({**curves, 6: {1: 0.0}}, finals, steps)
    assert 6 not in out and out == finals
    agreeing = {i: 0.1 * i for i in range(6)}
    out = rung_observations({**curves, 6: {1: 0.0}}, agreeing, steps)
    assert out[6] == pytest.approx(np.quantile(sorted(agreeing.values()), 1.0 / 7))  # tied first of 7 at rung 1


def test_with_extrapolation_a_stopped_trial_counts_with_the_final_its_curve_predicts() -> None:
    # crossing curves: rung 1 ranks the finished trials against their finals, so a trial
    # stopped at rung 1 or 3 teaches nothing by rank; its power law's final still does
    finished = {i: {1: 0.1 * i, 3: 0.1 * i, 9: 0.1 * i, 27: 1.0 - 0.1 * i} for i in range(6)}
    finals = {i: 1.0 - 0.1 * i for i in range(6)}
    stopped = {s: 0.6 + 0.3 * s**-1.0 for s in (1, 2, 3)}  # heading to 0.6 + 0.3/27
    curves = {**finished, 6: stopped, 7: {1: 0.95}}
    plain = rung_observations(curves, finals, [1, 3, 9, 27])
    assert 6 not in plain and 7 not in plain
    out = rung_observations(curves, finals, [1, 3, 9, 27], extrapolate=True)
    assert out[6] == pytest.approx(0.6 + 0.3 / 27, abs=2e-3)  # the fit on its grid of exponents
    assert 7 not in out  # one step: no curve to fit
    assert all(out[i] == finals[i] for i in finals)


def test_a_study_with_the_curve_model_extrapolates_and_one_without_does_not() -> None:
    with_model = hyperstep.Study(SPACE, strategy="evolutionary", seed=0, early_stopping=ASHA)
    without = hyperstep.Study(SPACE, strategy="evolutionary", seed=0, early_stopping={**ASHA, "curve_model": False})
    assert with_model.extrapolates and not without.extrapolates
    reads_nothing = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping=ASHA)
    assert not reads_nothing.extrapolates  # it reads no result: nothing to extrapolate for


def plateau(step: int, floor: float, drop: float = 12.0) -> float:
    """A curve flat near 1.0 until about ``drop``, then down to ``floor`` (not a power law)."""
    return floor + (1.0 - floor) / (1.0 + (step / drop) ** 4)


def test_power_law_predictions_hold_on_power_laws_and_not_on_late_drops() -> None:
    power_laws = [{s: 0.1 * i + 0.5 * s**-0.7 for s in range(1, 28)} for i in range(8)]
    drops = [{s: plateau(s, 0.1 + 0.02 * i) for s in range(1, 28)} for i in range(8)]
    assert held(power_laws, 3, 1 / 3) and held(power_laws, 9, 1 / 3)
    assert not held(drops, 3, 1 / 3) and not held(drops, 9, 1 / 3)
    assert held(drops[:5], 3, 1 / 3)  # fewer than six curves: nothing known, trusted
    # a trial stopped at 9 shows a miss from 3 steps too (its value at 9, below the prediction)
    stopped = [{s: plateau(s, 0.1, drop=6.0) for s in range(1, 10)} for _ in range(6)]
    assert not held(stopped, 3, 1 / 3)


def test_a_stopped_trial_is_not_extrapolated_where_the_power_law_failed_on_the_finished_trials() -> None:
    """Six finished trials dropped late to low finals that their first three steps' power law
    put far above: a stopped trial's three flat steps say nothing of its final value, so it
    is read by its rank at rung 3 (best there: the best quantile), not as a final near 1."""
    finished = {i: {s: plateau(s, 0.1 + 0.02 * i) + 0.001 * i for s in range(1, 28)} for i in range(6)}
    finals = {i: c[27] for i, c in finished.items()}
    stopped = {s: plateau(s, 0.1) - 0.01 for s in (1, 2, 3)}
    steps = [1, 3, 9, 27]
    out = rung_observations({**finished, 6: stopped}, finals, steps, extrapolate=True)
    assert out[6] == pytest.approx(np.quantile(sorted(finals.values()), 0.5 / 7))
    # where the power law held (the same finished values, power-law curves), it is extrapolated
    laws = {i: {s: finals[i] + 0.9 * s**-0.5 for s in range(1, 28)} for i in range(6)}
    out = rung_observations({**laws, 6: stopped}, finals, steps, extrapolate=True)
    heading = predict(stopped, 27)
    highest = max(v for c in laws.values() for v in c.values())
    assert heading is not None and out[6] == pytest.approx(min(heading.mean, highest))
