"""The ask/tell surface, exactly as outside code uses it."""

from __future__ import annotations

import contextlib
import threading

import pytest
from pydantic import ValidationError

import hyperstep
from hyperstep.errors import NotFoundError, SpecError
from hyperstep.models import JobStatus, StopReason, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import JobSpec
from hyperstep.stores.sqlite import SQLiteStore

PARAMETERS = [
    {"name": "x", "type": "float", "low": -2.0, "high": 2.0},
    {"name": "depth", "type": "int", "low": 1, "high": 12},
    {"name": "kernel", "type": "categorical", "choices": ["rbf", "linear"]},
]


def objective(params: dict) -> float:
    return (params["x"] - 0.5) ** 2 + 0.1 * abs(params["depth"] - 4) + (params["kernel"] == "linear")


@pytest.mark.parametrize("strategy", ["random", "sobol", "grid", "bayesian", "evolutionary"])
def test_ask_tell_surface(strategy: str) -> None:
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    study = hyperstep.Study(space, goal="minimize", strategy=strategy, seed=0)
    trials = study.ask(4)
    assert len(trials) == 4 and len({t.id for t in trials}) == 4
    for t in trials:
        assert isinstance(t.params["depth"], int) and not isinstance(t.params["depth"], bool)
        assert t.params["kernel"] in ("rbf", "linear") and -2.0 <= t.params["x"] <= 2.0
    study.tell(trials[0].id, 0.37)
    study.tell(trials[1].id, None, state="failed")
    assert study.best_trial.id == trials[0].id and study.best_trial.value == 0.37
    assert study.best_trial.params == trials[0].params
    assert [t.id for t in study.trials] == [t.id for t in trials]
    states = [t.state.value for t in study.trials]
    assert states == ["completed", "failed", "pending", "pending"]


@pytest.mark.parametrize(
    ("strategy", "options", "field"),
    [
        ("bayesian", {"n_initial": 0}, "n_initial"),
        ("grid", {"resolution": "fine"}, "resolution"),
        ("sobol", {"k": 1}, "k"),
    ],
)
def test_a_bad_strategy_option_is_refused_naming_it(strategy: str, options: dict, field: str) -> None:
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    with pytest.raises(SpecError, match=rf"^strategy\.options\.{field}: "):  # one line, as the CLI's
        hyperstep.Study(space, strategy=strategy, strategy_options=options)


def test_strategy_options_reach_the_strategy() -> None:
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    study = hyperstep.Study(space, strategy="evolutionary", strategy_options={"population_size": 6, "sigma0": 0.1})
    assert (study.strategy.population_size, study.strategy.sigma0) == (6, 0.1)


def test_maximize_tracks_the_largest_value() -> None:
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    study = hyperstep.Study(space, goal="maximize", strategy="random", seed=3)
    for value, trial in zip([0.2, 0.9, 0.5], study.ask(3)):
        study.tell(trial.id, value)
    assert study.best_trial.value == 0.9


def test_pending_trials_are_not_asked_again() -> None:
    space = hyperstep.SearchSpace.model_validate(
        {"parameters": [PARAMETERS[2], {"name": "n", "type": "int", "low": 1, "high": 3}]}
    )
    study = hyperstep.Study(space, strategy="grid", seed=0)
    first, second = study.ask(3), study.ask(3)
    keys = [tuple(sorted(t.params.items())) for t in first + second]
    assert len(set(keys)) == 6  # the whole 2 x 3 grid, each point once
    assert study.ask(1) == []  # exhausted


def test_same_seed_and_history_give_the_same_suggestions() -> None:
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    runs = []
    for _ in range(2):
        study = hyperstep.Study(space, strategy="bayesian", seed=42)
        for _ in range(3):
            for t in study.ask(3):
                study.tell(t.id, objective(t.params))
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]


@pytest.mark.parametrize("goal", ["minimize", ["minimize", "maximize"]])
def test_a_second_tell_is_refused_naming_the_trial_unless_skip_if_finished(goal: str | list) -> None:
    """As Optuna: telling an ended trial again is a ValueError (a user's loop telling the
    wrong trial would otherwise lose a result silently); ``skip_if_finished=True``, Optuna's
    flag for a retried call, changes nothing and returns the trial as it ended."""
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    study = hyperstep.Study(space, goal=goal, strategy="random", seed=0)
    (trial,) = study.ask(1)
    first, second = (1.0, 0.0) if goal == "minimize" else ([1.0, 2.0], [0.0, 3.0])
    study.tell(trial.id, first)
    with pytest.raises(ValueError, match=r"trial t0001 was already told \(completed with .*skip_if_finished"):
        study.tell(trial.id, second)
    with pytest.raises(ValueError, match="already told"):
        study.tell(trial.id, None, state="failed")
    again = study.tell(trial.id, second, skip_if_finished=True)
    assert again.state is hyperstep.TrialState.COMPLETED and again.value == 1.0
    assert study.job.completed == 1 and study.job.failed == 0


def test_skip_if_finished_returns_an_ended_trial_before_checking_what_was_told() -> None:
    """As Optuna's: a finished trial is returned as it ended whatever the retried call
    tells (here no value: before, "a completed trial needs a value" was raised)."""
    study = hyperstep.Study({"parameters": PARAMETERS}, strategy="random", seed=0)
    (trial,) = study.ask(1)
    study.tell(trial, 1.0)
    again = study.tell(trial, skip_if_finished=True)
    assert again.state is hyperstep.TrialState.COMPLETED and again.value == 1.0
    with pytest.raises(ValueError, match="a completed trial needs a value"):  # a trial not ended is still checked
        study.tell(study.ask(1)[0], skip_if_finished=True)


def test_tell_non_finite_fails() -> None:
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    study = hyperstep.Study(space, strategy="random", seed=0)
    b = study.ask(1)[0]
    assert study.tell(b.id, float("nan")).state is hyperstep.TrialState.FAILED
    with pytest.raises(ValueError, match="needs a value"):
        study.tell(study.ask(1)[0].id, None)


def test_non_finite_side_metrics_are_dropped_and_the_study_stays_readable() -> None:
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    study = hyperstep.Study(space, strategy="random", seed=0)
    (trial,) = study.ask(1)
    told = study.tell(trial.id, 0.5, metrics={"acc": float("nan"), "f1": 0.25, "auc": float("inf")})
    assert told.state is hyperstep.TrialState.COMPLETED and told.metrics == {"f1": 0.25}
    assert study.trials[0].metrics == {"f1": 0.25}


def test_budget_is_never_overspent_by_racing_askers(tmp_path) -> None:
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    path = tmp_path / "s.db"
    study = hyperstep.Study(space, strategy="random", seed=0, store=SQLiteStore(path), job_id="race")
    got: list = []

    def worker() -> None:
        mine = hyperstep.Study.from_job(SQLiteStore(path), study.job)
        for _ in range(5):
            got.extend(mine.ask(2, max_trials=15))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 15 and len({t.id for t in got}) == 15
    assert study.job.budget_used == 15


@pytest.mark.parametrize("strategy", ["random", "bayesian"])
def test_two_threads_asking_one_study_at_once_get_different_configurations(strategy: str) -> None:
    """Threads sharing one Study (Optuna's ``n_jobs`` pattern) ask one at a time: before,
    two asks that read the history at once proposed from the same history and seed, so
    both got the same configurations. The store makes both read at the same moment
    unless ask is serialized (then the first read waits out the barrier alone)."""
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    study = hyperstep.Study(space, strategy=strategy, seed=0)
    together = threading.Barrier(2, timeout=1)
    list_trials = study.store.list_trials

    def read_together(job_id: str) -> list:
        with contextlib.suppress(threading.BrokenBarrierError):  # asks are serialized: nobody else reads now
            together.wait()
        return list_trials(job_id)

    study.store.list_trials = read_together  # type: ignore[method-assign]
    got: list = []
    threads = [threading.Thread(target=lambda: got.extend(study.ask(2))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    study.store.list_trials = list_trials  # type: ignore[method-assign]
    assert len(got) == 4
    assert len({tuple(sorted(t.params.items())) for t in got}) == 4


def test_study_survives_in_a_sqlite_file(tmp_path) -> None:
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    path = tmp_path / "study.db"
    study = hyperstep.Study(space, strategy="sobol", seed=1, store=SQLiteStore(path), job_id="keep")
    trial = study.ask(1)[0]
    study.tell(trial.id, 2.5)
    again = hyperstep.Study(space, strategy="sobol", seed=1, store=SQLiteStore(path), job_id="keep")
    assert again.best_trial.value == 2.5 and len(again.trials) == 1


def test_a_study_reopened_on_its_store_with_another_goal_space_or_strategy_is_refused(tmp_path) -> None:
    """A stored job keeps its spec: reopened with another goal it would silently go on
    minimizing what the caller now maximizes (Optuna refuses another direction too), with
    another space propose points of the old one. What is given must match what is stored;
    what is left out (goal, strategy, seed) is taken from the store."""
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    path = tmp_path / "study.db"
    study = hyperstep.Study(space, goal="minimize", strategy="random", seed=1, store=SQLiteStore(path), job_id="j")
    study.tell(study.ask(1)[0].id, 1.0)
    wider = hyperstep.SearchSpace.model_validate({"parameters": [{**PARAMETERS[0], "high": 9.0}, *PARAMETERS[1:]]})
    refused = [
        ({"goal": "maximize"}, r"^goal: job 'j' is stored with goal minimize"),
        ({"goal": ["minimize", "maximize"]}, r"^goal: job 'j' is stored with goal minimize"),
        ({"strategy": "sobol"}, r"^strategy: job 'j' is stored with strategy random"),
        ({"seed": 2}, r"^seed: job 'j' is stored with seed 1"),
        ({"constraints": [{"metric": "m", "max": 1}]}, r"^constraints: job 'j' is stored with constraints \[\]"),
        ({"space": wider}, r"^space: job 'j' is stored with other parameters"),
    ]
    for change, message in refused:
        given = {"space": space, "goal": "minimize", "strategy": "random", "seed": 1, **change}
        with pytest.raises(ValueError, match=message):
            hyperstep.Study(given.pop("space"), **given, store=SQLiteStore(path), job_id="j")
    for given in ({"goal": "minimize", "strategy": "random", "seed": 1}, {}):  # the same, or left out
        again = hyperstep.Study(space, **given, store=SQLiteStore(path), job_id="j")
        assert again.minimize and again.spec.strategy.name == "random" and again.best_trial.value == 1.0
    options = {"space": space, "strategy": "bayesian", "store": SQLiteStore(path), "job_id": "b"}
    hyperstep.Study(**options, strategy_options={"n_initial": 3})
    with pytest.raises(ValueError, match=r"^strategy_options: job 'b' is stored with strategy_options \{'n_in"):
        hyperstep.Study(**options, strategy_options={"n_initial": 4})


def test_a_warm_started_study_learns_from_its_parents_trials(tmp_path) -> None:
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    store = SQLiteStore(tmp_path / "s.db")
    parent = hyperstep.Study(space, strategy="random", seed=0, store=store, job_id="parent")
    for t in parent.ask(6):
        parent.tell(t.id, objective(t.params))
    outsider = parent.ask(1)[0]  # pending: not knowledge
    from hyperstep.models import Job

    child_job = Job(id="child", spec=parent.spec, parents=("parent",))
    store.create_job(child_job)
    child = hyperstep.Study.from_job(store, child_job)
    prior = child.prior_trials()
    assert len(prior) == 6 and outsider.id not in {t.id for t in prior}
    assert child.trials == []  # the parent's trials inform, they are not the child's
    assert child.job.budget_used == 0


def test_space_contains_checks_names_types_and_bounds() -> None:
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    assert space.contains({"x": 0.1, "depth": 3, "kernel": "rbf"})
    assert not space.contains({"x": 3.0, "depth": 3, "kernel": "rbf"})
    assert not space.contains({"x": 0.1, "depth": 3.5, "kernel": "rbf"})
    assert not space.contains({"x": 0.1, "depth": 3, "kernel": "poly"})
    assert not space.contains({"x": 0.1, "depth": 3})


def test_an_unseeded_job_resumed_from_its_store_proposes_what_an_uninterrupted_one_does(tmp_path) -> None:
    """The seed of an unseeded job is drawn once and kept with the job: a study built
    afresh from the store each round (as the CLI resumes, as every Suggest runs) makes the
    same proposals as one study asking round after round."""
    import shutil

    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    first = SQLiteStore(tmp_path / "resumed.db")
    hyperstep.Study(space, strategy="random", store=first, job_id="unseeded")
    first.close()  # the file now holds the job whole (no write-ahead log beside it)
    shutil.copy(tmp_path / "resumed.db", tmp_path / "uninterrupted.db")  # the very same job, twice
    uninterrupted = hyperstep.Study(
        space, strategy="random", store=SQLiteStore(tmp_path / "uninterrupted.db"), job_id="unseeded"
    )
    proposed: dict[str, list[dict]] = {"uninterrupted": [], "resumed": []}
    for _ in range(3):
        resumed = hyperstep.Study(
            space, strategy="random", store=SQLiteStore(tmp_path / "resumed.db"), job_id="unseeded"
        )
        for name, study in (("uninterrupted", uninterrupted), ("resumed", resumed)):
            for trial in study.ask(2):
                proposed[name].append(trial.params)
                study.tell(trial.id, objective(trial.params))
    assert proposed["resumed"] == proposed["uninterrupted"]


def test_a_space_given_as_its_document_is_read_and_a_bad_one_refused_naming_the_field() -> None:
    study = hyperstep.Study({"parameters": PARAMETERS}, strategy="random", seed=0)
    assert [p.name for p in study.space.parameters] == ["x", "depth", "kernel"]
    with pytest.raises(SpecError, match=r"^parameters: List should have at least 1 item"):
        hyperstep.Study({"parameters": []})
    listed = hyperstep.Study(PARAMETERS, strategy="random", seed=0)  # the parameters alone, as a list
    assert listed.space == study.space
    with pytest.raises(SpecError, match=r"^parameters\.0\.high"):
        hyperstep.Study([{"name": "x", "type": "float", "low": 1.0}])
    with pytest.raises(TypeError, match=r"^space: a hyperstep.SearchSpace, its document .* or a list of parameters"):
        hyperstep.Study(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^goal: 'minimize', 'maximize' or a list of two or three of them, got 42"):
        hyperstep.Study({"parameters": PARAMETERS}, goal=42)  # type: ignore[arg-type]
    assert hyperstep.Study({"parameters": PARAMETERS}, goal=None).minimize  # as Optuna's direction=None
    with pytest.raises(SpecError, match=r"^strategy\.name: Input should be 'random'"):
        hyperstep.Study({"parameters": PARAMETERS}, strategy="")  # not the default


@pytest.mark.parametrize(
    ("strategy", "option", "value", "points"),
    [
        ("grid", "resolution", 200_000, 3),  # the whole 3-point grid
        ("evolutionary", "population_size", 5_000, 5),
        ("bayesian", "max_model_points", 5_000, 5),
        ("bayesian", "n_initial", True, 5),  # options are stored as given: true was taken as 1
    ],
)
def test_a_job_stored_before_an_options_bound_still_suggests(
    strategy: str, option: str, value: int, points: int
) -> None:
    """A job is checked when it comes in; each Suggest rebuilds its strategy from the stored
    spec, which must not repeat the checks that came later (the 100,000 ``resolution`` cap,
    the bounds on ``population_size`` and ``max_model_points``) or a job stored before them
    fails at its next round."""
    from hyperstep.models import Job
    from hyperstep.spec import JobSpec
    from hyperstep.spec_base import STORED
    from hyperstep.study import Study
    from tests.conftest import spec_document

    document = spec_document(
        parameters=[{"name": "n", "type": "int", "low": 1, "high": 3}]
        + ([] if strategy == "grid" else [{"name": "x", "type": "float", "low": 0, "high": 1}]),
        strategy={"name": strategy, "seed": 0, "options": {option: value}},
    )
    with pytest.raises(ValidationError, match=rf"strategy\.options\.{option}"):
        JobSpec.model_validate(document)  # refused as it comes in
    store = SQLiteStore(":memory:")
    store.create_job(Job(id="old", spec=JobSpec.model_validate(document, context=STORED)))
    study = Study.from_job(store, store.get_job("old"))
    assert getattr(study.strategy.options, option) == value
    assert len(study.ask(5)) == points


def test_a_job_stored_with_an_option_since_removed_still_suggests() -> None:
    """The stores keep a spec whose strategy option no strategy takes any more readable
    (``test_a_spec_stored_under_older_rules_stays_readable``); its next Suggest runs too,
    without the option, which nothing reads."""
    from hyperstep.models import Job
    from hyperstep.spec import JobSpec
    from hyperstep.spec_base import STORED
    from hyperstep.study import Study
    from tests.conftest import spec_document

    document = spec_document(strategy={"name": "random", "seed": 0, "options": {"kappa": 2.5}})
    with pytest.raises(ValidationError, match=r"strategy\.options\.kappa"):
        JobSpec.model_validate(document)
    store = SQLiteStore(":memory:")
    store.create_job(Job(id="old-option", spec=JobSpec.model_validate(document, context=STORED)))
    assert len(Study.from_job(store, store.get_job("old-option")).ask(2)) == 2


def test_a_job_stored_with_its_options_as_strings_reads_back_and_suggests() -> None:
    """Options were kept as given before 3bfe10ef (``{"n_initial": "3"}`` in the stored spec);
    strings for numbers are refused as a spec comes in since 0a5ac73, not as one is read back
    from a store: the job lists, reads and suggests with the numbers they are."""
    from hyperstep.models import Job
    from hyperstep.spec import JobSpec
    from hyperstep.spec_base import STORED
    from hyperstep.study import Study
    from tests.conftest import spec_document

    document = spec_document(strategy={"name": "bayesian", "seed": 0, "options": {"n_initial": "3"}})
    with pytest.raises(ValidationError, match=r"strategy\.options\.n_initial"):
        JobSpec.model_validate(document)
    store = SQLiteStore(":memory:")
    store.create_job(Job(id="old-strings", spec=JobSpec.model_validate(document, context=STORED)))
    assert [job.id for job in store.list_jobs()] == ["old-strings"]
    study = Study.from_job(store, store.get_job("old-strings"))
    assert study.strategy.options.n_initial == 3 and len(study.ask(2)) == 2


def test_a_seed_past_json_s_exact_integers_is_refused_before_anything_is_stored() -> None:
    """A seed of 4,400 digits was stored by ``Study`` and its job could not be read back
    (pydantic: JSON number out of range), so the study failed and left an unreadable job;
    one past 2**53 - 1 is read rounded by JavaScript and jq. Both are refused as the spec
    comes in, naming the field, with nothing stored; 2**53 - 1 runs. A job stored with a
    larger seed before the bound keeps its seed and suggests."""
    from hyperstep.models import Job
    from hyperstep.spec import MAX_SEED, JobSpec
    from hyperstep.spec_base import STORED
    from hyperstep.study import Study
    from tests.conftest import spec_document

    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    store = SQLiteStore(":memory:")
    for seed in (10**4400, MAX_SEED + 1):
        with pytest.raises(SpecError, match=r"^strategy\.seed: "):
            hyperstep.Study(space, strategy="random", seed=seed, store=store)
    assert store.list_jobs() == []
    assert len(hyperstep.Study(space, strategy="random", seed=MAX_SEED, store=store).ask(2)) == 2
    document = spec_document(strategy={"name": "random", "seed": 2**70})
    store.create_job(Job(id="old-seed", spec=JobSpec.model_validate(document, context=STORED)))
    study = Study.from_job(store, store.get_job("old-seed"))
    assert study.seed == 2**70 and len(study.ask(2)) == 2


@pytest.mark.parametrize("value", [True, False])
def test_a_bool_is_no_value_to_tell(value: bool) -> None:
    """``True`` is an int to Python, not a metric: tell and add_trial refuse it, as any
    other non-number, and the trial stays as it was."""
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    study = hyperstep.Study(space, strategy="random", seed=0)
    trial = study.ask(1)[0]
    with pytest.raises(ValueError, match=r"tell one value, not (True|False)$"):
        study.tell(trial.id, value)
    with pytest.raises(ValueError, match="a completed trial needs a finite value"):
        study.add_trial({"x": 0.0, "depth": 3, "kernel": "rbf"}, value)
    assert [t.state.value for t in study.trials] == ["pending"]
    two = hyperstep.Study(space, goal=["minimize", "maximize"], strategy="random", seed=0)
    trial = two.ask(1)[0]
    with pytest.raises(ValueError, match="tell a list of 2 numbers"):
        two.tell(trial.id, [0.5, value])
    assert two.trials[0].state.value == "pending"


@pytest.mark.parametrize("kind", ["np.True_", "0-d bool array", "np.complex128", "0-d complex array"])
def test_a_numpy_bool_is_no_value_either(kind: str) -> None:
    """numpy's bool (``loss < 0.1`` computed on arrays) is refused as Python's is, by tell,
    report and a metric: it was read as the float it converts to (1.0, 0.0), a 0-d array's
    way, and recorded. So is numpy's complex (an FFT's output), whose imaginary part
    ``float()`` dropped with a ComplexWarning, where Python's ``1j`` was refused."""
    import numpy as np

    value = {
        "np.True_": np.True_,
        "0-d bool array": np.array(False),
        "np.complex128": np.complex128(0.5 + 2j),
        "0-d complex array": np.array(0.5 + 2j),
    }[kind]
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    study = hyperstep.Study(space, strategy="random", seed=0)
    trial = study.ask(1)[0]
    with pytest.raises(ValueError, match=r"tell one value, not "):
        study.tell(trial.id, value)
    with pytest.raises(ValueError, match=r"report a number as the value, got "):
        study.report(trial.id, 1, value)
    with pytest.raises(ValueError, match=r"metrics: 'ok' must be a number"):
        study.tell(trial.id, 0.5, metrics={"ok": value})
    (kept,) = study.trials
    assert (kept.state.value, kept.curve) == ("pending", {})


@pytest.mark.parametrize("state", ["running", "pending", "bogus", "COMPLETED"])
def test_tell_takes_only_the_states_a_trial_ends_in(state: str) -> None:
    """``tell`` records how a trial ended: completed, failed, stopped or pruned. A trial
    told ``running`` or ``pending`` is not ended (and took a value); a state that is none
    (a typo, another case) was "'bogus' is not a valid TrialState", naming no argument."""
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    study = hyperstep.Study(space, strategy="random", seed=0)
    trial = study.ask(1)[0]
    with pytest.raises(ValueError, match=rf"^state: completed, failed, stopped or pruned, got '{state}'$"):
        study.tell(trial.id, 0.3, state=state)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=rf"^state: completed or failed, got '{state}'$"):
        study.add_trial({"lr": 0.01, "depth": 3}, 0.3, state=state)  # type: ignore[arg-type]
    assert [(t.state.value, t.value) for t in study.trials] == [("pending", None)]


@pytest.mark.parametrize("early_stopping", [None, {"name": "median", "min_resource": 1, "max_resource": 9}])
def test_a_trial_told_pruned_keeps_its_curve_and_budget_counts_once_and_is_no_failure(
    early_stopping: dict | None,
) -> None:
    """Optuna's ``tell(trial, state=TrialState.PRUNED)``, here ``state="pruned"``: the
    trial ends as early stopping ends one (with or without the study's scheduler): its
    curve kept, its value the one told, else the curve's newest, counted once in
    ``pruned`` with its unit of budget (a stopped trial gives it back), never the best
    while a trial completed, never a failure. A retried tell changes nothing."""
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    study = hyperstep.Study(space, strategy="random", seed=0, early_stopping=early_stopping)
    done, told, bare, stopped = study.ask(4)
    study.tell(done.id, 0.5)
    study.report(told.id, 1, 0.4)
    study.report(told.id, 2, 0.3)
    pruned = study.tell(told.id, None, state="pruned")
    assert (pruned.state.value, pruned.value, pruned.curve) == ("pruned", 0.3, {1: 0.4, 2: 0.3})
    assert study.tell(bare.id, 0.2, state="pruned").value == 0.2  # no curve: the value told
    assert study.tell(stopped.id, None, state="stopped").state.value == "stopped"
    assert study.tell(told.id, 0.1, state="completed", skip_if_finished=True) == pruned
    job = study.job
    assert (job.completed, job.pruned, job.failed, job.budget_used) == (1, 2, 0, 3)
    assert study.best_trial is not None and study.best_trial.id == done.id


@pytest.mark.parametrize("strategy", ["random", "grid", "bayesian"])
@pytest.mark.parametrize("n", [2.5, True, "3", None])
def test_ask_refuses_a_count_that_is_not_an_integer(strategy: str, n: object) -> None:
    """``ask(n)`` takes an integer (numpy's too), refused as ``report``'s step is: a float
    failed deep in a strategy, and ``True`` asked one trial of the grid."""
    import numpy as np

    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    study = hyperstep.Study(space, strategy=strategy, seed=0)
    with pytest.raises(ValueError, match=r"^n must be an integer, got "):
        study.ask(n)  # type: ignore[arg-type]
    assert study.trials == [] and len(study.ask(np.int64(2))) == 2


def test_a_failed_trial_is_told_without_a_value_as_optuna_refuses_one() -> None:
    """``tell(id, 1.0, state="failed")`` kept 1.0 on a failed trial, shown in its value
    column as if measured; Optuna refuses values with FAIL. Refused, nothing recorded; the
    same trial is then told failed without one."""
    one = hyperstep.Study({"parameters": PARAMETERS}, strategy="random", seed=0)
    two = hyperstep.Study({"parameters": PARAMETERS}, goal=["minimize", "maximize"], strategy="random", seed=0)
    for study, value in ((one, 1.0), (two, [1.0, 2.0])):
        trial = study.ask(1)[0]
        with pytest.raises(ValueError, match=r"^a failed trial takes no value; tell None \(got "):
            study.tell(trial.id, value, state="failed")
        assert study.trials[0].state.value == "pending"
        told = study.tell(trial.id, None, state="failed")
        assert (told.state.value, told.value, told.values) == ("failed", None, None)


def test_add_trial_takes_numpy_scalars_as_the_numbers_they_are(tmp_path) -> None:
    """Earlier results read from a DataFrame or an array hold numpy scalars: an
    ``np.int64`` depth was "not a point of this space", an ``np.int64`` choice failed deep in
    the store (PydanticSerializationError). They are taken as Python's, and stored so."""
    import numpy as np

    parameters = [*PARAMETERS[:2], {"name": "kernel", "type": "categorical", "choices": ["rbf", 7, True]}]
    study = hyperstep.Study({"parameters": parameters}, strategy="random", seed=0, store=SQLiteStore(tmp_path / "s.db"))
    rows = [
        ({"x": np.float64(0.5), "depth": np.int64(3), "kernel": np.str_("rbf")}, np.float64(0.25)),
        ({"x": np.float32(0.5), "depth": np.int32(4), "kernel": np.int64(7)}, np.float32(0.5)),
        ({"x": 0.5, "depth": 5, "kernel": np.bool_(True)}, 0.75),
    ]
    for params, value in rows:
        study.add_trial(params, value)
    stored = SQLiteStore(tmp_path / "s.db").list_trials(study.job_id)
    assert [t.params for t in stored] == [
        {"x": 0.5, "depth": 3, "kernel": "rbf"},
        {"x": 0.5, "depth": 4, "kernel": 7},
        {"x": 0.5, "depth": 5, "kernel": True},
    ]
    assert [type(t.params["depth"]) for t in stored] == [int, int, int] and stored[2].params["kernel"] is True
    assert [t.value for t in stored] == [0.25, 0.5, 0.75]


def test_ask_refuses_a_negative_count_and_asks_none_for_zero() -> None:
    """``ask(-1)`` is a caller's arithmetic gone wrong (free slots counted below zero): it
    said nothing and returned no trial; ``ask(0)`` asks for none, and gets none."""
    study = hyperstep.Study({"parameters": PARAMETERS}, strategy="random", seed=0)
    with pytest.raises(ValueError, match=r"^n must be 0 or more, got -1$"):
        study.ask(-1)
    assert study.ask(0) == [] and study.trials == []


def test_ask_refuses_more_trials_than_a_job_may_hold_at_once() -> None:
    """``ask(10**9)`` tried to allocate 30 GiB of candidates (MemoryError, after a while) and
    ``ask(10_001)`` added them all; one ask proposes at most a job's whole budget (10,000)."""
    study = hyperstep.Study({"parameters": PARAMETERS}, strategy="random", seed=0)
    for n in (10**9, 10_001):
        with pytest.raises(
            ValueError, match=rf"^n must be at most 10,000 \(a job's whole budget at most\), got {n:,}$"
        ):
            study.ask(n)
    assert study.trials == []


def test_ask_takes_a_job_s_whole_budget_at_once() -> None:
    """10,000 (a job's largest ``budget.max_trials``) is the bound itself, not past it: one
    ask of a whole budget proposes every trial."""
    study = hyperstep.Study({"parameters": PARAMETERS}, strategy="random", seed=0)
    assert len(study.ask(10_000)) == 10_000 == len(study.trials)


@pytest.mark.parametrize(
    ("metrics", "reason"),
    [
        ({"lat": True}, "metrics: 'lat' must be a number, got True"),
        ({"lat": "x"}, "metrics: 'lat' must be a number, got 'x'"),
        ({"lat": None}, "metrics: 'lat' must be a number, got None"),
        ({1: 0.3}, "metrics: a metric's name is a string, got 1"),
    ],
)
def test_tell_refuses_metrics_that_are_not_numbers_by_name(metrics: dict, reason: str) -> None:
    """What the constraints read is checked as the value is: a bool was kept as 1.0, an int
    name as a string, and a string or None value was a TypeError from ``math.isfinite``."""
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    for goal in ("minimize", ["minimize", "maximize"]):
        study = hyperstep.Study(space, goal=goal, strategy="random", seed=0, constraints=[{"metric": "lat", "max": 1}])
        trial = study.ask(1)[0]
        with pytest.raises(ValueError) as error:
            study.tell(trial.id, 0.5 if goal == "minimize" else [0.5, 0.5], metrics=metrics)
        assert str(error.value) == reason
        assert study.trials[0].state.value == "pending"


def test_tell_and_report_take_the_trial_or_its_number_as_optuna_does() -> None:
    """Optuna's ``study.tell(trial, value)`` takes the trial or its number: so do ``tell``
    and ``report`` (before, a Trial reached SQLite as a parameter: ``ProgrammingError``;
    a number was 'not found'). A trial of another study is refused naming both jobs."""
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    study = hyperstep.Study(space, strategy="random", seed=0, early_stopping={"name": "median", "max_resource": 9})
    a, b, c = study.ask(3)
    assert study.report(a, 1, 0.5) is False and study.report(b.number, 1, 0.25) is False
    assert study.tell(a, 0.5).value == 0.5
    assert study.tell(b.number, 0.25).value == 0.25
    assert study.tell(c.id, 0.75).value == 0.75
    assert [t.curve for t in study.trials[:2]] == [{1: 0.5}, {1: 0.25}]
    other = hyperstep.Study(space, strategy="random", seed=0).ask(1)[0]
    with pytest.raises(ValueError, match=rf"trial: t0001 is a trial of job '{other.job_id}', not of '{study.job_id}'"):
        study.tell(other, 1.0)
    with pytest.raises(TypeError, match=r"trial: a trial id, a Trial or a trial number, got 1\.5"):
        study.tell(1.5, 1.0)  # type: ignore[arg-type]


def test_tell_of_a_failed_or_pruned_trial_needs_no_value_as_in_optuna() -> None:
    """Optuna's ``study.tell(trial, state=TrialState.FAIL)``: before, leaving the value
    out was a TypeError (a required positional argument)."""
    study = hyperstep.Study({"parameters": PARAMETERS}, strategy="random", seed=0)
    failed, pruned, completed = study.ask(3)
    assert study.tell(failed, state="failed").state is hyperstep.TrialState.FAILED
    assert study.tell(pruned, state="pruned").state is hyperstep.TrialState.PRUNED
    with pytest.raises(ValueError, match="a completed trial needs a value"):
        study.tell(completed)


CONDITIONAL = [
    {"name": "x", "type": "float", "low": 0.0, "high": 1.0},
    {"name": "kernel", "type": "categorical", "choices": ["rbf", "linear", 3]},
    {"name": "gamma", "type": "int", "low": 1, "high": 10, "when": {"kernel": ["rbf"]}},
]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"x": 1.5, "kernel": "linear"}, r"params\.x: 1\.5 is outside \[0\.0, 1\.0\]"),
        ({"x": True, "kernel": "linear"}, r"params\.x: True is not a number"),
        ({"x": 0.5, "kernel": "poly"}, r"params\.kernel: 'poly' is not one of \['rbf', 'linear', 3\]"),
        ({"x": 0.5, "kernel": "rbf", "gamma": 2.5}, r"params\.gamma: 2\.5 is not an integer"),
        ({"x": 0.5, "kernel": "rbf"}, r"params\.gamma: missing \(it is active here\)"),
        (
            {"x": 0.5, "kernel": "linear", "gamma": 2},
            r"params\.gamma: set, but inactive here \(when: \{'kernel': \['rbf'\]\}\)",
        ),
        ({"x": 0.5, "gamma": 2}, r"params\.kernel: missing"),
        ({"x": 0.5, "kernel": "linear", "lr": 0.1}, r"params\.lr: not a parameter of this space \(x, kernel, gamma\)"),
    ],
)
def test_add_trial_names_the_parameter_at_fault_and_why(params: dict, message: str) -> None:
    """Before, every bad ``params`` gave the same "params {...} are not a point of this
    space", naming neither the parameter nor the reason."""
    study = hyperstep.Study({"parameters": CONDITIONAL}, strategy="random", seed=0)
    with pytest.raises(ValueError, match=message):
        study.add_trial(params, 1.0)
    assert study.trials == []


def test_add_trial_takes_an_integral_float_for_an_int_and_stores_the_choice_named() -> None:
    """A DataFrame's int column with a gap holds 3.0 (Optuna takes it for an int); a
    choice named by an equal value or its text is stored as the space's choice."""
    study = hyperstep.Study({"parameters": CONDITIONAL}, strategy="random", seed=0)
    trial = study.add_trial({"x": 1, "kernel": "rbf", "gamma": 3.0}, 0.5)
    assert trial.params == {"x": 1.0, "kernel": "rbf", "gamma": 3}
    assert [type(v) for v in trial.params.values()] == [float, str, int]
    assert study.add_trial({"x": 0.5, "kernel": 3.0}, 0.5).params == {"x": 0.5, "kernel": 3}
    assert study.add_trial({"x": 0.5, "kernel": "3"}, 0.5).params["kernel"] == 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"value": 1.0, "state": "failed"}, r"a failed trial takes no value"),
        ({"value": 1.0, "metrics": {"acc": "high"}}, r"metrics: 'acc' must be a number"),
        ({"value": None, "state": "failed", "error": 3}, r"error: a string or an exception, got 3"),
    ],
)
def test_add_trial_refused_adds_no_trial(call: dict, message: str) -> None:
    """A refused add_trial leaves no trial behind: before, bad metrics or error were
    found by the tell after the trial was added (a pending trial nobody would tell), a
    failed trial's value was dropped silently, and an int ``error`` was stored as it came,
    after which the study could no longer be read (pydantic: error should be a string)."""
    study = hyperstep.Study({"parameters": CONDITIONAL}, strategy="random", seed=0)
    with pytest.raises(ValueError, match=message):
        study.add_trial({"x": 0.5, "kernel": "linear"}, **call)
    assert study.trials == []


def test_tell_takes_an_exception_as_the_error_and_refuses_other_types() -> None:
    """``except Exception as e: study.tell(trial, None, state="failed", error=e)``: the
    trial fails with ``Type: message`` (before, PydanticSerializationError and the trial
    stayed pending); an int error was stored and broke every later read of the study."""
    study = hyperstep.Study({"parameters": CONDITIONAL}, strategy="random", seed=0)
    a, b = study.ask(2)
    told = study.tell(a, None, state="failed", error=RuntimeError("CUDA out of memory"))
    assert (told.state.value, told.error) == ("failed", "RuntimeError: CUDA out of memory")
    with pytest.raises(ValueError, match="error: a string or an exception, got 3"):
        study.tell(b, None, state="failed", error=3)  # type: ignore[arg-type]
    assert [t.state.value for t in study.trials] == ["failed", "pending"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"goal": "max"}, "goal: Input should be 'minimize' or 'maximize'"),
        ({"goal": ["minimize"] * 4}, "goal: one goal, or a list of two or three (one per objective), got 4"),
        ({"constraints": {"metric": "mb", "max": 2}}, "constraints: a list of constraints, got one mapping"),
        ({"constraints": [{"metric": "mb"}]}, "constraints.0: constraint on 'mb' needs max, min or both"),
        ({"seed": -1}, "strategy.seed: Input should be greater than or equal to 0"),
        # was "warm_start.jobs: job 'jobs' not found" and "enqueue.0: ... not a string" (the keys, listed)
        (
            {"warm_start": {"jobs": ["a"]}},
            "warm_start: a list of job ids, got the mapping {'jobs': ['a']}; give its jobs",
        ),
        ({"enqueue": {"lr": 0.01}}, "enqueue: a list of points, got {'lr': 0.01}; put the point in a list"),
        ({"enqueue": "x"}, "enqueue: a list of points, got 'x'; put the point in a list"),
        ({"space": {"parameters": [{"name": "x", "type": "float", "low": 1, "high": 1}]}}, "parameters.0: low (1.0)"),
    ],
)
def test_a_bad_study_argument_is_one_line_naming_the_field(arguments: dict, message: str) -> None:
    """As the CLI's and the API's: one line, the field first (before, pydantic's several
    lines with a URL, "1 validation error for Objective", and a single constraint given
    without its list was "constraints.0: Input should be a valid dictionary")."""
    space = arguments.pop("space", {"parameters": PARAMETERS})
    with pytest.raises(SpecError) as caught:
        hyperstep.Study(space, strategy="random", **arguments)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_study_argument_of_the_wrong_type_is_a_type_error_naming_it(tmp_path) -> None:
    """A new user's mistakes, each an ``AttributeError`` from deep inside (``'str' object has
    no attribute 'get_job'``, ``... 'items'``) or a pydantic dump: Optuna's ``storage`` is a
    URL string, a metrics list, params as a string, ``enqueue_trial(None)``, an int job id.
    Each is now a ``TypeError`` naming the argument, and nothing is stored or told."""
    space = {"parameters": PARAMETERS}
    with pytest.raises(TypeError, match=r"^store: a TrialStore \(SQLiteStore\(path\), from hyperstep\.stores\.sqlite"):
        hyperstep.Study(space, store=str(tmp_path / "s.db"))  # type: ignore[arg-type]
    store = SQLiteStore(tmp_path / "s.db")
    with pytest.raises(TypeError, match=r"^job_id: a string, got 5$"):
        hyperstep.Study(space, store=store, job_id=5)  # type: ignore[arg-type]
    assert store.list_jobs() == []
    study = hyperstep.Study(space, strategy="random", seed=0)
    trial = study.ask(1)[0]
    with pytest.raises(TypeError, match=r"^metrics: a mapping of metric names to numbers, got \[1\.0\]$"):
        study.tell(trial, 0.5, metrics=[1.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^params: a mapping of parameter names to values, got 'lr=0\.1'$"):
        study.add_trial("lr=0.1", 0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^params: a mapping of parameter names to values, got None$"):
        study.enqueue_trial(None)  # type: ignore[arg-type]
    for number in (0, -1):  # was "trial 't0000' ... not found", and 't-001' for -1
        with pytest.raises(ValueError, match=rf"^trial: trial numbers start at 1, got {number}$"):
            study.tell(number, 0.5)
    assert [(t.state.value, t.value) for t in study.trials] == [("pending", None)]


def test_an_argument_refused_is_shown_clipped() -> None:
    """The refusal showed the whole argument: a list of a million metrics (a script's curve,
    told as metrics or as the value) became a message of megabytes. Shown clipped, as a
    refused name is."""
    study = hyperstep.Study({"parameters": PARAMETERS}, strategy="random", seed=0)
    trial = study.ask(1)[0]
    curve = [0.5] * 1_000_000
    with pytest.raises(TypeError) as caught:
        study.tell(trial, 0.5, metrics=curve)  # type: ignore[arg-type]
    assert str(caught.value).startswith("metrics: a mapping of metric names to numbers, got [0.5, 0.5")
    assert str(caught.value).endswith(" characters)") and len(str(caught.value)) < 200
    with pytest.raises(TypeError) as caught:
        study.add_trial(curve, 0.5)  # type: ignore[arg-type]
    assert str(caught.value).startswith("params: a mapping of parameter names to values, got [0.5, 0.5")
    assert str(caught.value).endswith(" characters)") and len(str(caught.value)) < 200
    with pytest.raises(ValueError) as caught:
        study.tell(trial, 0.5, metrics={"curve": curve})
    assert str(caught.value).startswith("metrics: 'curve' must be a number, got [0.5, 0.5")
    assert len(str(caught.value)) < 200
    with pytest.raises(ValueError) as caught:
        study.tell(trial, curve)
    assert str(caught.value).startswith("this study has one objective: tell one value, not [0.5, 0.5")
    assert len(str(caught.value)) < 200
    with pytest.raises(ValueError) as caught:
        study.add_trial({"k" * 100_000: 1.0}, 0.5)
    assert str(caught.value).startswith("params." + "k" * 36 + "... (100,000 characters): not a parameter")
    assert [t.state.value for t in study.trials] == ["pending"]


@pytest.mark.parametrize("status", [JobStatus.COMPLETED, JobStatus.STOPPED, JobStatus.FAILED])
def test_a_study_opened_on_a_finished_job_reads_it_but_asks_it_no_more(tmp_path, status: JobStatus) -> None:
    """A study opened on a job ``hyperstep run`` had finished (its max_trials used) asked it 3
    trials more: the completed job held 9 trials while saying "max_trials 6 used". Now
    ``ask`` and ``add_trial`` are refused naming the job and why it ended (a stopped one: how
    to carry it on), and its trials and best stay readable."""
    store = SQLiteStore(tmp_path / "s.db")
    first = hyperstep.Study({"parameters": PARAMETERS}, strategy="random", seed=0, store=store, job_id="done")
    for trial in first.ask(2):
        first.tell(trial, objective(trial.params))
    store.set_job_status("done", status, stop_reason=StopReason.MAX_TRIALS, stop_detail="max_trials 2 used")
    reopened = hyperstep.Study({"parameters": PARAMETERS}, store=store, job_id="done")
    assert len(reopened.trials) == 2 and reopened.best_value == first.best_value
    said = f"job 'done' has {status.value} \\(max_trials 2 used\\): a study reads a finished job's trials but adds none"
    with pytest.raises(ValueError, match=f"^ask: {said}"):
        reopened.ask(1)
    with pytest.raises(ValueError, match=f"^add_trial: {said}"):
        reopened.add_trial(first.trials[0].params, 0.5)
    with pytest.raises(ValueError, match=r"adds none, or give another job_id$"):  # no trial block: run refuses it
        reopened.ask(1)
    assert len(store.list_trials("done")) == 2
    assert len(hyperstep.Study.from_job(store, store.get_job("done")).ask(1)) == 1  # the suggester's, unchanged


def test_a_study_warm_starts_from_an_earlier_study_of_its_store(tmp_path) -> None:
    """``add_trial``'s docstring sent a user to ``warm_start`` to learn from a whole earlier
    job, but ``Study`` took no such argument. Now it does, as the spec's ``warm_start.jobs``:
    the parent's ended trials inform the first ask (its design filled: the model proposes) and are not
    the study's; an unknown parent is refused before anything is stored."""
    store = SQLiteStore(tmp_path / "s.db")
    parent = hyperstep.Study({"parameters": PARAMETERS}, strategy="random", seed=0, store=store, job_id="first")
    for trial in parent.ask(10):  # the child's initial design is 10 points
        parent.tell(trial, objective(trial.params))
    wider = [*PARAMETERS, {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5}]
    child = hyperstep.Study({"parameters": wider}, strategy="bayesian", seed=0, store=store, warm_start=["first"])
    assert child.job.parents == ("first",) and child.trials == []
    history = child.history(child.trials)
    assert len(history.X) == 10  # the parent's ten, each with a random dropout
    assert child.ask(1)[0].expected_improvement is not None  # the model proposes at once
    with pytest.raises(SpecError, match=r"^warm_start\.jobs: job 'nope' not found"):
        hyperstep.Study({"parameters": PARAMETERS}, store=store, job_id="orphan", warm_start=["nope"])
    with pytest.raises(NotFoundError):
        store.get_job("orphan")
    with pytest.raises(SpecError, match=r"^warm_start: a list of job ids, got the string 'first'"):  # not job 'f'
        hyperstep.Study({"parameters": PARAMETERS}, store=store, warm_start="first")  # type: ignore[arg-type]
    reopened = hyperstep.Study({"parameters": wider}, store=store, job_id=child.job_id)
    assert reopened.parents == ("first",)
    with pytest.raises(ValueError, match=r"^warm_start: job '.*' is stored with warm_start \['first'\]"):
        hyperstep.Study({"parameters": wider}, store=store, job_id=child.job_id, warm_start=["other"])


def test_a_study_reopens_a_job_with_parents_besides_its_specs_given_either_list(tmp_path) -> None:
    """A job made with parents besides its spec's ``warm_start.jobs`` (``hyperstep run
    --warm-start``, a schedule's earlier runs) was refused when reopened with the warm start it
    was made with: its spec's list, or every parent, was compared in order with the stored
    parents ('second', then 'first'). Another list is still refused."""
    store = SQLiteStore(tmp_path / "s.db")
    for name in ("first", "second"):
        parent = hyperstep.Study({"parameters": PARAMETERS}, strategy="random", seed=0, store=store, job_id=name)
        parent.tell(parent.ask()[0], 1.0)
    document = {"name": "child", "objective": {"metric": "objective"}, "parameters": PARAMETERS}
    spec = JobSpec.model_validate({**document, "warm_start": {"jobs": ["first"]}})
    job = TuningService(store, {}).create_job(spec, job_id="child", parents=("second",))
    assert set(job.parents) == {"first", "second"}
    for given in (["first"], ["first", "second"], ["second", "first"]):
        reopened = hyperstep.Study({"parameters": PARAMETERS}, store=store, job_id="child", warm_start=given)
        assert reopened.parents == job.parents
    with pytest.raises(ValueError, match=r"^warm_start: job 'child' is stored with warm_start \['second', 'first'\]"):
        hyperstep.Study({"parameters": PARAMETERS}, store=store, job_id="child", warm_start=["second"])


def test_a_study_refuses_a_warm_start_parent_of_other_objectives(tmp_path) -> None:
    """A parent that optimized two objectives cannot teach a study of one (``check_parent``):
    its values would be read as this study's. Refused before the study's job is stored."""
    store = SQLiteStore(tmp_path / "s.db")
    parent = hyperstep.Study({"parameters": PARAMETERS}, goal=["minimize", "maximize"], seed=0, store=store)
    with pytest.raises(SpecError, match=r"^warm_start\.jobs: job '.*' optimized objective_1 and objective_2, not"):
        hyperstep.Study({"parameters": PARAMETERS}, store=store, job_id="child", warm_start=[parent.job_id])
    with pytest.raises(NotFoundError):
        store.get_job("child")


def test_a_study_refuses_a_float_parent_none_of_whose_trials_ran_a_whole_number_of_its_int(tmp_path) -> None:
    """``Study`` checks its parents with their trials as a submit does (``study_checks``):
    a parent that ran ``x`` as a float, told at 0.5 only, has nothing for a study of ``x``
    as an int; one told at 1.0 too has."""
    store = SQLiteStore(tmp_path / "s.db")
    parent = hyperstep.Study({"parameters": PARAMETERS}, strategy="random", seed=0, store=store, job_id="first")
    parent.add_trial({"x": 0.5, "depth": 3, "kernel": "rbf"}, 1.0)
    as_int = [{"name": "x", "type": "int", "low": -2, "high": 2}, *PARAMETERS[1:]]
    with pytest.raises(SpecError, match=r"ran x as a float, and none of its 1 ended trials at a whole number"):
        hyperstep.Study({"parameters": as_int}, store=store, job_id="child", warm_start=["first"])
    parent.add_trial({"x": 1.0, "depth": 3, "kernel": "rbf"}, 2.0)
    child = hyperstep.Study({"parameters": as_int}, store=store, job_id="child", warm_start=["first"])
    assert len(child.history(child.trials).X) == 1  # the 1.0 trial, as x = 1; 0.5 left out


def test_a_constrained_study_warm_starts_from_a_study_that_told_the_metric(tmp_path) -> None:
    """A parent driven by ask/tell has no trial block to say which metrics it measured: it
    may hold any (``warm_start.unmeasured``), so a constrained study learns from it, and
    its trials' told metrics carry over with them."""
    store = SQLiteStore(tmp_path / "s.db")
    parent = hyperstep.Study({"parameters": PARAMETERS}, strategy="random", seed=0, store=store, job_id="first")
    for trial in parent.ask(3):
        parent.tell(trial, objective(trial.params), metrics={"mb": 1.0})
    child = hyperstep.Study(
        {"parameters": PARAMETERS}, store=store, constraints=[{"metric": "mb", "max": 2}], warm_start=["first"]
    )
    assert child.job.parents == ("first",)
    assert [t.metrics for t in child.prior_trials()] == [{"mb": 1.0}] * 3


class _Loss:
    """What a framework's 0-d loss tensor offers: a shape of () and ``__float__``."""

    shape = ()

    def __init__(self, value: float) -> None:
        self.value = value

    def __float__(self) -> float:
        return self.value


def test_a_0d_array_or_loss_tensor_is_taken_as_the_number_it_holds() -> None:
    """Optuna reads a value with ``float()``, so ``tell(trial, loss)`` with a 0-d tensor
    works there; here it was "this study has one objective: tell one value, not
    array(0.25)" (and the same for ``report`` and metrics)."""
    import numpy as np

    study = hyperstep.Study(
        {"parameters": PARAMETERS},
        strategy="random",
        seed=0,
        early_stopping={"name": "median", "max_resource": 9},
        constraints=[{"metric": "mb", "max": 2}],
    )
    a, b = study.ask(2)
    assert study.report(a, 1, np.array(0.5)) is False and study.report(b, 1, _Loss(0.75)) is False
    told = study.tell(a, np.array(0.25), metrics={"mb": np.array(1.0)})
    assert (told.value, told.metrics, told.curve) == (0.25, {"mb": 1.0}, {1: 0.5})
    assert study.tell(b, _Loss(0.5), metrics={"mb": _Loss(1.5)}).value == 0.5
    assert study.add_trial({"x": 0.0, "depth": 3, "kernel": "rbf"}, np.array(0.125)).value == 0.125
    several = hyperstep.Study({"parameters": PARAMETERS}, goal=["minimize", "maximize"], strategy="random", seed=0)
    assert several.tell(several.ask(1)[0], [np.array(0.1), _Loss(0.2)]).values == [0.1, 0.2]
    with pytest.raises(ValueError, match="tell one value"):
        study.tell(study.ask(1)[0], np.array([0.1, 0.2]))


def test_an_int_past_a_float_s_range_is_told_as_not_finite_not_an_overflow_error() -> None:
    """``tell(trial, 10**400)`` raised a bare OverflowError from ``float()``: it is the infinity
    it rounds to, so the trial fails as a NaN or an infinity does, and a report of it stops."""
    study = hyperstep.Study([{"name": "x", "type": "float", "low": 0.0, "high": 1.0}], seed=0)
    (trial,) = study.ask(1)
    assert study.report(trial.id, 1, -(10**400)) is False  # not recorded, no early stopping
    told = study.tell(trial.id, 10**400)
    assert (told.state, told.value, told.error) == (TrialState.FAILED, None, "objective is not finite (inf)")


def test_pickling_a_study_says_how_to_keep_one() -> None:
    """An Optuna user saves an in-memory study with joblib or pickle; here that said
    "cannot pickle '_thread.RLock' object". The refusal now names the way: a store in a file."""
    import pickle

    study = hyperstep.Study([{"name": "x", "type": "float", "low": 0, "high": 1}], seed=0)
    with pytest.raises(TypeError, match=r"a Study cannot be pickled: keep it in a file instead, .*SQLiteStore"):
        pickle.dumps(study)


def test_a_shallow_copy_of_a_study_still_works() -> None:
    """``copy.copy`` goes through ``__reduce_ex__`` when a class has no ``__copy__``: the
    refusal of pickling made it 'a Study cannot be pickled', though it copied before (a
    second Study object over the same store)."""
    import copy

    study = hyperstep.Study([{"name": "x", "type": "float", "low": 0, "high": 1}], seed=0)
    (trial,) = study.ask()
    other = copy.copy(study)
    other.tell(trial.id, 0.5)
    assert study.best_trial.value == 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": "7"}, r"^strategy\.seed: should be an integer, not a string \('7'\)"),
        ({"strategy_options": {"n_initial": "3"}}, r"^strategy\.options\.n_initial: should be an integer"),
        ({"early_stopping": {"name": "asha", "model_based": "yes"}}, r"^early_stopping\.model_based: should be true"),
    ],
)
def test_a_study_refuses_a_number_or_boolean_given_as_a_string_naming_it_and_stores_nothing(
    kwargs: dict[str, object], message: str
) -> None:
    """``Study``'s keyword arguments meet the rule the API and ``validate`` apply (0a5ac73)."""
    space = hyperstep.SearchSpace.model_validate({"parameters": PARAMETERS})
    store = SQLiteStore(":memory:")
    with pytest.raises(SpecError, match=message):
        hyperstep.Study(space, store=store, **kwargs)  # type: ignore[arg-type]
    assert store.list_jobs() == []


def test_a_store_given_as_a_url_is_refused_without_echoing_it() -> None:
    """Optuna's ``storage`` is a URL, often with a password (``postgresql://user:pw@host/db``):
    the TypeError that refuses it as ``store`` named its type, not the URL, which a traceback
    in a CI log or an issue would otherwise carry."""
    with pytest.raises(TypeError) as caught:
        hyperstep.Study({"parameters": PARAMETERS}, store="postgresql://tuner:s3cret@db.example/optuna")  # type: ignore[arg-type]
    assert "s3cret" not in str(caught.value)
    assert str(caught.value) == (
        "store: a TrialStore (SQLiteStore(path), from hyperstep.stores.sqlite), got a str"
        " (its value not shown: a storage URL may hold a password)"
    )


def test_only_a_stopped_job_run_runs_is_sent_to_run_resume(tmp_path) -> None:
    """A stopped job a study opened was told to "carry it on with: hyperstep run --resume",
    which refuses every job with no trial block (a ``Study``'s own: "it is driven by
    ask/tell"). Only a job with a trial block, one ``run`` runs, gets that hint."""
    from hyperstep.models import Job

    store = SQLiteStore(tmp_path / "s.db")
    hyperstep.Study({"parameters": PARAMETERS}, strategy="random", store=store, job_id="asked")
    document = {"name": "ran", "parameters": PARAMETERS, "objective": {"metric": "loss"}, "budget": {"max_trials": 2}}
    spec = JobSpec.model_validate({**document, "trial": {"backend": "simulated", "objective": "curves:crossing"}})
    store.create_job(Job(id="ran", spec=spec, created_at=store.clock(), seed=1, parents=[]))
    said = {}
    for job_id in ("asked", "ran"):
        store.set_job_status(job_id, JobStatus.STOPPED, stop_reason=StopReason.STOPPED_BY_USER, stop_detail="by me")
        with pytest.raises(ValueError) as caught:
            hyperstep.Study({"parameters": PARAMETERS}, store=store, job_id=job_id).ask(1)
        said[job_id] = str(caught.value)
    assert said["asked"] == (
        "ask: job 'asked' has stopped (by me): a study reads a finished job's trials but adds none,"
        " or give another job_id"
    )
    assert said["ran"].endswith("adds none; carry it on with: hyperstep run --resume ran, or give another job_id")


def test_a_study_reads_whether_its_job_has_finished_when_it_asks_not_once_when_opened(tmp_path) -> None:
    """Whether the job had finished was read once, as the study opened it: a study opened as
    ``hyperstep run`` ran the job asked it past its end once the run had finished it, and one
    opened on a stopped job stayed refused after ``run --resume`` carried the job on."""
    from hyperstep.models import Job

    store = SQLiteStore(tmp_path / "s.db")
    document = {"name": "ran", "parameters": PARAMETERS, "objective": {"metric": "loss"}, "budget": {"max_trials": 9}}
    spec = JobSpec.model_validate({**document, "trial": {"backend": "simulated", "objective": "curves:crossing"}})
    store.create_job(Job(id="ran", spec=spec, created_at=store.clock(), seed=1, parents=[]))
    running = hyperstep.Study({"parameters": PARAMETERS}, store=store, job_id="ran")
    store.set_job_status("ran", JobStatus.STOPPED, stop_reason=StopReason.STOPPED_BY_USER, stop_detail="by me")
    with pytest.raises(ValueError, match=r"^ask: job 'ran' has stopped \(by me\)"):
        running.ask(1)
    stopped = hyperstep.Study({"parameters": PARAMETERS}, store=store, job_id="ran")
    store.set_job_status("ran", JobStatus.RUNNING, reopen=True)  # as run --resume reopens it
    assert len(stopped.ask(1)) == 1 and len(running.ask(1)) == 1
