"""Several objectives and constraints through ask/tell, exactly as the issue's interface reads."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import hyperstep
from hyperstep.errors import SpecError
from hyperstep.stores.sqlite import SQLiteStore
from tests import issue10

SPACE = hyperstep.SearchSpace.model_validate(
    {
        "parameters": [
            {"name": "x", "type": "float", "low": 0.0, "high": 1.0},
            {"name": "k", "type": "int", "low": 1, "high": 9},
        ]
    }
)


def test_the_issue_example_runs_as_written() -> None:
    study = hyperstep.Study(
        SPACE,
        goal=["maximize", "minimize"],
        strategy="bayesian",
        seed=0,
        constraints=[{"metric": "latency_ms", "max": 50}],
    )
    trial = study.ask(1)[0]
    study.tell(trial.id, [0.93, 412.0], metrics={"latency_ms": 41.0})
    assert [t.id for t in study.pareto_front] == [trial.id]
    assert study.pareto_front[0].values == [0.93, 412.0]


@pytest.mark.parametrize("strategy", ["random", "sobol", "grid", "bayesian", "evolutionary"])
def test_pareto_front_holds_feasible_non_dominated_trials(strategy: str) -> None:
    study = hyperstep.Study(
        SPACE,
        goal=["maximize", "minimize"],
        strategy=strategy,
        seed=1,
        constraints=[{"metric": "latency_ms", "max": 50}],
    )
    a, b, c, d, e, f = study.ask(6)
    study.tell(a.id, [0.9, 400.0], metrics={"latency_ms": 10.0})  # front
    study.tell(b.id, [0.8, 100.0], metrics={"latency_ms": 10.0})  # front
    study.tell(c.id, [0.7, 300.0], metrics={"latency_ms": 10.0})  # dominated by b
    study.tell(d.id, [0.99, 10.0], metrics={"latency_ms": 99.0})  # infeasible: too slow
    study.tell(e.id, [0.99, 10.0])  # infeasible: latency never reported
    study.tell(f.id, None, state="failed")
    assert [t.id for t in study.pareto_front] == [a.id, b.id]
    assert study.best_trials == study.pareto_front  # Optuna's name
    with pytest.raises(RuntimeError, match=r"best_trial: this study has 2 objectives.*use study\.pareto_front"):
        study.best_trial  # noqa: B018  several objectives: a front, no single best (Optuna raises too)
    assert len(study.ask(4)) == 4  # every strategy proposes on from such a history


def test_one_objective_best_trial_is_the_best_feasible_one() -> None:
    study = hyperstep.Study(SPACE, goal="maximize", strategy="random", seed=0, constraints=[{"metric": "mb", "max": 2}])
    a, b = study.ask(2)
    study.tell(a.id, 0.99, metrics={"mb": 3.0})
    assert study.best_trial is None
    study.tell(b.id, 0.5, metrics={"mb": 1.0})
    assert study.best_trial.id == b.id and [t.id for t in study.pareto_front] == [b.id]


def test_tell_refuses_the_wrong_number_of_values_and_fails_non_finite_ones() -> None:
    study = hyperstep.Study(SPACE, goal=["minimize", "minimize", "minimize"], strategy="random", seed=0)
    a, b = study.ask(2)
    with pytest.raises(ValueError, match="3 objectives"):
        study.tell(a.id, [1.0, 2.0])
    with pytest.raises(ValueError, match="3 objectives"):
        study.tell(a.id, 1.0)
    with pytest.raises(ValueError, match="3 objectives"):  # a loss as a 0-d array is one value, not a TypeError
        study.tell(a.id, np.array(1.0))
    assert study.tell(b.id, [1.0, float("nan"), 2.0]).state.value == "failed"
    single = hyperstep.Study(SPACE, strategy="random", seed=0)
    with pytest.raises(ValueError, match="one objective"):
        single.tell(single.ask(1)[0].id, [1.0, 2.0])


def test_values_survive_a_fresh_study_on_the_same_file(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    study = hyperstep.Study(SPACE, goal=["minimize", "maximize"], strategy="random", seed=0, store=store, job_id="j")
    trial = study.ask(1)[0]
    study.tell(trial.id, [1.5, 2.5], metrics={"extra": 3.0})
    again = hyperstep.Study(SPACE, goal=["minimize", "maximize"], store=SQLiteStore(tmp_path / "s.db"), job_id="j")
    assert again.trials[0].values == [1.5, 2.5] and again.trials[0].metrics == {"extra": 3.0}


@pytest.mark.parametrize("strategy", ["random", "sobol", "grid", "bayesian", "evolutionary"])
def test_the_issue_space_objectives_and_constraint_together(strategy: str) -> None:
    """The issue's conditional space with its two objectives and latency constraint, in one
    Study: trials hold only active parameters, values come back in the objectives' order, and
    the front holds exactly the feasible non-dominated trials."""
    space = hyperstep.SearchSpace.model_validate(yaml.safe_load(issue10.PARAMETERS_YAML))
    study = hyperstep.Study(
        space,
        goal=["maximize", "minimize"],
        strategy=strategy,
        seed=0,
        constraints=[{"metric": "latency_ms", "max": 50}],
    )
    for _ in range(4):
        for trial in study.ask(4):
            assert set(trial.params) == issue10.active(trial.params), trial.params
            out = issue10.outcome(trial.params)
            study.tell(trial.id, [out["accuracy"], out["model_kb"]], metrics={"latency_ms": out["latency_ms"]})
    trials = study.trials
    assert len(trials) == 16
    feasible = [t for t in trials if t.metrics["latency_ms"] <= 50]
    expected = [
        t
        for t in feasible
        if not any(o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values for o in feasible)
    ]
    assert [t.id for t in study.pareto_front] == [t.id for t in expected] != []
    for t in trials:
        assert t.values == [issue10.outcome(t.params)[m] for m in ("accuracy", "model_kb")]


def test_one_objective_with_the_issue_space_best_trial_is_the_best_feasible_one() -> None:
    space = hyperstep.SearchSpace.model_validate(yaml.safe_load(issue10.PARAMETERS_YAML))
    study = hyperstep.Study(
        space, goal="maximize", strategy="bayesian", seed=0, constraints=[{"metric": "latency_ms", "max": 50}]
    )
    for _ in range(3):
        for trial in study.ask(4):
            out = issue10.outcome(trial.params)
            study.tell(trial.id, out["accuracy"], metrics={"latency_ms": out["latency_ms"]})
    feasible = [t for t in study.trials if t.metrics["latency_ms"] <= 50]
    assert study.best_trial is not None
    assert study.best_trial.id == max(feasible, key=lambda t: t.value).id
    assert study.best_trial.metrics["latency_ms"] <= 50


@pytest.mark.parametrize("value", ["ab", {"a": 1.0, "b": 2.0}, ["0.5", "x"]])
def test_tell_refuses_values_that_are_not_numbers_saying_so(value: object) -> None:
    study = hyperstep.Study(SPACE, goal=["minimize", "maximize"], strategy="random", seed=0)
    trial = study.ask(1)[0]
    with pytest.raises(ValueError, match=r"^this study has 2 objectives: tell a list of 2 numbers, got "):
        study.tell(trial.id, value)
    assert study.store.get_trial(study.job_id, trial.id).state.value == "pending"


def test_add_trial_takes_a_list_of_values_in_a_study_of_several_objectives() -> None:
    """It refused every value there ("needs a finite value, got [0.5, 1.0]"), so no trial
    that ran elsewhere could inform a multi-objective study."""
    study = hyperstep.Study(SPACE, goal=["maximize", "minimize"], seed=0, constraints=[{"metric": "c", "max": 1}])
    trial = study.add_trial({"x": 0.5, "k": 3}, [0.9, 2.0], metrics={"c": 0.5})
    assert trial.state.value == "completed" and trial.values == [0.9, 2.0]
    assert study.pareto_front == [trial]
    for wrong in ([0.9], [0.9, float("nan")], 0.9, None):
        with pytest.raises(ValueError, match="list of 2"):
            study.add_trial({"x": 0.1, "k": 1}, wrong)
    assert len(study.trials) == 1  # a refused value stores nothing
    assert study.add_trial({"x": 0.2, "k": 1}, state="failed").state.value == "failed"


def test_a_study_whose_goal_is_a_list_of_one_takes_a_list_of_one_value() -> None:
    """``goal=["maximize"]`` makes a one-objective study; its ``tell`` refused ``[0.3]``."""
    study = hyperstep.Study(SPACE, goal=["maximize"], seed=0)
    trial = study.ask(1)[0]
    assert study.tell(trial.id, [0.3]).value == 0.3
    assert study.tell(study.ask(1)[0].id, np.array([0.2])).value == 0.2  # as a multi-objective tell takes arrays
    assert study.add_trial({"x": 0.5, "k": 3}, [0.7]).value == 0.7
    assert study.best_trial.value == 0.7
    with pytest.raises(ValueError, match="one objective"):
        study.tell(study.ask(1)[0].id, [0.3, 0.4])


def test_constraints_none_is_a_study_without_constraints() -> None:
    """As ``early_stopping=None`` and ``strategy_options=None`` are: it raised TypeError."""
    study = hyperstep.Study(SPACE, goal=["maximize", "minimize"], seed=0, constraints=None)
    assert study.spec.constraints == []


@pytest.mark.parametrize(("goal", "metric"), [("minimize", "objective"), (["minimize", "maximize"], "objective_2")])
def test_a_constraint_on_the_told_value_is_refused(goal: str | list, metric: str) -> None:
    """A study's objectives are the values tell takes, not metrics: a constraint on one
    (``objective``) held every trial infeasible, silently (best None, an empty front)."""
    with pytest.raises(
        SpecError, match=rf"^constraints\.0: '{metric}' is the value tell takes, not one of its metrics"
    ):
        hyperstep.Study(SPACE, goal=goal, strategy="random", constraints=[{"metric": metric, "max": 0.5}])


def test_constraints_given_as_a_string_are_refused_in_one_line() -> None:
    """Not read as a list of its characters ("constraints.0: should be a mapping ... (and 4 more)")."""
    with pytest.raises(SpecError) as caught:
        hyperstep.Study(SPACE, constraints="lat<5")  # type: ignore[arg-type]
    assert str(caught.value) == (
        "constraints: a list of constraints ({'metric': ..., 'max': ...}), got the string 'lat<5'"
    )


@pytest.mark.parametrize("told", [float("nan"), 10**400], ids=["nan", "int-past-float"])
@pytest.mark.parametrize("state", ["stopped", "pruned"])
def test_a_trial_told_stopped_with_objectives_not_all_finite_keeps_none_of_them(state: str, told: float) -> None:
    """Stopped or pruned with ``[nan, 1.0]`` kept ``[nan, 1.0]`` (no store keeps NaN; JSON has
    none): it keeps no values, as a completed one with them fails. An int past a float's range
    is the infinity it rounds to, as with one objective (it raised ``OverflowError``)."""
    study = hyperstep.Study(SPACE, goal=["minimize", "maximize"], strategy="random", seed=0)
    trial = study.ask(1)[0]
    ended = study.tell(trial.id, [told, 1.0], state=state)
    assert ended.state.value == state and ended.values is None and ended.value is None
    kept = study.tell(study.ask(1)[0].id, [0.5, 1.0], state=state)  # finite: kept as told
    assert kept.values == [0.5, 1.0] and kept.value == 0.5


def test_a_completed_trial_told_an_int_past_a_float_s_range_fails_as_with_one_objective() -> None:
    """``tell(trial, [10**400, 1.0])`` raised ``OverflowError`` (``float()`` of the int) where
    a one-objective study records the trial failed (``study_checks.scalar``)."""
    study = hyperstep.Study(SPACE, goal=["minimize", "maximize"], strategy="random", seed=0)
    ended = study.tell(study.ask(1)[0].id, [10**400, 1.0])
    assert ended.state.value == "failed" and ended.values is None


def test_report_in_a_study_of_several_objectives_records_the_first_and_never_stops() -> None:
    """Early stopping takes one objective, so a multi-objective study's ``report`` keeps the
    first objective's curve and answers False; a list of values (one per objective, as ``tell``
    takes them) is refused saying which to report (it said only "report a number")."""
    with pytest.raises(SpecError, match=r"^early_stopping: works with one objective"):
        hyperstep.Study(SPACE, goal=["minimize", "maximize"], early_stopping={"name": "asha", "max_resource": 9})
    study = hyperstep.Study(SPACE, goal=["minimize", "maximize"], strategy="random", seed=0)
    trial = study.ask(1)[0]
    assert study.report(trial.id, 1, 0.5) is False
    with pytest.raises(
        ValueError, match=r"^report a number as the value \(this study has 2 objectives: report the first's\)"
    ):
        study.report(trial.id, 2, [0.4, 0.6])
    assert study.trials[0].curve == {1: 0.5}
