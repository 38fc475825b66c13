"""Conditional search spaces (``when``) and the ``reverse_log`` scale, through every strategy."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from hyperstep.errors import SpecError
from hyperstep.space import INACTIVE_NUMERIC, SearchSpace
from hyperstep.spec import JobSpec, parse_spec
from hyperstep.spec_base import STORED
from hyperstep.strategies import make_strategy
from hyperstep.strategies.conditional import ARC_RADIUS, ArcFeatures
from hyperstep.strategies.gp import GaussianProcess
from hyperstep.strategies.grid import GridSearch
from hyperstep.study import Study, history_of
from tests.conftest import spec_document

SVM = [
    {"name": "kernel", "type": "categorical", "choices": ["linear", "rbf", "poly"]},
    {"name": "gamma", "type": "float", "low": 1.0e-5, "high": 10, "scale": "log", "when": {"kernel": ["rbf", "poly"]}},
    {"name": "degree", "type": "int", "low": 2, "high": 5, "when": {"kernel": ["poly"]}},
    {"name": "momentum", "type": "float", "low": 0.5, "high": 0.999, "scale": "reverse_log"},
]
NESTED = [
    *SVM[:3],
    {"name": "coef0", "type": "float", "low": 0.0, "high": 1.0, "when": {"degree": [3, 4]}},
    {"name": "shrink", "type": "categorical", "choices": [True, False], "when": {"kernel": ["rbf"]}},
    {"name": "C", "type": "float", "low": 1e-3, "high": 1e3, "scale": "log"},
]
STRATEGIES = ["random", "sobol", "grid", "evolutionary", "bayesian"]


def space_of(parameters: list[dict[str, Any]]) -> SearchSpace:
    return SearchSpace.model_validate({"parameters": parameters})


def expected_active(params: dict[str, Any]) -> set[str]:
    """The NESTED tree's active parameters, written out by hand."""
    kernel = params["kernel"]
    active = {"kernel", "C"}
    if kernel in ("rbf", "poly"):
        active.add("gamma")
    if kernel == "rbf":
        active.add("shrink")
    if kernel == "poly":
        active.add("degree")
        if params["degree"] in (3, 4):
            active.add("coef0")
    return active


# validation


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        ({"kernal": ["rbf"]}, "when names 'kernal', which is not a parameter"),
        (
            {"kernel": ["sigmoid"]},
            "when.kernel lists 'sigmoid', a value 'kernel' never takes (it takes 'linear', 'rbf', 'poly')",
        ),
        ({"degree": [7]}, "when.degree lists 7, a value 'degree' never takes (it takes 2 to 5)"),
        ({"momentum": [0.9]}, "when names the float parameter 'momentum'; a parent must be categorical or int"),
        ({"extra": ["a"]}, "conditions form a cycle: extra -> extra"),
    ],
)
def test_a_condition_that_cannot_hold_is_refused(when: dict[str, list[Any]], reason: str) -> None:
    parameters = [*SVM, {"name": "extra", "type": "categorical", "choices": ["a", "b"], "when": when}]
    with pytest.raises(ValidationError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        space_of(parameters)


def test_a_cycle_through_several_parameters_is_refused_naming_it() -> None:
    parameters = [
        {"name": "a", "type": "int", "low": 1, "high": 3, "when": {"c": [1]}},
        {"name": "b", "type": "int", "low": 1, "high": 3, "when": {"a": [2]}},
        {"name": "c", "type": "categorical", "choices": [1, 2], "when": {"b": [3]}},
    ]
    with pytest.raises(ValidationError, match="conditions form a cycle: a -> c -> b -> a"):
        space_of(parameters)


def test_an_empty_condition_is_refused() -> None:
    with pytest.raises(ValidationError):
        space_of([SVM[0], {**SVM[1], "when": {"kernel": []}}])
    with pytest.raises(ValidationError):
        space_of([SVM[0], {**SVM[1], "when": {}}])


def test_a_spec_names_the_bad_condition_in_one_line() -> None:
    kind = {"name": "kind", "type": "categorical", "choices": ["a", "b"]}
    x = {"name": "x", "type": "float", "low": 0, "high": 1, "when": {"kind": ["c"]}}
    with pytest.raises(SpecError) as caught:
        parse_spec(spec_document(parameters=[kind, x]))
    assert (
        str(caught.value)
        == "parameters: parameter 'x': when.kind lists 'c', a value 'kind' never takes (it takes 'a', 'b')"
    )
    flag = {"name": "flag", "type": "categorical", "choices": [True, False]}  # YAML's [yes, no]
    with pytest.raises(SpecError, match=r"lists 'yes', a value 'flag' never takes \(it takes True, False\)$"):
        parse_spec(spec_document(parameters=[flag, {**x, "when": {"flag": ["yes"]}}]))


def test_a_parameter_whose_conditions_can_never_hold_together_is_refused() -> None:
    """``c`` needs ``model`` to be ``tree`` itself, and ``b`` (its parent), which needs
    ``model`` to be ``svm``: no configuration activates it (each condition alone is valid)."""
    parameters = [
        {"name": "model", "type": "categorical", "choices": ["svm", "tree", "knn"]},
        {"name": "b", "type": "categorical", "choices": ["p", "q"], "when": {"model": ["svm", "knn"]}},
        {"name": "c", "type": "float", "low": 0, "high": 1, "when": {"b": ["p"], "model": ["tree"]}},
    ]
    with pytest.raises(SpecError) as caught:
        parse_spec(spec_document(parameters=parameters))
    assert str(caught.value) == (
        "parameters: parameter 'c' is never active: its conditions need 'model' to be one of"
        " ['tree'] and one of ['svm', 'knn'] at once"
    )
    deep = [
        {"name": "n", "type": "int", "low": 1, "high": 9},
        {"name": "m", "type": "int", "low": 1, "high": 3, "when": {"n": [1, 2]}},
        {"name": "k", "type": "int", "low": 1, "high": 3, "when": {"m": [3]}},
        {"name": "x", "type": "float", "low": 0, "high": 1, "when": {"k": [1], "n": [5, 6]}},
    ]
    with pytest.raises(ValidationError, match=r"'x' is never active: .* 'n' to be one of \[5, 6\] and one of \[1, 2\]"):
        space_of(deep)
    feasible = [*deep[:3], {**deep[3], "when": {"k": [1], "n": [2, 6]}}]  # n = 2 activates m, k and x
    assert space_of(feasible).active_names({"n": 2, "m": 3, "k": 1, "x": 0.5}) == {"n", "m", "k", "x"}
    stored = JobSpec.model_validate(spec_document(parameters=parameters), context=STORED)  # a job from before the rule
    assert stored.space.active_names({"model": "tree"}) == {"model"}


def test_a_condition_on_a_large_categorical_is_read_once_per_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """A condition listing 500 of 1,000 choices: reading which parameters a configuration
    activates looks its parent's value up once, not once per listed value (every strategy
    decodes thousands of candidates; a Bayesian ask(4) took 90 s here, most of it in
    ``CategoricalParameter.index``)."""
    from hyperstep.space import CategoricalParameter

    choices = [f"v{i}" for i in range(1000)]
    space = space_of(
        [
            {"name": "c", "type": "categorical", "choices": choices},
            {"name": "y", "type": "float", "low": 0, "high": 1, "when": {"c": choices[::2]}},
        ]
    )
    points = np.random.default_rng(0).random((50, space.dim))
    space.activity(points)  # what is built once per space, before counting
    space.decode(points[0])
    calls = []
    index = CategoricalParameter.index
    monkeypatch.setattr(CategoricalParameter, "index", lambda self, value: calls.append(value) or index(self, value))
    configs = [space.decode(x) for x in points]
    assert len(calls) <= 2 * len(points)
    assert all(("y" in c) == (int(c["c"][1:]) % 2 == 0) for c in configs)


def test_parents_may_be_conditional_and_come_after_their_children() -> None:
    space = space_of(list(reversed(NESTED)))
    assert space.active_names({"kernel": "poly", "gamma": 1.0, "degree": 3, "coef0": 0.5, "C": 1.0}) == {
        "kernel",
        "gamma",
        "degree",
        "coef0",
        "C",
    }
    assert space.active_names({"kernel": "poly", "gamma": 1.0, "degree": 5, "C": 1.0}) == {
        "kernel",
        "gamma",
        "degree",
        "C",
    }
    assert space.active_names({"kernel": "linear", "C": 1.0}) == {"kernel", "C"}


# encoding


def test_inactive_parameters_are_absent_and_encoded_as_the_filler() -> None:
    space = space_of(SVM)
    params = {"kernel": "linear", "momentum": 0.99}
    x = space.encode(params)
    assert list(x[:3]) == [1.0, 0.0, 0.0]
    assert x[3] == INACTIVE_NUMERIC and x[4] == INACTIVE_NUMERIC
    assert space.decode(x) == pytest.approx(params)
    assert space.contains(params)
    assert not space.contains({**params, "gamma": 0.1})  # set though its kernel ignores it
    assert not space.contains({"kernel": "rbf", "momentum": 0.99})  # gamma missing
    assert space.encode({**params, "gamma": 0.1}).tolist() == x.tolist()  # an inactive value is ignored
    assert space.key(params) != space.key({"kernel": "rbf", "gamma": 0.1, "momentum": 0.99})


def test_decoding_keeps_exactly_the_active_parameters() -> None:
    space = space_of(NESTED)
    for x in np.random.default_rng(0).random((300, space.dim)):
        params = space.decode(x)
        assert set(params) == expected_active(params)
        assert space.contains(params)
        assert space.round(space.round(x)).tolist() == space.round(x).tolist()


def test_activity_of_encodings_agrees_with_the_decoded_configurations() -> None:
    space = space_of(NESTED)
    X = space.encode_many([space.decode(x) for x in np.random.default_rng(1).random((200, space.dim))])
    names = [p.name for p in space.parameters]
    for row, active in zip(X, space.activity(X)):
        assert {n for n, on in zip(names, active) if on} == expected_active(space.decode(row))


def test_reverse_log_is_dense_near_the_upper_bound() -> None:
    space = space_of([SVM[3]])
    values = [space.decode(np.array([u]))["momentum"] for u in np.linspace(0, 1, 11)]
    assert values[0] == pytest.approx(0.5) and values[-1] == pytest.approx(0.999)
    assert values[5] == pytest.approx(1 - math.sqrt(0.5 * 0.001))  # the middle of log(1 - x)
    steps = np.diff(values)
    assert (steps > 0).all() and (np.diff(steps) < 0).all()  # ever smaller steps towards 0.999
    for value in (0.5, 0.9, 0.99, 0.999):
        assert space.decode(space.encode({"momentum": value}))["momentum"] == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    "parameter",
    [
        {"name": "m", "type": "float", "low": 0.5, "high": 1.0, "scale": "reverse_log"},
        {"name": "m", "type": "float", "low": -0.1, "high": 0.5, "scale": "reverse_log"},
        {"name": "m", "type": "int", "low": 0, "high": 3, "scale": "reverse_log"},
    ],
)
def test_reverse_log_outside_zero_one_is_refused(parameter: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=r"reverse_log scale needs a float range with 0 <= low < high < 1"):
        space_of([parameter])


# strategies


def _run(space: SearchSpace, strategy: str, seed: int, rounds: int = 4, batch: int = 3) -> Study:
    study = Study(space, strategy=strategy, seed=seed)
    for _ in range(rounds):
        for trial in study.ask(batch):
            p = trial.params
            value = {"linear": 1.0, "rbf": 0.0, "poly": 0.5}[p["kernel"]] + math.log10(p["C"]) ** 2 / 9
            value += (math.log10(p["gamma"]) + 2) ** 2 / 9 if "gamma" in p else 0.0
            value += p.get("coef0", 0.0)
            study.tell(trial.id, value)
    return study


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_proposes_only_configurations_of_the_tree(strategy: str) -> None:
    space = space_of(NESTED)
    kernels: set[str] = set()
    for seed in range(3):
        trials = _run(space, strategy, seed).trials
        assert len(trials) == 12
        for trial in trials:
            assert set(trial.params) == expected_active(trial.params), trial.params
            assert space.contains(trial.params)
            kernels.add(trial.params["kernel"])
        keys = [space.key(t.params) for t in trials]
        assert len(set(keys)) == len(keys)  # no two differ only in inactive values
    if strategy != "grid":  # the grid walks configurations, of which linear ones are few
        assert kernels == {"linear", "rbf", "poly"}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_returns_one_encoding_per_configuration(strategy: str) -> None:
    space = space_of(NESTED)
    study = _run(space, strategy, seed=4, rounds=2)
    history = history_of(space, study.trials, minimize=True, seed=4)
    points = make_strategy(strategy).suggest(history, 6, np.random.default_rng(0))
    assert len(points)
    for x in points:
        assert np.allclose(x, space.round(x), rtol=0, atol=1e-12)
        inactive = ~space.active_columns(x[None])[0]
        assert np.array_equal(x[inactive], space.inactive_fill[inactive])


def test_the_grid_holds_each_configuration_once() -> None:
    space = space_of([SVM[0], SVM[1], SVM[2]])
    grid = GridSearch(resolution=4)
    history = history_of(space, [], minimize=True)
    points = grid.suggest(history, 1000, np.random.default_rng(0))
    configs = [space.decode(x) for x in points]
    assert len(points) == 1 + 4 + 4 * 4  # linear; rbf x 4 gammas; poly x 4 gammas x 4 degrees
    assert len({space.key(c) for c in configs}) == len(configs)
    assert {c["kernel"] for c in configs if set(c) == {"kernel"}} == {"linear"}


def test_the_grid_keeps_an_int_parents_values_that_conditions_name() -> None:
    """An int thinned to ``resolution`` values still takes those its children's conditions
    list: else their branch is never tried (depth 8 is not among 1, 4, 6, 10, 12)."""
    space = space_of(
        [
            {"name": "depth", "type": "int", "low": 1, "high": 12},
            {"name": "leaf", "type": "float", "low": 0, "high": 1, "when": {"depth": [8]}},
            {"name": "n", "type": "int", "low": 1, "high": 1000, "scale": "log"},
            {"name": "m", "type": "categorical", "choices": ["a", "b"], "when": {"n": [500, 7]}},
        ]
    )
    grid = GridSearch(resolution=5)
    configs = [space.decode(x) for x in grid.suggest(history_of(space, [], True), 10**6, np.random.default_rng(0))]
    assert {c["depth"] for c in configs} == {1, 4, 6, 8, 10, 12}
    assert {c["n"] for c in configs} == {1, 3, 7, 22, 150, 500, 1000}
    assert {c["leaf"] for c in configs if c["depth"] == 8} == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert {c["m"] for c in configs if c["n"] in (7, 500)} == {"a", "b"} and all(
        ("m" in c) == (c["n"] in (7, 500)) for c in configs
    )


def test_the_grid_of_a_deep_tree_is_walked_branch_by_branch() -> None:
    """Five models with eight parameters each: the product over all 41 would hold 5 * 3**40
    combinations; the tree holds 5 * 3**8 configurations."""
    parameters: list[dict[str, Any]] = [{"name": "model", "type": "categorical", "choices": list("abcde")}]
    for model in "abcde":
        parameters += [
            {"name": f"{model}{i}", "type": "float", "low": 0, "high": 1, "when": {"model": [model]}} for i in range(8)
        ]
    space = space_of(parameters)
    points = GridSearch(resolution=3).suggest(history_of(space, [], minimize=True), 10**6, np.random.default_rng(0))
    assert len(points) == 5 * 3**8
    nested = GridSearch(resolution=4).suggest(history_of(space_of(NESTED), [], True), 10**6, np.random.default_rng(0))
    configs = [space_of(NESTED).decode(x) for x in nested]
    by_kernel = {k: sum(c["kernel"] == k for c in configs) for k in ("linear", "rbf", "poly")}
    # C x 4; rbf: gamma x shrink; poly: gamma x (degree 2 or 5, or 3 or 4 with coef0 x 4)
    assert by_kernel == {"linear": 4, "rbf": 4 * 4 * 2, "poly": 4 * 4 * (2 + 2 * 4)}


def test_the_evolutionary_search_mutates_within_the_tree() -> None:
    space = space_of(NESTED)
    study = _run(space, "evolutionary", seed=0, rounds=6, batch=4)
    trials = study.trials
    switched = [t for t in trials[8:] if "degree" in t.params]  # later generations reach the poly branch
    assert all(set(t.params) == expected_active(t.params) for t in trials)
    assert switched and all(2 <= t.params["degree"] <= 5 for t in switched)


def test_the_bayesian_strategy_is_deterministic_for_a_seed() -> None:
    space = space_of(NESTED)
    first = [t.params for t in _run(space, "bayesian", seed=2, rounds=3).trials]
    second = [t.params for t in _run(space, "bayesian", seed=2, rounds=3).trials]
    assert first == second


# the GP's kernel on inactive dimensions


def _svm_points(*configs: dict[str, Any]) -> tuple[SearchSpace, np.ndarray]:
    """The kernel-and-gamma space and the encodings of ``configs``."""
    space = space_of(SVM[:2])
    return space, space.encode_many(list(configs))


def test_the_arc_features_put_inactive_at_a_fixed_distance_from_every_active_value() -> None:
    space, X = _svm_points(
        {"kernel": "linear"},
        {"kernel": "linear"},
        *({"kernel": "rbf", "gamma": g} for g in (1e-5, 1e-3, 1e-1, 10.0)),
    )
    X[1, 3] = 0.9  # an inactive column holding anything: absent all the same
    F = ArcFeatures(space)(X)
    gamma_features = F[:, [3, 4]]  # the gamma column's arc (cosine) and its sine
    assert gamma_features[0].tolist() == [0.0, 0.0]
    dist = np.linalg.norm(gamma_features[:, None] - gamma_features[None], axis=2)
    assert dist[0, 1] == 0.0  # both inactive
    assert np.allclose(dist[0, 2:], ARC_RADIUS)  # one inactive: the same distance to every gamma
    active = dist[2:, 2:]
    u = X[2:, 3]
    assert np.allclose(active, 2 * ARC_RADIUS * np.sin(np.abs(u[:, None] - u[None]) * np.pi / 6))
    assert active.max() == pytest.approx(ARC_RADIUS)  # the ends of the range: as far as inactive
    assert np.allclose(np.diag(active, 1), np.abs(np.diff(u)), rtol=0.05)


def test_the_kernel_ignores_what_an_inactive_column_holds() -> None:
    space = space_of(SVM[:2])
    x = space.encode({"kernel": "linear"})
    raw = np.tile(x, (5, 1))
    raw[:, 3] = np.linspace(0, 1, 5)  # not snapped: values an imputation might have put there
    other = space.encode_many([{"kernel": "rbf", "gamma": 0.01}, {"kernel": "linear"}])
    theta = np.r_[np.log([1.0, 1.0, 1.0, 0.3]), 0.0, math.log(1e-3), math.log(0.25)]
    model = GaussianProcess(
        other, np.array([0.0, 1.0]), theta, onehot=np.array([1, 1, 1, 0], bool), features=ArcFeatures(space)
    )
    K = model.kernel(raw, other)
    assert np.allclose(K, K[0])
    mean, sd = model.predict(raw)
    assert np.allclose(mean, mean[0]) and np.allclose(sd, sd[0])


def test_the_kernel_of_a_tree_is_positive_definite() -> None:
    space = space_of(NESTED)
    rng = np.random.default_rng(0)
    X = space.encode_many([space.decode(x) for x in rng.random((120, space.dim))])
    X = np.unique(X, axis=0)
    onehot = np.zeros(space.dim, bool)
    onehot[[0, 1, 2, 6, 7]] = True
    theta = np.r_[np.log(rng.uniform(0.1, 2.0, space.dim)), 0.0, math.log(1e-6), math.log(0.25)]
    model = GaussianProcess(X[:2], np.zeros(2), theta, onehot=onehot, features=ArcFeatures(space))
    assert np.linalg.eigvalsh(model.kernel(X, X)).min() > -1e-9


def test_a_fitted_gp_learns_a_branch_parameter_only_from_its_branch() -> None:
    """gamma matters where it is active; linear trials are flat: the model's gamma length
    scale stays short though half the points carry no gamma at all."""
    space = space_of(SVM[:2])
    rng = np.random.default_rng(0)
    configs = [space.decode(x) for x in rng.random((40, space.dim))]
    y = np.array([(math.log10(c["gamma"]) + 2) ** 2 / 4 if "gamma" in c else 1.0 for c in configs])
    X = space.encode_many(configs)
    model = GaussianProcess.fit(
        X, (y - y.mean()) / y.std(), rng, onehot=np.array([1, 1, 1, 0], bool), features=ArcFeatures(space)
    )
    best = space.encode({"kernel": "rbf", "gamma": 0.01})
    worst = space.encode({"kernel": "rbf", "gamma": 10.0})
    linear = space.encode({"kernel": "linear"})
    mean = model.predict(np.array([best, worst, linear]))[0]
    assert mean[0] < mean[2] < mean[1]


# the example's trials on AWS


@pytest.mark.parametrize("kernel", ["linear", "rbf", "poly"])
def test_sagemaker_and_batch_trials_of_the_example_carry_only_active_hyperparameters(kernel: str) -> None:
    from hyperstep.backends.batch.adapter import build_request as batch_request
    from hyperstep.backends.naming import ENV_HYPERPARAMETERS
    from hyperstep.backends.sagemaker.adapter import build_request as sagemaker_request
    from hyperstep.models import Job, Trial
    from hyperstep.spec import load_spec
    from tests.integration.aws_model import violations

    examples = Path(__file__).parents[2] / "examples" / "svm-breast-cancer"
    expected = (
        {"C", "kernel"} | ({"gamma"} if kernel != "linear" else set()) | ({"degree"} if kernel == "poly" else set())
    )
    for name, build, operation in (
        ("spec-sagemaker.yaml", sagemaker_request, ("sagemaker", "CreateTrainingJob")),
        ("spec-batch.yaml", batch_request, ("batch", "SubmitJob")),
    ):
        spec = load_spec(examples / name)
        space = spec.space
        params = next(
            p
            for p in (space.decode(x) for x in np.random.default_rng(0).random((200, space.dim)))
            if p["kernel"] == kernel
        )
        assert set(params) == expected
        job = Job(id="svm-1", spec=spec)
        request = build(job, Trial(job_id=job.id, id="t0001", number=1, params=params), "hs-svm-t0001-1")
        assert violations(*operation, request) == []
        if operation[0] == "sagemaker":
            passed = {k for k in request["HyperParameters"] if not k.startswith("sagemaker_")}
            env = request["Environment"]
        else:
            overrides = request["containerOverrides"]
            passed = {arg[2:] for arg in overrides["command"] if arg.startswith("--")}
            env = {e["name"]: e["value"] for e in overrides["environment"]}
        assert passed == expected
        assert set(json.loads(env[ENV_HYPERPARAMETERS])) == expected


@pytest.mark.parametrize(
    ("choices", "meant"),
    [([True, "1"], "1"), (["1", True], "1"), ([True, 1.0], 1.0), ([True, False], True)],
    ids=["true-then-text", "text-then-true", "true-then-float", "booleans-only"],
)
def test_a_1_in_a_when_is_the_choice_a_script_reads_as_1_not_true_whatever_their_order(
    choices: list, meant: object
) -> None:
    """Python holds 1 == True: ``when: {x: [1]}`` over YAML's ``[yes, "1"]`` activated ``c``
    at True (the first choice equal to 1), and over ``["1", yes]`` at "1". A bool matches a
    number only when no choice is that number or reads as it (``[yes, no]``: True, as before,
    so a stored job with such a when reads back the same)."""
    space = SearchSpace.model_validate(
        {
            "parameters": [
                {"name": "x", "type": "categorical", "choices": choices},
                {"name": "c", "type": "int", "low": 1, "high": 3, "when": {"x": [1]}},
            ]
        }
    )
    assert [choice for choice in choices if "c" in space.active_names({"x": choice, "c": 2})] == [meant]
