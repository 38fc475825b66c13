"""Warm start (``hyperstep.warm_start``): parents' trials projected onto a new space, trials
added by hand, and a warm-started Bayesian job beating a cold one on the same budget."""

from __future__ import annotations

import math

import numpy as np
import pytest

import hyperstep
from hyperstep.errors import SpecError
from hyperstep.models import Job, Trial, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import JobSpec
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.warm_start import carried_over

CHILD = hyperstep.SearchSpace.model_validate(
    {
        "parameters": [
            {"name": "lr", "type": "float", "low": 0.001, "high": 0.1, "scale": "log"},
            {"name": "depth", "type": "int", "low": 2, "high": 8},
            {"name": "kernel", "type": "categorical", "choices": ["rbf", "linear"]},
            {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5},  # new: the parents had none
        ]
    }
)


def parent_trial(number: int, params: dict, state: TrialState = TrialState.COMPLETED) -> Trial:
    value = 1.0 if state is TrialState.COMPLETED else None
    return Trial(job_id="parent", id=f"t{number:04d}", number=number, params=params, state=state, value=value)


def test_shared_parameters_carry_over_new_ones_are_drawn_and_the_parents_own_are_left_out() -> None:
    trials = [
        parent_trial(i, {"lr": 0.01, "depth": 4, "kernel": "rbf", "momentum": 0.9})  # momentum: the parent's only
        for i in range(20)
    ]
    prior = carried_over(CHILD, trials, seed=7)
    assert len(prior) == 20
    assert all(CHILD.contains(t.params) for t in prior)
    assert {(t.params["lr"], t.params["depth"], t.params["kernel"]) for t in prior} == {(0.01, 4, "rbf")}
    dropouts = [t.params["dropout"] for t in prior]
    assert len(set(dropouts)) == 20 and min(dropouts) < 0.15 and max(dropouts) > 0.35  # explored, not pinned
    assert [t.params for t in carried_over(CHILD, trials, seed=7)] == [t.params for t in prior]  # every Suggest alike


def test_values_outside_the_new_space_drop_the_trial_and_active_trials_are_no_knowledge() -> None:
    kept = {"lr": 0.05, "depth": 8, "kernel": "linear", "dropout": 0.1}
    trials = [
        parent_trial(1, kept),
        parent_trial(2, {**kept, "lr": 0.5}),  # the range was narrowed: dropped, not clipped to 0.1
        parent_trial(3, {**kept, "depth": 12}),
        parent_trial(4, {**kept, "depth": 4.5}),  # a float where the child has an int
        parent_trial(5, {**kept, "kernel": "poly"}),  # a choice no longer offered
        parent_trial(6, kept, TrialState.FAILED),  # where trials crash is knowledge
        parent_trial(7, kept, TrialState.RUNNING),
        parent_trial(8, kept, TrialState.PENDING),
        parent_trial(9, kept, TrialState.STOPPED),
    ]
    prior = carried_over(CHILD, trials, seed=0)
    assert [(t.id, t.state) for t in prior] == [("t0001", TrialState.COMPLETED), ("t0006", TrialState.FAILED)]


def test_add_trial_records_a_completed_or_failed_trial_the_strategy_learns_from() -> None:
    study = hyperstep.Study(CHILD, strategy="bayesian", seed=0)
    params = {"lr": 0.01, "depth": 3, "kernel": "rbf", "dropout": 0.2}
    done = study.add_trial(params, 0.25)
    crashed = study.add_trial({**params, "depth": 7}, state="failed", error="out of memory")
    assert (done.state, done.value, done.id) == (TrialState.COMPLETED, 0.25, "t0001")
    assert (crashed.state, crashed.value, crashed.error) == (TrialState.FAILED, None, "out of memory")
    assert study.best_trial.id == done.id and study.job.completed == 1 and study.job.failed == 1
    with pytest.raises(ValueError, match="finite value"):
        study.add_trial(params, float("nan"))
    with pytest.raises(ValueError, match=r"params\.depth: 99 is outside \[2, 8\]"):
        study.add_trial({**params, "depth": 99}, 1.0)
    with pytest.raises(ValueError, match="completed or failed"):
        study.add_trial(params, 1.0, state="running")  # type: ignore[arg-type]


def test_a_job_naming_an_unknown_parent_is_refused_before_anything_is_stored() -> None:
    store = SQLiteStore(":memory:")
    spec = JobSpec.model_validate(
        {
            "name": "child",
            "objective": {"metric": "loss"},
            "parameters": CHILD.parameters,
            "warm_start": {"jobs": ["nobody-20260101000000-abcd"]},
        }
    )
    with pytest.raises(SpecError, match=r"warm_start\.jobs: job .nobody-20260101000000-abcd. not found"):
        TuningService(store, {}).create_job(spec)
    assert store.list_jobs() == []


def child_of(parent: Job, objective: dict | None = None, objectives: list | None = None) -> JobSpec:
    goals = {"objectives": objectives} if objectives else {"objective": objective}
    return JobSpec.model_validate(
        {"name": "child", **goals, "parameters": CHILD.parameters, "warm_start": {"jobs": [parent.id]}}
    )


def test_a_parent_that_optimized_another_metric_is_refused() -> None:
    """Its trials' values are its own objective's: a child maximizing accuracy would read a
    parent's losses as accuracies (AMT requires the same objective metric too)."""
    store = SQLiteStore(":memory:")
    service = TuningService(store, {})
    parent = service.create_job(
        JobSpec.model_validate({"name": "parent", "objective": {"metric": "loss"}, "parameters": CHILD.parameters})
    )
    with pytest.raises(SpecError, match=r"warm_start\.jobs: job .parent-.* optimized loss, not accuracy"):
        service.create_job(child_of(parent, {"metric": "accuracy", "goal": "maximize"}))
    with pytest.raises(SpecError, match="optimized loss, not loss and size"):
        service.create_job(child_of(parent, objectives=[{"metric": "loss"}, {"metric": "size"}]))
    assert len(store.list_jobs()) == 1
    assert service.create_job(child_of(parent, {"metric": "loss", "goal": "maximize"})).parents == (parent.id,)
    two = service.create_job(
        JobSpec.model_validate(
            {"name": "two", "objectives": [{"metric": "loss"}, {"metric": "size"}], "parameters": CHILD.parameters}
        )
    )
    assert service.create_job(child_of(two, {"metric": "loss"})).parents == (two.id,)  # its first objective
    assert service.create_job(child_of(two, objectives=[{"metric": "loss"}, {"metric": "size"}])).parents


def test_a_spec_names_each_parent_once_and_at_most_a_hundred() -> None:
    base = {"name": "c", "objective": {"metric": "loss"}, "parameters": CHILD.parameters}
    with pytest.raises(ValueError, match="named twice"):
        JobSpec.model_validate({**base, "warm_start": {"jobs": ["a", "a"]}})
    JobSpec.model_validate({**base, "warm_start": {"jobs": [f"job-{i}" for i in range(100)]}})  # AMT: five


# --- a warm start pays: Branin, a random parent, a Bayesian child on a small budget ---------

BRANIN = hyperstep.SearchSpace.model_validate(
    {
        "parameters": [
            {"name": "x", "type": "float", "low": -5, "high": 10},
            {"name": "y", "type": "float", "low": 0, "high": 15},
        ]
    }
)


def branin(params: dict) -> float:
    x, y = params["x"], params["y"]
    bowl = (y - 5.1 / (4 * math.pi**2) * x**2 + 5 / math.pi * x - 6) ** 2
    return bowl + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10


def child_values(seed: int, warm: bool, budget: int = 6) -> list[float]:
    """The values of the child's own trials, one ask at a time; warm: after a parent job of
    20 random trials in the same store, whose space had one more parameter (which did not
    matter): the spaces differ, the shared parameters carry over."""
    store = SQLiteStore(":memory:")
    if warm:
        extra = {"name": "batch", "type": "categorical", "choices": [32, 64]}
        space = hyperstep.SearchSpace.model_validate({"parameters": [*BRANIN.parameters, extra]})
        parent = hyperstep.Study(space, strategy="random", seed=100 + seed, store=store, job_id="parent")
        for trial in parent.ask(20):
            parent.tell(trial.id, branin(trial.params))
    spec = hyperstep.Study(BRANIN, strategy="bayesian", seed=seed).spec
    job = Job(id="child", spec=spec, parents=("parent",) if warm else ())
    store.create_job(job)
    child = hyperstep.Study.from_job(store, job)
    values = []
    for _ in range(budget):
        (trial,) = child.ask(1)
        values.append(branin(trial.params))
        child.tell(trial.id, values[-1])
    assert len(child.trials) == budget and child.job.budget_used == budget  # the parent's are not the child's
    return values


def test_a_warm_started_bayesian_job_beats_a_cold_start_on_the_same_budget() -> None:
    """Deterministic (seeded) over six seeds. A cold Bayesian job spends its first five
    trials on its Sobol' design; a warm-started one fits its model to the parent's 20
    trials from its first proposal on. Measured: the warm child's best is better in five
    seeds of six (in one, a Sobol' point of the cold job lands near a minimum: 2.0 against
    3.4), and its mean best is 1.2 against 6.4 (Branin's minimum: 0.398)."""
    seeds = range(6)
    warm = [min(child_values(seed, warm=True)) for seed in seeds]
    cold = [min(child_values(seed, warm=False)) for seed in seeds]
    assert sum(w < c for w, c in zip(warm, cold)) >= 5
    assert np.mean(warm) < 0.5 * np.mean(cold)


def first_proposals(warm: bool, n: int = 3) -> list[Trial]:
    """The child's first ``n`` proposals (one batch), with or without the 20-trial parent."""
    store = SQLiteStore(":memory:")
    if warm:
        parent = hyperstep.Study(BRANIN, strategy="random", seed=100, store=store, job_id="parent")
        for trial in parent.ask(20):
            parent.tell(trial.id, branin(trial.params))
    job = Job(id="child", spec=hyperstep.Study(BRANIN, strategy="bayesian", seed=0).spec, parents=("parent",) * warm)
    store.create_job(job)
    return hyperstep.Study.from_job(store, job).ask(n)


def test_a_warm_started_jobs_very_first_proposals_come_from_a_model_of_the_parents_trials() -> None:
    """Before the child has a trial of its own, its Bayesian proposals already carry the
    expected improvement of a model (fitted to the parent's history); a cold start's first
    proposals are its space-filling design, with no model behind them."""
    assert all(t.expected_improvement is not None for t in first_proposals(warm=True))
    assert all(t.expected_improvement is None for t in first_proposals(warm=False))


def test_a_parent_that_never_measured_a_constrained_metric_is_refused() -> None:
    """A child adding ``latency_ms <= 50`` to a parent that never measured latency: every
    parent trial lacks the metric, and a trial without a constrained metric counts as
    breaking it (``strategies.constraints``, ``objectives.constraint_slack``: NaN), so the
    model learned that the parent's best region breaks the constraint. Refused, as another
    objective is; a parent whose trials measured it (a metric definition) is taken."""
    from tests.conftest import spec_document

    store = SQLiteStore(":memory:")
    service = TuningService(store, {})
    parent = service.create_job(JobSpec.model_validate(spec_document(name="parent")))
    latency = {"name": "latency_ms", "regex": r"latency_ms=([0-9.]+)"}
    child = spec_document(
        name="child", warm_start={"jobs": [parent.id]}, constraints=[{"metric": "latency_ms", "max": 50}]
    )
    child["trial"]["metric_definitions"].append(latency)
    with pytest.raises(
        SpecError, match=r"warm_start\.jobs: job .parent-.* never measured latency_ms \(constraints\.0\.metric\)"
    ):
        service.create_job(JobSpec.model_validate(child))
    measured = spec_document(name="measured")
    measured["trial"]["metric_definitions"].append(latency)
    parent = service.create_job(JobSpec.model_validate(measured))
    child["warm_start"] = {"jobs": [parent.id]}
    assert service.create_job(JobSpec.model_validate(child)).parents == (parent.id,)


def test_a_constant_set_to_a_value_the_parent_never_ran_is_refused() -> None:
    """An imported AMT job's static hyperparameter is a one-choice categorical. Warm-started
    from a parent that ran ``num_round`` 100 with it at 200 (AMT's TransferLearning allows
    it), every parent trial had another value and was left out: the job learned nothing
    from its parent, and nothing said so. A constant the parent ran among others is taken."""
    store = SQLiteStore(":memory:")
    service = TuningService(store, {})

    def spec(name: str, rounds: list[str], parents: list[str] | None = None) -> JobSpec:
        constant = {"name": "num_round", "type": "categorical", "choices": rounds}
        document = {"name": name, "objective": {"metric": "loss"}, "parameters": [*CHILD.parameters, constant]}
        return JobSpec.model_validate({**document, **({"warm_start": {"jobs": parents}} if parents else {})})

    parent = service.create_job(spec("parent", ["100"]))
    with pytest.raises(
        SpecError, match=r"warm_start\.jobs: job .parent-.* ran num_round at \['100'\] and this job fixes it at '200'"
    ):
        service.create_job(spec("child", ["200"], [parent.id]))
    assert service.create_job(spec("same", ["100"], [parent.id])).parents == (parent.id,)
    both = service.create_job(spec("both", ["100", "200"]))
    assert service.create_job(spec("child", ["200"], [both.id])).parents == (both.id,)
    conditional = {"name": "num_round", "type": "categorical", "choices": ["200"], "when": {"kernel": ["linear"]}}
    document = {"name": "child", "objective": {"metric": "loss"}, "parameters": [*CHILD.parameters, conditional]}
    child = JobSpec.model_validate({**document, "warm_start": {"jobs": [parent.id]}})
    assert service.create_job(child).parents == (parent.id,)  # its rbf trials carry over: not every one is left out


def test_a_categorical_whose_choices_share_none_of_the_parents_values_is_refused_naming_it() -> None:
    """Before, only a one-choice constant was refused: a categorical whose every choice was new
    (``kernel`` ran at rbf and linear, now poly or sigmoid) left every parent trial out without
    a word. Choices that still share one keep the trials that fit (AMT lets ranges change)."""
    service = TuningService(SQLiteStore(":memory:"), {})

    def spec(name: str, kernels: list[str], parents: list[str] | None = None) -> JobSpec:
        kernel = {"name": "kernel", "type": "categorical", "choices": kernels}
        others = [p for p in CHILD.parameters if p.name != "kernel"]
        document = {"name": name, "objective": {"metric": "loss"}, "parameters": [*others, kernel]}
        return JobSpec.model_validate({**document, **({"warm_start": {"jobs": parents}} if parents else {})})

    parent = service.create_job(spec("parent", ["rbf", "linear"]))
    with pytest.raises(
        SpecError,
        match=r"^warm_start\.jobs: job .parent-.* ran kernel at \['rbf', 'linear'\] and this job offers "
        r"\['poly', 'sigmoid'\] \(parameters\.3\): none of its trials would fit this space$",
    ):
        service.create_job(spec("child", ["poly", "sigmoid"], [parent.id]))
    assert service.create_job(spec("overlap", ["linear", "poly"], [parent.id])).parents == (parent.id,)


def numbers_spec(name: str, changed: dict, parents: list[str] | None = None) -> JobSpec:
    """CHILD's space with the parameter ``changed`` names replaced by it."""
    others = [p.model_dump() for p in CHILD.parameters if p.name != changed["name"]]
    document = {"name": name, "objective": {"metric": "loss"}, "parameters": [changed, *others]}
    return JobSpec.model_validate({**document, **({"warm_start": {"jobs": parents}} if parents else {})})


@pytest.mark.parametrize(
    ("changed", "ran"),
    [
        ({"name": "lr", "type": "float", "low": 0.2, "high": 1.0}, "lr in [0.001, 0.1]"),
        ({"name": "depth", "type": "int", "low": 9, "high": 12}, "depth in [2, 8]"),
        ({"name": "depth", "type": "float", "low": 0.5, "high": 1.9}, "depth in [2, 8]"),
    ],
    ids=["float-above", "int-above", "float-between-the-parents-ints"],
)
def test_a_number_range_wholly_outside_the_parents_is_refused_naming_it(changed: dict, ran: str) -> None:
    """Before, every parent trial was silently left out (its value outside the new range)."""
    service = TuningService(SQLiteStore(":memory:"), {})
    parent = service.create_job(numbers_spec("parent", CHILD.parameters[0].model_dump()))
    with pytest.raises(SpecError) as refused:
        service.create_job(numbers_spec("child", changed, [parent.id]))
    assert str(refused.value) == (
        f"warm_start.jobs: job {parent.id!r} ran {ran} and this job's range is [{changed['low']}, {changed['high']}]"
        " (parameters.0): none of its trials would fit this space"
    )


@pytest.mark.parametrize(
    ("changed", "kept"),
    [
        ({"name": "lr", "type": "float", "low": 0.05, "high": 0.5}, {"lr": 0.07}),  # overlaps
        ({"name": "lr", "type": "float", "low": 0.1, "high": 1.0}, {"lr": 0.1}),  # shares the parent's high
        ({"name": "depth", "type": "int", "low": 8, "high": 12}, {"depth": 8}),
        ({"name": "depth", "type": "float", "low": 1.5, "high": 2.0}, {"depth": 2}),  # holds the parent's 2
    ],
)
def test_a_number_range_sharing_a_value_with_the_parents_keeps_the_trials_that_fit(changed: dict, kept: dict) -> None:
    service = TuningService(SQLiteStore(":memory:"), {})
    parent = service.create_job(numbers_spec("parent", CHILD.parameters[0].model_dump()))
    assert service.create_job(numbers_spec("child", changed, [parent.id])).parents == (parent.id,)
    fits = parent_trial(1, {"lr": 0.01, "depth": 4, "kernel": "linear", **kept})
    child = hyperstep.SearchSpace(parameters=numbers_spec("child", changed).parameters)
    assert [t.params[changed["name"]] for t in carried_over(child, [fits], seed=1)] == list(kept.values())


def test_a_float_parent_of_an_int_parameter_carries_its_whole_numbered_trials_over() -> None:
    """A parameter tuned as a float and now as an int of the same name: a parent value that is
    a whole number (3.0, as a grid or an imported job runs it) is that int, and an int parent's
    value is a float child's. Before, every such parent trial was left out without a word."""
    as_int = hyperstep.SearchSpace.model_validate({"parameters": [{"name": "x", "type": "int", "low": 1, "high": 10}]})
    as_float = hyperstep.SearchSpace.model_validate(
        {"parameters": [{"name": "x", "type": "float", "low": 1, "high": 10}]}
    )
    trials = [parent_trial(1, {"x": 3.0}), parent_trial(2, {"x": 3.7}), parent_trial(3, {"x": 12.0})]
    prior = carried_over(as_int, trials, seed=0)
    assert [(t.id, t.params["x"], type(t.params["x"])) for t in prior] == [("t0001", 3, int)]  # 3.7 fits no int
    prior = carried_over(as_float, [parent_trial(1, {"x": 3})], seed=0)
    assert [(t.params["x"], type(t.params["x"])) for t in prior] == [(3.0, float)]


def test_a_float_parent_none_of_whose_trials_is_a_whole_number_of_an_int_parameter_is_refused() -> None:
    """Refused at submit naming the parameter only when no parent trial can be used: a float
    range holding no whole number of the int one, or ended trials none of which ran one."""
    store = SQLiteStore(":memory:")
    service = TuningService(store, {})
    as_int = {"name": "depth", "type": "int", "low": 2, "high": 8}
    between = service.create_job(numbers_spec("between", {"name": "depth", "type": "float", "low": 2.1, "high": 2.9}))
    with pytest.raises(SpecError) as refused:
        service.create_job(numbers_spec("child", as_int, [between.id]))
    assert str(refused.value) == (
        f"warm_start.jobs: job {between.id!r} ran depth in [2.1, 2.9] and this job's range is [2, 8]"
        " (parameters.0): none of its trials would fit this space"
    )
    continuous = service.create_job(numbers_spec("continuous", {"name": "depth", "type": "float", "low": 2, "high": 8}))

    def ran(job: Job, number: int, depth: float) -> Trial:
        params = {"lr": 0.01, "depth": depth, "kernel": "rbf", "dropout": 0.1}
        return parent_trial(number, params).model_copy(update={"job_id": job.id})

    assert service.create_job(numbers_spec("child", as_int, [continuous.id])).parents == (continuous.id,)  # none yet
    running = ran(continuous, 4, 5.0).model_copy(update={"state": TrialState.RUNNING, "value": None})
    store.put_trials([ran(continuous, 1, 2.5), ran(continuous, 2, 6.25), running])  # 5.0: not ended, not counted
    with pytest.raises(SpecError) as refused:
        service.create_job(numbers_spec("child", as_int, [continuous.id]))
    assert str(refused.value) == (
        f"warm_start.jobs: job {continuous.id!r} ran depth as a float, and none of its 2 ended trials"
        " at a whole number in this job's int range [2, 8] (parameters.0): none of its trials would fit this space"
    )
    store.put_trials([ran(continuous, 3, 4.0)])
    assert service.create_job(numbers_spec("child", as_int, [continuous.id])).parents == (continuous.id,)


KERNEL = {"name": "kernel", "type": "categorical", "choices": ["rbf", "poly"]}


def test_a_parameter_conditional_in_one_space_only_keeps_each_parent_trial_where_it_means_the_same() -> None:
    """A parent trial is a configuration of this space: a parameter inactive here is left out
    of it (its value, even outside this range, averaged over as a parameter the parent alone
    had), one active here the parent did not set is drawn as a new one. Before, a trial kept
    an inactive ``degree`` (not a configuration of this space), or was dropped for its value."""
    degree = {"name": "degree", "type": "int", "low": 2, "high": 3}
    child = hyperstep.SearchSpace.model_validate({"parameters": [KERNEL, {**degree, "when": {"kernel": ["poly"]}}]})
    trials = [
        parent_trial(1, {"kernel": "rbf"}),  # the parent had no degree
        parent_trial(2, {"kernel": "poly"}),
        parent_trial(3, {"kernel": "rbf", "degree": 5}),  # always active in the parent, outside this range
        parent_trial(4, {"kernel": "poly", "degree": 5}),  # active here: outside the range drops it
        parent_trial(5, {"kernel": "poly", "degree": 3}),
    ]
    prior = {t.id: t.params for t in carried_over(child, trials, seed=3)}
    assert all(child.contains(params) for params in prior.values())
    assert sorted(prior) == ["t0001", "t0002", "t0003", "t0005"]
    assert prior["t0001"] == prior["t0003"] == {"kernel": "rbf"} and prior["t0005"] == {"kernel": "poly", "degree": 3}
    assert prior["t0002"]["degree"] in (2, 3)
    dropped = parent_trial(6, {"kernel": "sigmoid", "degree": 3})  # a choice of the when's parent no longer offered
    assert [t.id for t in carried_over(child, [*trials, dropped], seed=3)] == ["t0001", "t0002", "t0003", "t0005"]
    always = hyperstep.SearchSpace.model_validate({"parameters": [KERNEL, degree]})  # the parent's was conditional
    prior = {t.id: t.params for t in carried_over(always, trials[:1], seed=3)}
    assert always.contains(prior["t0001"]) and prior["t0001"]["kernel"] == "rbf"


def test_a_static_hyperparameter_made_tunable_carries_the_parents_trials_over() -> None:
    """AMT's warm start lets a static hyperparameter become tunable: an imported job holds it
    as a one-choice categorical of text (``num_round: ['100']``), which a child tuning it as an
    int took as no value of its range, leaving every parent trial out without a word. A
    choice that reads as a number of the new range is that number; none is refused."""
    service = TuningService(SQLiteStore(":memory:"), {})
    static = {"name": "num_round", "type": "categorical", "choices": ["100"]}
    parent = service.create_job(numbers_spec("parent", static))
    tunable = {"name": "num_round", "type": "int", "low": 50, "high": 200}
    assert service.create_job(numbers_spec("child", tunable, [parent.id])).parents == (parent.id,)
    ran = parent_trial(1, {"lr": 0.01, "depth": 4, "kernel": "rbf", "dropout": 0.1, "num_round": "100"})
    space = hyperstep.SearchSpace(parameters=numbers_spec("child", tunable).parameters)
    assert [t.params["num_round"] for t in carried_over(space, [ran], seed=0)] == [100]
    with pytest.raises(SpecError) as refused:
        service.create_job(numbers_spec("child", {**tunable, "low": 150}, [parent.id]))
    assert str(refused.value) == (
        f"warm_start.jobs: job {parent.id!r} ran num_round at ['100'] and this job's range is [150, 200]"
        " (parameters.0): none of its trials would fit this space"
    )
    words = service.create_job(numbers_spec("words", {"name": "depth", "type": "categorical", "choices": ["a", "b"]}))
    with pytest.raises(SpecError, match=r"ran depth at \['a', 'b'\] and this job's range is \[2, 8\]"):
        service.create_job(numbers_spec("child", {"name": "depth", "type": "int", "low": 2, "high": 8}, [words.id]))
    numbers = service.create_job(numbers_spec("numbers", CHILD.parameters[1].model_dump()))  # depth: int in [2, 8]
    as_words = {"name": "depth", "type": "categorical", "choices": ["deep", "shallow"]}
    with pytest.raises(SpecError, match=r"ran depth in \[2, 8\] and this job offers \['deep', 'shallow'\]"):
        service.create_job(numbers_spec("child", as_words, [numbers.id]))
    as_text = {"name": "depth", "type": "categorical", "choices": ["4", "16"]}
    assert service.create_job(numbers_spec("child", as_text, [numbers.id])).parents == (numbers.id,)


@pytest.mark.parametrize("choices", [["2", "4"], ["2.0", "4.0"], [2, 4], [2.0, 4.0]])
@pytest.mark.parametrize("ran", [4.0, 4])
def test_a_number_the_parent_ran_carries_over_as_the_categorical_choice_equal_to_it(choices: list, ran: float) -> None:
    """A parameter tuned as a number and now a categorical of numbers (as text or not): the
    parent's value is the choice equal to it as a number, as a float 3.0 is an int's 3. The
    submit check (``_nothing_shared``) already read the texts as numbers and let the parent
    in, but a choice matched a number only as ``str`` prints it: a float parent's 4.0 missed
    "4" and an int's 4 missed "4.0", every such trial left out without a word. A bool is no
    number here (True == 1 in Python)."""
    space = hyperstep.SearchSpace.model_validate(
        {"parameters": [{"name": "batch", "type": "categorical", "choices": choices}]}
    )
    trials = [parent_trial(1, {"batch": ran}), parent_trial(2, {"batch": 3.0}), parent_trial(3, {"batch": True})]
    prior = carried_over(space, trials, seed=0)
    kept = [(t.id, t.params["batch"], type(t.params["batch"])) for t in prior]
    assert kept == [("t0001", choices[1], type(choices[1]))]


def test_a_bool_the_parent_ran_is_no_number_for_a_categorical_of_number_texts() -> None:
    """True == 1 in Python, and "1" reads as the number 1: still a parent's True is not the
    choice "1" (a bool is no number, ``_is_number``), while its 1.0 is."""
    space = hyperstep.SearchSpace.model_validate(
        {"parameters": [{"name": "batch", "type": "categorical", "choices": ["1", "4"]}]}
    )
    prior = carried_over(space, [parent_trial(1, {"batch": True}), parent_trial(2, {"batch": 1.0})], seed=0)
    assert [(t.id, t.params["batch"]) for t in prior] == [("t0002", "1")]


@pytest.mark.parametrize(("ran", "kept"), [(4.0, "4.0"), (4, "4")])
def test_a_number_the_parent_ran_is_the_choice_that_reads_as_it_first(ran: float, kept: str) -> None:
    """Choices "4" and "4.0" are two: a parent's 4.0 is "4.0" (the choice it is, as a script
    reads it), its 4 is "4"; the choice only equal as a number is for a value no choice is."""
    space = hyperstep.SearchSpace.model_validate(
        {"parameters": [{"name": "batch", "type": "categorical", "choices": ["4", "4.0"]}]}
    )
    [prior] = carried_over(space, [parent_trial(1, {"batch": ran})], seed=0)
    assert prior.params["batch"] == kept
