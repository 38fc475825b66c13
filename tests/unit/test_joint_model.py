"""The model of the resource (``schedulers.joint``): one GP over (configuration, steps), MOBSTER's."""

from __future__ import annotations

import numpy as np
import pytest

import hyperstep
from hyperstep.schedulers.fidelity import levels
from hyperstep.schedulers.joint import acquisition_level, fit_joint, joint_observations, level_values
from hyperstep.study import history_of

STEPS = levels(1, 27, 3)  # [1, 3, 9, 27]
SPACE = hyperstep.SearchSpace.model_validate({"parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}]})
STOPPING = {"name": "asha", "min_resource": 1, "max_resource": 27, "reduction_factor": 3, "resource_model": "gp"}


def value(x: float, step: int) -> float:
    """Curves of one shape, shifted by the configuration: best near x = 0.3 at every step."""
    return (x - 0.3) ** 2 + 1.0 / step


def test_level_values_read_every_rung_reached_and_the_told_final_at_the_top() -> None:
    curves = {0: {1: 5.0, 2: 4.0, 3: 3.0}, 1: {s: 1.0 / s for s in range(1, 28)}}
    rows = level_values(curves, {1: 0.01}, STEPS)
    assert rows == [(0, 1, 5.0), (0, 3, 3.0), (1, 1, 1.0), (1, 3, 1 / 3), (1, 9, 1 / 9), (1, 27, 0.01)]


def test_the_acquisition_level_is_the_highest_with_enough_observations() -> None:
    rows = [(n, 1, 0.0) for n in range(5)] + [(n, 3, 0.0) for n in range(3)] + [(0, 27, 0.0)]
    assert acquisition_level(rows, STEPS, threshold=3) == 3
    assert acquisition_level(rows, STEPS, threshold=1) == 27
    assert acquisition_level(rows, STEPS, threshold=6) == 1  # below the threshold everywhere: the lowest


def test_the_posterior_at_max_resource_learns_from_low_rungs() -> None:
    """Three trials completed away from the optimum; trials stopped at rung 1 show the dip at
    x = 0.3. With them, the joint GP expects x = 0.3 to end below every completed final; from
    the completed trials alone (final values only, as a GP over x sees) it does not."""
    done = [0.0, 0.6, 1.0]
    stopped = [0.2, 0.25, 0.3, 0.35, 0.4, 0.8]
    points = {n: np.array([x]) for n, x in enumerate(done + stopped)}
    finals = [(n, s, value(x, s)) for n, x in enumerate(done) for s in STEPS]
    early = [(n + len(done), 1, value(x, 1)) for n, x in enumerate(stopped)]
    query = np.array([[0.3]])

    with_rungs = fit_joint(points, finals + early, STEPS, seed=0)
    completed_finals = [with_rungs.warped[(n, 27)] for n in range(len(done))]
    assert with_rungs.predict(query, 27)[0] < min(completed_finals)

    finals_only = fit_joint(points, [row for row in finals if row[1] == 27], STEPS, seed=0)
    alone = [finals_only.warped[(n, 27)] for n in range(len(done))]
    assert finals_only.predict(query, 27)[0] > min(alone)


def test_joint_observations_are_deterministic_for_a_seed_and_cover_every_trial() -> None:
    rng = np.random.default_rng(1)
    xs = rng.random(12)
    points = {n: np.array([x]) for n, x in enumerate(xs)}
    curves = {n: {s: value(x, s) for s in range(1, 1 + (27 if n < 4 else 3 if n < 8 else 1))} for n, x in enumerate(xs)}
    finals = {n: curves[n][27] for n in range(4)}
    first = joint_observations(points, curves, finals, STEPS, seed=5)
    assert first == joint_observations(points, curves, finals, STEPS, seed=5)
    assert sorted(first) == list(range(12))
    # 4 trials at the top and a 1-D space: the top is the acquisition level; told finals kept in order
    assert [first[n] for n in sorted(range(4), key=lambda n: finals[n])] == sorted(first[n] for n in range(4))


def test_a_study_with_resource_model_gp_reads_every_trial_through_the_joint_model() -> None:
    """Through ``Study``: three trials told at the end, five stopped at step 3; the strategy's
    history holds all eight, at the joint model's values (the ranks' otherwise)."""

    def run(resource_model: str) -> tuple[hyperstep.Study, list]:
        study = hyperstep.Study(
            SPACE, strategy="evolutionary", seed=0, early_stopping={**STOPPING, "resource_model": resource_model}
        )
        for i in range(8):
            trial = study.ask(1)[0]
            last = 27 if i < 3 else 3
            for step in range(1, last + 1):
                study.report(trial.id, step, value(trial.params["x"], step))
            study.tell(trial.id, value(trial.params["x"], last), state="completed" if i < 3 else "stopped")
        return study, study.store.list_trials(study.job_id)

    study, trials = run("gp")
    assert study.joint_model
    history = study.history(trials)
    points = {n: SPACE.encode_many([t.params])[0] for n, t in enumerate(trials)}
    curves = {n: dict(t.curve) for n, t in enumerate(trials)}
    finals = {n: float(t.value) for n, t in enumerate(trials) if t.state.value == "completed"}
    expected = joint_observations(points, curves, finals, STEPS, seed=study.seed)
    assert len(history.y) == 8
    assert np.allclose(np.sort(history.y), np.sort(list(expected.values())))

    ranked, ranked_trials = run("ranks")
    assert not ranked.joint_model
    assert not np.allclose(np.sort(ranked.history(ranked_trials).y), np.sort(history.y))


def test_history_of_with_joint_matches_the_model_for_a_plain_call() -> None:
    assert history_of(SPACE, [], minimize=True, fidelity=STEPS, joint=True).X.shape == (0, 1)


@pytest.mark.parametrize("strategy", ["random", "sobol", "grid"])
def test_a_strategy_that_learns_from_no_result_fits_no_joint_model(
    strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``resource_model: gp`` with a strategy that reads no result (``validate`` says it is
    ignored) fitted the joint GP on every ask anyway: with random, 40 trials of the issue's
    loop took 35 s against 0.7 s with ranks, for the same trials. It fits none now."""
    import hyperstep.schedulers.joint as joint

    def fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("the joint model was fitted for a strategy that reads no result")

    monkeypatch.setattr(joint, "fit_joint", fit)
    study = hyperstep.Study(SPACE, strategy=strategy, seed=0, early_stopping=STOPPING)
    assert not study.joint_model
    for i in range(4):  # a 1-D grid has 5 points: the 5th ask reads the 4 ended trials
        trial = study.ask(1)[0]
        last = 27 if i < 2 else 3
        for step in range(1, last + 1):
            study.report(trial.id, step, value(trial.params["x"], step))
        study.tell(trial.id, value(trial.params["x"], last), state="completed" if i < 2 else "stopped")
    assert len(study.ask(1)) == 1
