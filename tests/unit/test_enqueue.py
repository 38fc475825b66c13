"""Points to evaluate first (the spec's ``enqueue``, ``Study.enqueue_trial``) and ``Study.optimize``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import hyperstep
from hyperstep.cli import main
from hyperstep.errors import SpecError
from hyperstep.messages import LaunchRequest, SuggestRequest
from hyperstep.models import Job, JobStatus, StopReason, Trial
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend, FakeOrchestrator

SPACE: list[dict[str, Any]] = [
    {"name": "lr", "type": "float", "low": 1e-4, "high": 0.1, "scale": "log"},
    {"name": "opt", "type": "categorical", "choices": ["sgd", "adam"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"opt": ["sgd"]}},
]
STRATEGIES = ["random", "sobol", "grid", "bayesian", "evolutionary"]

BAD_POINTS = {
    "an unknown name": ([{"lr": 0.01, "depth": 3}], "enqueue.0.depth: not a parameter of this space"),
    "a value outside its range": ([{"opt": "adam"}, {"lr": 5.0}], "enqueue.1.lr: 5.0 is outside [0.0001, 0.1]"),
    "a value not among its choices": ([{"opt": "rmsprop"}], "enqueue.0.opt: 'rmsprop' is not one of"),
    "a condition that does not hold": (
        [{"opt": "adam", "momentum": 0.9}],
        "enqueue.0.momentum: set, but inactive here (when: {'opt': ['sgd']})",
    ),
    "a conditional name without its parent": ([{"momentum": 0.9}], "enqueue.0.momentum: conditional"),
    "not a mapping": ([0.01], "enqueue.0: should be a mapping"),
    "more points than the budget": ([{}] * 4, "enqueue: 4 points, more than budget.max_trials (3)"),
}


@pytest.mark.parametrize("case", list(BAD_POINTS))
def test_a_bad_point_is_refused_at_load_naming_the_field_and_index(case: str) -> None:
    points, message = BAD_POINTS[case]
    with pytest.raises(SpecError) as refused:
        parse_spec(spec_document(parameters=SPACE, enqueue=points, budget={"max_trials": 3}))
    assert str(refused.value).startswith(message), refused.value
    if "budget" not in case:  # a Study has no max_trials
        with pytest.raises(SpecError, match=message.split(":")[0]):  # the same from Python
            hyperstep.Study(SPACE, enqueue=points)


def test_a_bad_point_exits_2_at_the_cli_and_stores_nothing(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = workdir / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_document(enqueue=[{"x": 0.5}, {"x": 3.0}])))
    store = workdir / "store.db"
    assert main(["--store", str(store), "run", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hyperstep: error: enqueue.1.x: 3.0 is outside [-1.0, 1.0]") and "\n" not in err, err
    assert not store.exists()


def test_validate_says_how_many_points_run_first(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = workdir / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_document(enqueue=[{"x": 0.5}, {"kind": "b"}])))
    assert main(["validate", str(spec)]) == 0
    assert ", 2 points enqueued first" in capsys.readouterr().out


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_runs_the_enqueued_points_first(strategy: str) -> None:
    points = [{"lr": 0.01, "opt": "adam"}, {"lr": 0.001, "opt": "sgd", "momentum": 0.9}, {"lr": 0.05, "opt": "adam"}]
    study = hyperstep.Study(SPACE, strategy=strategy, seed=3, enqueue=points)
    asked = study.ask(2) + study.ask(2)
    assert [t.params for t in asked[:3]] == points
    assert asked[3].number == 4 and asked[3].params not in points


def test_a_partial_point_fixes_its_names_and_takes_the_rest_from_the_strategy() -> None:
    """The names given are fixed; the others are the strategy's proposal for that very trial."""
    plain = hyperstep.Study(SPACE, strategy="random", seed=5).ask(2)
    study = hyperstep.Study(SPACE, strategy="random", seed=5, enqueue=[{"lr": 0.02}, {"opt": "sgd"}])
    first, second = study.ask(2)
    assert first.params == {**plain[0].params, "lr": 0.02}
    assert second.params["opt"] == "sgd" and second.params["lr"] == plain[1].params["lr"]
    assert 0.0 <= second.params["momentum"] <= 0.99  # made active by the fixed opt: from the proposal too


NESTED: list[dict[str, Any]] = [
    {"name": "opt", "type": "categorical", "choices": ["sgd", "adam"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.99, "when": {"opt": ["sgd"]}},
    {"name": "nesterov", "type": "categorical", "choices": ["yes", "no"], "when": {"opt": ["sgd"]}},
    {"name": "dampening", "type": "float", "low": 0.0, "high": 0.5, "when": {"nesterov": ["no"]}},
    {"name": "beta1", "type": "float", "low": 0.8, "high": 0.99, "when": {"opt": ["adam"]}},
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_fixed_parent_keeps_the_strategy_s_other_values_a_valid_configuration(strategy: str, seed: int) -> None:
    """Children the fixed parents make inactive are dropped, active ones (grandchildren too) are present."""
    points = [{"opt": "adam"}, {"opt": "sgd"}, {"opt": "sgd", "nesterov": "no"}, {"opt": "sgd", "nesterov": "yes"}]
    study = hyperstep.Study(NESTED, strategy=strategy, seed=seed, enqueue=points)
    for trial, point in zip(study.ask(4), points, strict=True):
        assert study.space.configuration(trial.params) == trial.params, trial.params
        assert {name: trial.params[name] for name in point} == point
    assert [sorted(t.params) for t in study.trials] == [
        ["beta1", "opt"],
        ["momentum", "nesterov", "opt"] if study.trials[1].params["nesterov"] == "yes" else
        ["dampening", "momentum", "nesterov", "opt"],
        ["dampening", "momentum", "nesterov", "opt"],
        ["momentum", "nesterov", "opt"],
    ]  # fmt: skip


def test_a_grid_runs_the_enqueued_points_first_and_its_own_points_after_each_once() -> None:
    """For a grid, "first" is the trial numbers: the enqueued points are trials 1..k, then the grid
    walks its points in its seeded order, skipping an enqueued point that is one of them."""
    space = [
        {"name": "a", "type": "int", "low": 1, "high": 3},
        {"name": "b", "type": "categorical", "choices": ["u", "v"]},
    ]
    study = hyperstep.Study(space, strategy="grid", seed=0, enqueue=[{"a": 2, "b": "v"}])
    asked = [t.params for t in study.ask(100)]
    assert asked[0] == {"a": 2, "b": "v"}
    assert len(asked) == 6 and len({(p["a"], p["b"]) for p in asked}) == 6  # the whole grid, each point once


@pytest.mark.parametrize("seed", [1, 3, 4])
@pytest.mark.parametrize("strategy", ["grid", "bayesian", "evolutionary"])
def test_a_strategy_that_never_repeats_runs_an_enqueued_point_once_in_one_ask(strategy: str, seed: int) -> None:
    """The enqueued point and the strategy's own proposals in one ask: a proposal that is the
    enqueued point is dropped, not run a second time (seed 0 of the grid test above happened
    to propose it first, where the enqueued point replaces it)."""
    space = [
        {"name": "a", "type": "int", "low": 1, "high": 3},
        {"name": "b", "type": "categorical", "choices": ["u", "v"]},
    ]
    study = hyperstep.Study(space, strategy=strategy, seed=seed, enqueue=[{"a": 2, "b": "v"}])
    asked = [(t.params["a"], t.params["b"]) for t in study.ask(100) + study.ask(100)]
    assert asked[0] == (2, "v") and sorted(asked) == sorted(set(asked)) and len(asked) == 6, asked


def test_a_strategy_out_of_new_points_still_runs_the_points_owed() -> None:
    """A grid of two points asked for three with three points enqueued (two repeating its own)."""
    space = [{"name": "a", "type": "int", "low": 1, "high": 2}]
    study = hyperstep.Study(space, strategy="grid", seed=0, enqueue=[{"a": 1}, {"a": 2}, {"a": 1}])
    assert [t.params for t in study.ask(3)] == [{"a": 1}, {"a": 2}, {"a": 1}]
    assert study.ask(1) == []  # then the grid is done


def test_a_grid_done_still_runs_a_point_enqueue_trial_gave_after() -> None:
    space = [{"name": "a", "type": "int", "low": 1, "high": 2}]
    study = hyperstep.Study(space, strategy="grid", seed=0)
    assert len(study.ask(5)) == 2 and study.ask(1) == []
    study.enqueue_trial({"a": 1})
    assert [t.params for t in study.ask(3)] == [{"a": 1}] and study.ask(1) == []


def test_a_retried_suggest_neither_repeats_nor_skips_an_enqueued_point() -> None:
    points = [{"x": 0.25, "n": 2, "kind": "b"}, {"x": -0.5}, {"kind": "a"}]
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator())
    service.submit(parse_spec(spec_document(enqueue=points, budget={"max_trials": 6, "max_parallel": 2})), "job")
    first = service.suggest(SuggestRequest(job_id="job"))
    again = service.suggest(SuggestRequest(job_id="job"))  # the same request twice: the same trials
    assert first.trial_ids == again.trial_ids == ["t0001", "t0002"]
    for trial_id in first.trial_ids:
        service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
    for trial_id in first.trial_ids:
        service.store.finish_trial("job", trial_id, hyperstep.TrialState.COMPLETED, value=1.0)
    assert service.suggest(SuggestRequest(job_id="job")).trial_ids == ["t0003", "t0004"]
    trials = service.store.list_trials("job")
    assert trials[0].params == points[0] and trials[1].params["x"] == -0.5 and trials[2].params["kind"] == "a"
    assert all(t.params.get("x") != -0.5 for t in trials[2:]) and "x" in trials[3].params


def test_a_study_reopened_on_its_store_goes_on_from_the_next_point(tmp_path: Path) -> None:
    """As ``run --resume`` does: the points are the job's, given out by trial number."""
    points = [{"lr": 0.01, "opt": "adam"}, {"lr": 0.02, "opt": "adam"}, {"lr": 0.03, "opt": "adam"}]
    store = SQLiteStore(str(tmp_path / "s.db"))
    assert [t.params for t in hyperstep.Study(SPACE, store=store, job_id="s", enqueue=points).ask(1)] == points[:1]
    reopened = hyperstep.Study(SPACE, store=SQLiteStore(str(tmp_path / "s.db")), job_id="s")
    assert [t.params for t in reopened.ask(3)][:2] == points[1:]
    with pytest.raises(ValueError, match="enqueue: job 's' is stored with"):
        hyperstep.Study(SPACE, store=store, job_id="s", enqueue=points[:1])


def test_the_local_cli_runs_the_enqueued_points_first(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    points = [{"x": 0.125, "n": 3, "kind": "b"}, {"x": -0.75, "n": 1, "kind": "a"}]
    spec = workdir / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_document(enqueue=points, budget={"max_trials": 3, "max_parallel": 1})))
    store = workdir / "s.db"
    assert main(["--store", str(store), "run", str(spec), "--out", str(workdir / "runs")]) == 0
    (job,) = SQLiteStore(str(store)).list_jobs()
    trials = SQLiteStore(str(store)).list_trials(job.id)
    assert [t.params for t in trials[:2]] == points and len(trials) == 3
    assert all(t.state is hyperstep.TrialState.COMPLETED for t in trials)


def test_run_resume_goes_on_from_the_next_point_and_runs_none_twice(workdir: Path) -> None:
    """A run stopped after trial 1 (the first point) took its number: ``run --resume`` runs the
    other points as trials 2 and 3, then the strategy's."""
    points = [{"x": 0.5, "n": 1, "kind": "a"}, {"x": -0.25}, {"x": 0.75, "n": 4, "kind": "b"}]
    document = spec_document(enqueue=points, budget={"max_trials": 4, "max_parallel": 1})
    spec = parse_spec({**document, "trial": {**document["trial"], "workdir": str(workdir)}})
    store = SQLiteStore(str(workdir / "s.db"))
    store.create_job(Job(id="job-1", spec=spec, created_at=time.time()))
    (first,) = hyperstep.Study.from_job(store, store.get_job("job-1")).ask(1)
    store.finish_trial("job-1", first.id, hyperstep.TrialState.COMPLETED, value=0.5)
    assert main(["--store", str(workdir / "s.db"), "run", "--resume", "job-1", "--out", str(workdir / "runs")]) == 0
    trials = SQLiteStore(str(workdir / "s.db")).list_trials("job-1")
    assert [t.params for t in trials[::2]] == [points[0], points[2]] and trials[1].params["x"] == -0.25
    assert len(trials) == 4 and trials[3].params not in points


def test_run_resume_runs_a_point_enqueue_trial_stored_from_python(workdir: Path) -> None:
    """A point a notebook enqueued on the job's store file: the CLI's ``run --resume`` runs it
    as the next trial, once."""
    document = spec_document(budget={"max_trials": 3, "max_parallel": 1})
    spec = parse_spec({**document, "trial": {**document["trial"], "workdir": str(workdir)}})
    store = SQLiteStore(str(workdir / "s.db"))
    store.create_job(Job(id="job-1", spec=spec, created_at=time.time()))
    (first,) = hyperstep.Study.from_job(store, store.get_job("job-1")).ask(1)
    store.finish_trial("job-1", first.id, hyperstep.TrialState.COMPLETED, value=0.5)
    hyperstep.Study.from_job(store, store.get_job("job-1")).enqueue_trial({"x": 0.875, "n": 4, "kind": "b"})
    assert main(["--store", str(workdir / "s.db"), "run", "--resume", "job-1", "--out", str(workdir / "runs")]) == 0
    trials = SQLiteStore(str(workdir / "s.db")).list_trials("job-1")
    assert len(trials) == 3 and trials[1].params == {"x": 0.875, "n": 4, "kind": "b"}
    assert trials[2].params != trials[1].params


def test_enqueue_trial_is_stored_with_the_job_and_run_once_by_any_reader(tmp_path: Path) -> None:
    """As Optuna stores a waiting trial: another ``Study`` of the job (a second process, a
    resumed script) runs a point this one enqueued, and neither runs it twice. (Before, the
    point was held by the object: the other study never saw it.)"""
    store = SQLiteStore(str(tmp_path / "s.db"))
    study = hyperstep.Study(SPACE, store=store, job_id="s", seed=1, enqueue=[{"opt": "adam"}])
    study.enqueue_trial({"lr": 0.004, "opt": "sgd", "momentum": 0.5})
    study.enqueue_trial({"lr": 0.003})
    with pytest.raises(ValueError, match=r"params\.lr: 9\.0 is outside"):
        study.enqueue_trial({"lr": 9.0})
    assert store.get_job("s").enqueued == {2: {"lr": 0.004, "opt": "sgd", "momentum": 0.5}, 3: {"lr": 0.003}}
    first, second = study.ask(2)
    assert first.params["opt"] == "adam" and second.params == {"lr": 0.004, "opt": "sgd", "momentum": 0.5}
    other = hyperstep.Study(SPACE, store=SQLiteStore(str(tmp_path / "s.db")), job_id="s")
    assert other.ask(1)[0].params["lr"] == 0.003
    assert all(t.params.get("lr") not in (0.003, 0.004) for t in study.ask(3))


def test_an_ask_the_budget_cuts_short_keeps_the_queued_points_it_did_not_give_out() -> None:
    """The spec's point, then this object's, in one ask that straddles both and that the
    budget cuts short: the next ask goes on from the first queued point not given out."""
    study = hyperstep.Study(SPACE, seed=2, enqueue=[{"opt": "adam"}])
    for lr in (0.001, 0.002, 0.003):
        study.enqueue_trial({"lr": lr})
    first, second = study.ask(4, max_trials=2)
    assert first.params["opt"] == "adam" and second.params["lr"] == 0.001
    assert [t.params["lr"] for t in study.ask(3)][:2] == [0.002, 0.003]


def test_numpy_scalars_are_taken_as_python_s_as_add_trial_takes_them() -> None:
    """A point read from a DataFrame or an array: it said ``enqueue.0.opt: np.str_('adam') ...``."""
    study = hyperstep.Study(SPACE, enqueue=[{"lr": np.float64(0.01), "opt": np.str_("adam")}])
    study.enqueue_trial({"lr": np.float32(0.5) / 10, "opt": np.str_("sgd"), "momentum": np.float64(0.9)})
    first, second = study.ask(2)
    assert first.params == {"lr": 0.01, "opt": "adam"} and type(first.params["lr"]) is float
    assert second.params["opt"] == "sgd" and type(second.params["momentum"]) is float


def test_add_trial_before_the_enqueued_points_are_asked_is_refused_and_adds_nothing() -> None:
    study = hyperstep.Study(SPACE, enqueue=[{"opt": "adam"}])
    with pytest.raises(ValueError, match="ask them first"):
        study.add_trial({"lr": 0.01, "opt": "adam"}, 0.5)
    assert study.trials == []
    study.ask(1)
    assert study.add_trial({"lr": 0.01, "opt": "adam"}, 0.5).number == 2


def loss(trial: Trial) -> float:
    return trial.params["lr"]


def test_optimize_runs_n_trials_and_the_enqueued_points_first() -> None:
    study = hyperstep.Study(SPACE, strategy="random", seed=0, enqueue=[{"lr": 0.0001}])
    study.optimize(loss, n_trials=5)
    assert len(study.trials) == 5 and study.trials[0].value == 0.0001 and study.best_value == 0.0001


def test_optimize_fails_a_caught_exception_and_goes_on_and_fails_and_raises_any_other() -> None:
    def objective(trial: Trial) -> float:
        if trial.number == 2:
            raise ArithmeticError("diverged")
        if trial.number == 4:
            raise KeyError("lost")
        return 1.0

    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    with pytest.raises(KeyError, match="lost"):
        study.optimize(objective, n_trials=10, catch=(ArithmeticError,))
    states = [(t.number, t.state.value, t.error) for t in study.trials]
    assert states == [
        (1, "completed", None),
        (2, "failed", "ArithmeticError: diverged"),
        (3, "completed", None),
        (4, "failed", "KeyError: 'lost'"),
    ]
    study.optimize(objective, n_trials=1, catch=ArithmeticError)  # one class alone, as Optuna takes it
    assert study.trials[-1].state.value == "completed"


def test_optimize_starts_no_trial_after_its_timeout() -> None:
    def slow(trial: Trial) -> float:
        time.sleep(0.2)
        return 1.0

    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    study.optimize(slow, n_trials=20, timeout=0.5)  # n_trials: a loop that ignores the timeout fails, not hangs
    assert 2 <= len(study.trials) <= 3 and all(t.state.value == "completed" for t in study.trials)
    study.optimize(slow, timeout=0)
    assert len(study.trials) <= 3


def test_optimize_prunes_a_trial_whose_objective_raises_trial_pruned() -> None:
    early = {"name": "median", "min_resource": 1, "max_resource": 9}
    study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping=early)

    def objective(trial: Trial) -> float:
        for step in range(1, 10):
            value = trial.number * 10.0 + 1.0 / step  # later trials are worse: the median stops them
            if study.report(trial, step, value):
                raise hyperstep.TrialPruned()
        return value

    study.optimize(objective, n_trials=6)
    states = [t.state.value for t in study.trials]
    assert states[:2] == ["completed", "completed"] and "pruned" in states, states
    assert study.best_trial is not None and study.best_trial.number == 1


def test_optimize_fails_a_trial_whose_objective_returns_no_value_and_goes_on() -> None:
    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    with pytest.warns(UserWarning, match="failed: a completed trial needs a value"):
        study.optimize(lambda trial: None, n_trials=2)  # type: ignore[arg-type, return-value]
    assert [t.state.value for t in study.trials] == ["failed", "failed"]
    with pytest.raises(ValueError, match="n_trials"):
        study.optimize(loss, n_trials=2.5)  # type: ignore[arg-type]


def test_optimize_whose_objective_tells_its_trial_raises_as_optuna_without_calling_it_failed() -> None:
    """Optuna's ``_run_trial`` tells the trial what the objective returned: told already, that
    is ``ValueError("Cannot tell a COMPLETE trial.")``, and the trial stays complete. This
    warned "trial 1 failed" of a completed trial."""
    import warnings

    study = hyperstep.Study(SPACE, strategy="random", seed=0)

    def objective(trial: Trial) -> float:
        study.tell(trial, 0.5)
        return 0.5

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all
        with pytest.raises(ValueError, match="already told"):
            study.optimize(objective, n_trials=3)
    assert [(t.state.value, t.value) for t in study.trials] == [("completed", 0.5)]


def test_every_run_of_a_recurring_schedule_runs_the_points_again() -> None:
    """README: each tick is a new job whose trials 1..k are the points, warm-started or not."""
    from hyperstep.handlers import handle_start
    from hyperstep.models import JobStatus

    points = [{"x": 0.5, "n": 1, "kind": "a"}, {"kind": "b"}]
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator())
    owner = "arn:aws:iam::123456789012:user/alice"
    service.store.put_schedule_spec(
        "nightly", owner, spec_document(name="nightly", schedule="rate(1 day)", enqueue=points)
    )
    runs, jobs = [], []
    for _ in range(2):
        job_id = handle_start(service, {"schedule_name": "nightly", "owner": owner})["job_id"]
        service.suggest(SuggestRequest(job_id=job_id))
        service.store.set_job_status(job_id, JobStatus.COMPLETED)
        runs.append(service.store.list_trials(job_id))
        jobs.append(service.store.get_job(job_id))
    assert jobs[1].parents == (jobs[0].id,)  # warm-started from the first run, and it runs the points again
    assert runs[1][0].params == runs[0][0].params == points[0]
    assert runs[0][1].params["kind"] == runs[1][1].params["kind"] == "b"


def test_skip_if_exists_enqueues_a_point_once_across_reruns(tmp_path: Path) -> None:
    """Optuna's ``skip_if_exists``: a script rerun on its store enqueues its defaults again;
    a point that waits, or that a trial ran, is not stored twice."""
    path = str(tmp_path / "s.db")
    for _ in range(2):  # the script, run twice
        study = hyperstep.Study(SPACE, store=SQLiteStore(path), job_id="s", seed=1)
        study.enqueue_trial({"lr": 0.01, "opt": "adam"}, skip_if_exists=True)
    assert study.job.enqueued == {1: {"lr": 0.01, "opt": "adam"}}
    assert study.ask(1)[0].params == {"lr": 0.01, "opt": "adam"}
    study.enqueue_trial({"lr": 0.01, "opt": "adam"}, skip_if_exists=True)  # a trial ran it
    study.enqueue_trial({"lr": 0.02, "opt": "adam"}, skip_if_exists=True)
    assert study.job.enqueued == {1: {"lr": 0.01, "opt": "adam"}, 2: {"lr": 0.02, "opt": "adam"}}
    study.enqueue_trial({"lr": 0.02, "opt": "adam"})  # without the flag: stored again, as Optuna's
    assert len(study.job.enqueued) == 3


def test_skip_if_exists_skips_a_point_a_spec_holds_or_a_trial_ran_with_every_name() -> None:
    """The other two sources ``skip_if_exists`` looks at: the spec's ``enqueue`` points, and
    the params of a trial that ran (added, or proposed) with every name the point gives."""
    study = hyperstep.Study(SPACE, strategy="random", seed=0, enqueue=[{"opt": "adam"}])
    study.enqueue_trial({"opt": "adam"}, skip_if_exists=True)  # the spec's own point
    assert study.job.enqueued == {}
    study.ask(1)
    added = study.add_trial({"lr": 0.01, "opt": "adam"}, 0.5)
    study.enqueue_trial(dict(added.params), skip_if_exists=True)  # a trial ran it
    assert study.job.enqueued == {}


def test_add_trial_while_a_stored_point_waits_is_refused_and_adds_nothing() -> None:
    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    study.enqueue_trial({"opt": "sgd"})
    with pytest.raises(ValueError, match="enqueued points wait for trial numbers 1: ask them first"):
        study.add_trial({"lr": 0.01, "opt": "adam"}, 0.5)
    assert study.trials == []
    assert study.ask(1)[0].params["opt"] == "sgd"
    assert study.add_trial({"lr": 0.01, "opt": "adam"}, 0.5).number == 2


def test_suggest_runs_a_point_stored_after_its_grid_is_done() -> None:
    """A grid done on the service: a point a notebook stores next round is owed (the view's
    snapshot, kept across rounds, reads the job's points again), so Suggest runs it although
    the strategy proposes nothing."""
    store = SQLiteStore()
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator())
    grid = spec_document(
        parameters=[{"name": "n", "type": "int", "low": 1, "high": 2}],
        strategy={"name": "grid"},
        budget={"max_trials": 6, "max_parallel": 2},
    )
    service.submit(parse_spec(grid), "job")
    assert service.suggest(SuggestRequest(job_id="job")).trial_ids == ["t0001", "t0002"]
    for trial_id in ("t0001", "t0002"):
        service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
        store.finish_trial("job", trial_id, hyperstep.TrialState.COMPLETED, value=1.0)
    hyperstep.Study(grid["parameters"], store=store, job_id="job").enqueue_trial({"n": 2})
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.trial_ids == ["t0003"] and store.get_trial("job", "t0003").params == {"n": 2}


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.STOPPED, JobStatus.FAILED])
def test_enqueue_trial_refuses_a_finished_job_no_ask_will_run_and_stores_nothing(tmp_path: Path, status) -> None:
    """A study refuses ``ask`` on a finished job, but ``enqueue_trial`` stored a point in it, which
    no ask would ever run: silently lost. Now refused as ``ask`` is, the job unchanged, where
    ``run --resume`` cannot carry the job on (completed, or ask/tell's own job with no trial
    block); a run's stopped or failed job still takes one, as the resume runs it."""
    store = SQLiteStore(str(tmp_path / "s.db"))
    study = hyperstep.Study(SPACE, strategy="random", store=store, job_id="own", seed=1)
    study.tell(study.ask(1)[0], 0.5)
    store.set_job_status("own", status, stop_reason=StopReason.STOPPED_BY_USER, stop_detail="me")
    said = f"^enqueue_trial: job 'own' has {status.value} \\(me\\): a study reads a finished job's trials but adds none"
    with pytest.raises(ValueError, match=said):
        study.enqueue_trial({"lr": 0.003})
    assert store.get_job("own").enqueued == {}
    document = spec_document(budget={"max_trials": 3, "max_parallel": 1})
    store.create_job(Job(id="ran", spec=parse_spec(document), created_at=time.time()))
    store.set_job_status("ran", status, stop_reason=StopReason.STOPPED_BY_USER, stop_detail="me")
    ran = hyperstep.Study(document["parameters"], store=store, job_id="ran")
    if status is JobStatus.COMPLETED:
        with pytest.raises(ValueError, match=r"^enqueue_trial: job 'ran' has completed"):
            ran.enqueue_trial({"x": 0.5})
        assert store.get_job("ran").enqueued == {}
    else:
        ran.enqueue_trial({"x": 0.5})
        assert store.get_job("ran").enqueued == {1: {"x": 0.5}}
