"""The trial ``Study.optimize`` gives its objective (``hyperstep.trial_handle``): an Optuna
objective (``suggest_*``, ``report``, ``should_prune``) runs as written, against the space
declared up front."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hyperstep
from hyperstep.models import TrialState
from hyperstep.trial_handle import TrialHandle

ROOT = Path(__file__).resolve().parents[2]
SPACE: list[dict[str, Any]] = [
    {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "scale": "log"},
    {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5},
    {"name": "layers", "type": "int", "low": 1, "high": 4},
    {"name": "units", "type": "int", "low": 8, "high": 512, "scale": "log"},
    {"name": "opt", "type": "categorical", "choices": ["sgd", "adam"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"opt": ["sgd"]}},
]
ASHA = {"name": "asha", "min_resource": 1, "max_resource": 27, "reduction_factor": 3}


def suggest_all(trial: TrialHandle) -> dict[str, Any]:
    """Every parameter as an Optuna objective asks for it, the conditional one under its condition."""
    asked = {
        "lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "layers": trial.suggest_int("layers", 1, 4, step=1),  # the int step the space has
        "units": trial.suggest_int("units", 8, 512, log=True),
        "opt": trial.suggest_categorical("opt", ["sgd", "adam"]),
    }
    if asked["opt"] == "sgd":
        asked["momentum"] = trial.suggest_float("momentum", 0.0, 0.99)
    return asked


def test_each_suggest_returns_the_value_the_strategy_proposed() -> None:
    """The values an objective is given are the ask's proposals: those a plain ``ask`` loop of
    the same seed is given, and the stored trials' params, each of its parameter's type."""
    asked: list[dict[str, Any]] = []

    def objective(trial: TrialHandle) -> float:
        asked.append(suggest_all(trial))
        return asked[-1]["lr"]

    study = hyperstep.Study(SPACE, strategy="bayesian", seed=3)
    study.optimize(objective, n_trials=12)
    twin = hyperstep.Study(SPACE, strategy="bayesian", seed=3)
    plain = []
    for _ in range(12):
        trial = twin.ask()[0]
        plain.append(trial.params)
        twin.tell(trial, trial.params["lr"])
    assert asked == plain == [t.params for t in study.trials]
    assert {"sgd", "adam"} == {a["opt"] for a in asked}  # the conditional one asked, and left out
    for values in asked:
        assert [type(values[name]) for name in ("lr", "dropout", "layers", "units")] == [float, float, int, int]


def test_the_handle_serves_where_the_trial_did() -> None:
    """``params``, ``id`` and ``number``, and the handle itself passed to ``report`` and ``tell``."""
    seen: list[tuple[str, int, float]] = []
    study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping=ASHA)

    def objective(trial: TrialHandle) -> float:
        seen.append((trial.id, trial.number, trial.params["lr"]))
        study.report(trial, 1, 0.5)
        study.tell(trial, 0.25)  # told by the objective itself: optimize's own tell is refused
        return 0.25

    with pytest.raises(ValueError, match="already told"):
        study.optimize(objective, n_trials=1)
    (trial,) = study.trials
    assert seen == [(trial.id, trial.number, trial.params["lr"])]
    assert (trial.state, trial.value, trial.curve.keys()) == (TrialState.COMPLETED, 0.25, {1})
    other = hyperstep.Study(SPACE, strategy="random", seed=0)
    with pytest.raises(ValueError, match=f"is a trial of job {study.job_id!r}"):
        other.tell(TrialHandle(study, trial), 1.0)


MISMATCHES: dict[str, tuple[Callable[[TrialHandle], Any], str]] = {
    "an unknown name": (
        lambda t: t.suggest_float("momentun", 0.0, 0.99),
        "suggest_float('momentun'): not a parameter of this study's space (lr, dropout, layers, units, opt, momentum)",
    ),
    "another low": (
        lambda t: t.suggest_float("dropout", 0.1, 0.5),
        "declared float in [0.1, 0.5] here but float in [0.0, 0.5] in the study's space",
    ),
    "another high": (
        lambda t: t.suggest_int("layers", 1, 6),
        "declared int in [1, 6], step 1 here but int in [1, 4], step 1 in the study's space",
    ),
    "no log where the space has one": (
        lambda t: t.suggest_float("lr", 1e-4, 1e-1),
        "declared float in [0.0001, 0.1] here but float in [0.0001, 0.1], log in the study's space",
    ),
    "a log where the space has none": (
        lambda t: t.suggest_int("layers", 1, 4, log=True),
        "declared int in [1, 4], log, step 1 here but int in [1, 4], step 1 in the study's space",
    ),
    "a float for an int": (
        lambda t: t.suggest_float("layers", 1, 4),
        "declared float in [1, 4] here but int in [1, 4], step 1 in the study's space",
    ),
    "an int for a float": (
        lambda t: t.suggest_int("dropout", 0, 1),
        "declared int in [0, 1], step 1 here but float in [0.0, 0.5] in the study's space",
    ),
    "a categorical for a number": (
        lambda t: t.suggest_categorical("layers", [1, 2, 3, 4]),
        "declared categorical [1, 2, 3, 4] here but int in [1, 4], step 1 in the study's space",
    ),
    "other choices": (
        lambda t: t.suggest_categorical("opt", ["sgd", "adam", "rmsprop"]),
        "declared categorical ['sgd', 'adam', 'rmsprop'] here but categorical ['sgd', 'adam'] in the study's space",
    ),
    "the choices in another order": (
        lambda t: t.suggest_categorical("opt", ["adam", "sgd"]),
        "declared categorical ['adam', 'sgd'] here but categorical ['sgd', 'adam'] in the study's space",
    ),
    "a step on a float": (
        lambda t: t.suggest_float("dropout", 0.0, 0.5, step=0.1),
        "declared float in [0.0, 0.5], step 0.1 here but float in [0.0, 0.5] in the study's space",
    ),
    "another step on an int": (
        lambda t: t.suggest_int("units", 8, 512, step=8, log=True),
        "declared int in [8, 512], log, step 8 here but int in [8, 512], log, step 1 in the study's space",
    ),
}


@pytest.mark.parametrize("case", list(MISMATCHES))
def test_a_declaration_other_than_the_space_s_is_refused_saying_both(case: str) -> None:
    """A ``ValueError`` naming the call, both declarations and where the space is declared;
    ``optimize`` fails the trial with it and raises it, as any error of the objective."""
    suggest, message = MISMATCHES[case]
    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    with pytest.raises(ValueError) as refused:
        study.optimize(suggest, n_trials=3)
    assert message in str(refused.value), refused.value
    assert "the space is declared up front (the spec's parameters or Study(space=...))" in str(refused.value)
    (trial,) = study.trials
    assert trial.state is TrialState.FAILED and message in (trial.error or "")


def test_reverse_log_which_no_suggest_declares_points_to_params() -> None:
    space = [{"name": "beta", "type": "float", "low": 0.9, "high": 0.999, "scale": "reverse_log"}]
    study = hyperstep.Study(space, strategy="random", seed=0)
    with pytest.raises(ValueError, match=re.escape("no suggest_* declares reverse_log: read trial.params instead")):
        study.optimize(lambda t: t.suggest_float("beta", 0.9, 0.999, log=True), n_trials=1)
    study.optimize(lambda t: t.params["beta"], n_trials=1)
    assert study.trials[-1].state is TrialState.COMPLETED


def test_an_inactive_parameter_asked_for_is_refused_naming_its_condition() -> None:
    """Asking for ``momentum`` where ``opt`` is ``adam`` is a bug in the objective: no value."""
    study = hyperstep.Study(SPACE, strategy="random", seed=0, enqueue=[{"opt": "adam"}])
    with pytest.raises(ValueError) as refused:
        study.optimize(lambda t: t.suggest_float("momentum", 0.0, 0.99), n_trials=1)
    assert str(refused.value) == (
        "suggest_float('momentum'): inactive in trial 1 (when: {'opt': ['sgd']}; here opt='adam'),"
        " so it has no value: ask for it only where its condition holds"
    )


def decisions_through_the_handle(seed: int, early_stopping: dict[str, Any] | None) -> tuple[list[list[bool]], Any]:
    """``should_prune`` after each report of an ``optimize`` run, by trial."""
    study = hyperstep.Study(SPACE[:1], strategy="bayesian", seed=seed, early_stopping=early_stopping)
    said: list[list[bool]] = []

    def objective(trial: TrialHandle) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        said.append([])
        for epoch in range(1, 28):
            loss = abs(math.log10(lr) + 2.5) + 1.0 / epoch
            trial.report(loss, epoch)
            said[-1].append(trial.should_prune())
            if said[-1][-1]:
                raise hyperstep.TrialPruned()
        return loss

    study.optimize(objective, n_trials=12)
    return said, study


def decisions_through_report(seed: int, early_stopping: dict[str, Any] | None) -> list[list[bool]]:
    """``Study.report``'s answers in README's ask/report/tell loop, by trial."""
    study = hyperstep.Study(SPACE[:1], strategy="bayesian", seed=seed, early_stopping=early_stopping)
    said: list[list[bool]] = []
    for _ in range(12):
        trial = study.ask()[0]
        said.append([])
        for epoch in range(1, 28):
            loss = abs(math.log10(trial.params["lr"]) + 2.5) + 1.0 / epoch
            said[-1].append(study.report(trial, epoch, loss))
            if said[-1][-1]:
                study.tell(trial, state="pruned")
                break
        else:
            study.tell(trial, loss)
    return said


@pytest.mark.parametrize("seed", [0, 1])
def test_should_prune_is_true_exactly_when_study_report_is_and_the_trial_ends_pruned_with_its_curve(
    seed: int,
) -> None:
    said, study = decisions_through_the_handle(seed, ASHA)
    assert said == decisions_through_report(seed, ASHA)
    pruned = [t for t in study.trials if t.state is TrialState.PRUNED]
    assert pruned and any(t.state is TrialState.COMPLETED for t in study.trials)
    for trial, answers in zip(study.trials, said):
        assert sorted(trial.curve) == list(range(1, len(answers) + 1))  # every step reported is kept
        assert (trial.state is TrialState.PRUNED) == answers[-1]
    assert study.job.pruned == len(pruned)


def test_should_prune_stays_true_after_the_first_true() -> None:
    """``Study.report`` judges each report alone (a later step past no rung answers False):
    an objective that reports twice before asking still stops, as README's "act on the first True"."""
    study = hyperstep.Study(SPACE[:1], strategy="random", seed=0, early_stopping=ASHA)
    said = []

    def objective(trial: TrialHandle) -> float:
        trial.report(float("nan"), 1)  # diverged: stop
        trial.report(0.5, 2)  # past no rung: Study.report answers False
        said.append(trial.should_prune())
        raise hyperstep.TrialPruned()

    study.optimize(objective, n_trials=1)
    assert said == [True] and study.trials[0].state is TrialState.PRUNED and study.trials[0].value == 0.5


def test_without_early_stopping_should_prune_is_always_false_as_optuna_s_nop_pruner() -> None:
    said, study = decisions_through_the_handle(0, None)
    assert [len(answers) for answers in said] == [27] * 12 and not any(map(any, said))
    assert all(t.state is TrialState.COMPLETED and len(t.curve) == 27 for t in study.trials)


def readme_block(marker: str) -> str:
    """The README's ```python block holding ``marker``."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    (block,) = [b for b in blocks if marker in b]
    return block


def test_the_readme_s_optuna_objective_runs_as_written() -> None:
    """README's block, run as it is, with a ``train_one_epoch`` whose loss falls with the epochs
    to a floor set by the configuration."""
    epochs: dict[tuple[float, int, str], int] = {}

    def train_one_epoch(lr: float, layers: int, act: str) -> float:
        key = (lr, layers, act)
        epochs[key] = epochs.get(key, 0) + 1
        return abs(math.log10(lr) + 2.5) + 0.1 * layers + 0.2 * (act == "tanh") + 1.0 / epochs[key]

    scope: dict[str, Any] = {"train_one_epoch": train_one_epoch}
    exec(readme_block("trial.suggest_float"), scope)
    study = scope["study"]
    assert isinstance(study, hyperstep.Study) and study.spec.early_stopping is not None
    states = [t.state for t in study.trials]
    assert TrialState.PRUNED in states and TrialState.COMPLETED in states and TrialState.FAILED not in states
    assert set(study.best_params) == {"lr", "layers", "act"} and len(study.best_trial.curve) == 27


@pytest.mark.parametrize(
    ("choices", "declared_choices", "message"),
    [
        ([True, False], [1, 0], "declared categorical [1, 0] here but categorical [True, False] in the study's space"),
        ([1, 2], [1.0, 2.0], "declared categorical [1.0, 2.0] here but categorical [1, 2] in the study's space"),
        ([0.5, 1.0], [0.5, 1], "declared categorical [0.5, 1] here but categorical [0.5, 1.0] in the study's space"),
    ],
)
def test_choices_python_holds_equal_but_of_another_type_are_refused(
    choices: list[Any], declared_choices: list[Any], message: str
) -> None:
    """``True == 1`` and ``1.0 == 1`` in Python: an objective declaring ``[1, 0]`` got the
    space's booleans back (``[1.0, 2.0]`` its ints), of another type than it declared."""
    study = hyperstep.Study([{"name": "c", "type": "categorical", "choices": choices}], strategy="random", seed=0)
    with pytest.raises(ValueError) as refused:
        study.optimize(lambda t: t.suggest_categorical("c", declared_choices) and 0.0, n_trials=1)
    assert message in str(refused.value), refused.value
    assert study.trials[0].state is TrialState.FAILED


def test_numpy_choices_are_taken_as_python_s() -> None:
    """``suggest_categorical("k", np.array([1, 2]))`` declares the space's ``[1, 2]``."""
    study = hyperstep.Study([{"name": "k", "type": "categorical", "choices": [1, 2]}], strategy="random", seed=0)
    got: list[Any] = []
    study.optimize(lambda t: got.append(t.suggest_categorical("k", np.array([1, 2]))) or 0.0, n_trials=2)
    assert got == [t.params["k"] for t in study.trials] and all(type(v) is int for v in got)


@pytest.mark.parametrize("early_stopping", [None, ASHA])
def test_a_handle_kept_past_its_trial_reports_nothing_onto_it_and_should_prune(early_stopping: Any) -> None:
    """README: ``should_prune`` is False without early stopping while the trial runs; a report
    after the trial was told completed is a ``TrialFinishedError`` (Optuna's
    ``UpdateFinishedTrialError``, a ``RuntimeError``), and the trial keeps its value and curve."""
    study = hyperstep.Study(SPACE[:1], strategy="random", seed=0, early_stopping=early_stopping)
    kept: list[TrialHandle] = []

    def objective(trial: TrialHandle) -> float:
        kept.append(trial)
        trial.report(0.5, 3)
        return 0.4

    study.optimize(objective, n_trials=1)
    (handle,) = kept
    assert handle.should_prune() is False
    with pytest.raises(RuntimeError, match="trial 1 was told completed: a finished trial takes no report"):
        handle.report(0.1, 30)
    with pytest.raises(hyperstep.TrialFinishedError):
        handle.report(float("nan"), 31)
    assert handle.should_prune() is False
    (trial,) = study.trials
    assert (trial.state, trial.value, trial.curve) == (TrialState.COMPLETED, 0.4, {3: 0.5})


def test_the_handle_still_reads_the_asked_trial_s_other_fields() -> None:
    """``optimize`` gave its objective the ``Trial`` before (README typed it ``hyperstep.Trial``):
    an objective reading another field of it (``report_key``, ``expected_improvement``,
    ``created_at``) still gets the asked trial's; a name no trial has is an AttributeError."""
    study = hyperstep.Study(SPACE[:1], strategy="random", seed=0)
    read: list[tuple[Any, ...]] = []

    def objective(trial: TrialHandle) -> float:
        read.append((trial.report_key, trial.expected_improvement, trial.created_at, trial.state))
        with pytest.raises(AttributeError, match="set_system_attr"):
            trial.set_system_attr("k", 1)
        return 0.5

    study.optimize(objective, n_trials=1)
    (trial,) = study.trials
    assert read == [(trial.report_key, trial.expected_improvement, trial.created_at, TrialState.PENDING)]
    assert trial.report_key
    handle = TrialHandle(study, trial)
    copied = copy.copy(handle)  # a fresh object reads no field before its _trial is set: no RecursionError
    assert (copied.number, copied.report_key) == (trial.number, trial.report_key)
