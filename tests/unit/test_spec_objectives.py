"""Several objectives and constraints in the spec: what passes and the one-line refusals."""

from __future__ import annotations

from typing import Any

import pytest

from hyperstep.errors import SpecError
from hyperstep.spec import parse_spec
from tests.conftest import spec_document

METRICS = [
    {"name": "loss", "regex": r"^loss=([0-9.eE+-]+)"},
    {"name": "size", "regex": r"^size=([0-9.eE+-]+)"},
    {"name": "latency", "regex": r"^latency=([0-9.eE+-]+)"},
]
TWO = [{"metric": "loss", "goal": "minimize"}, {"metric": "size", "goal": "minimize"}]


def document(**overrides: Any) -> dict[str, Any]:
    doc = spec_document(**overrides)
    doc["trial"]["metric_definitions"] = METRICS
    return doc


def multi(**overrides: Any) -> dict[str, Any]:
    doc = document(**{"objectives": TWO, **overrides})
    del doc["objective"]
    return doc


def test_two_objectives_and_a_constraint_parse() -> None:
    spec = parse_spec(multi(constraints=[{"metric": "latency", "max": 50}]))
    assert spec.multi_objective and [o.metric for o in spec.goals] == ["loss", "size"]
    assert spec.primary.metric == "loss" and spec.measured_metrics == ["loss", "size", "latency"]
    assert spec.feasible({"latency": 41.0}) and not spec.feasible({"latency": 51.0}) and not spec.feasible({})


def test_one_objective_takes_constraints_with_min_and_max() -> None:
    spec = parse_spec(document(constraints=[{"metric": "latency", "min": 1, "max": 50}]))
    assert not spec.multi_objective and spec.goals == [spec.objective]
    assert spec.feasible({"latency": 1.0}) and not spec.feasible({"latency": 0.5})


@pytest.mark.parametrize(
    ("doc", "field", "reason"),
    [
        (document(objectives=TWO), "objectives", "give objective (one) or objectives (two or three), not both"),
        (multi(objectives=TWO[:1]), "objectives", "give 2 or 3 objectives, got 1"),
        (multi(objectives=[*TWO, *TWO]), "objectives", "got 4"),
        (multi(objectives=[TWO[0], TWO[0]]), "objectives", "repeated: loss"),
        (document(constraints=[{"metric": "latency"}]), "constraints.0", "needs max, min or both"),
        (document(constraints=[{"metric": "latency", "min": 5, "max": 1}]), "constraints.0", "min (5) exceeds max (1)"),
        (
            document(constraints=[{"metric": "latency", "max": 1}, {"metric": "latency", "min": 0}]),
            "constraints",
            "repeated: latency",
        ),
        (
            document(constraints=[{"metric": "memory", "max": 1}]),
            "constraints.0.metric",
            "'memory' is not produced",
        ),
        (multi(objectives=[TWO[0], {"metric": "kb"}]), "objectives.1.metric", "'kb' is not produced"),
        (multi(budget={"max_trials": 4, "target": 0.1}), "budget.target", "works with one objective"),
        (multi(budget={"no_improvement_trials": 5}), "budget.no_improvement_trials", "works with one objective"),
        (multi(budget={"stop_on_convergence": True}), "budget.stop_on_convergence", "works with one objective"),
    ],
)
def test_bad_objectives_and_constraints_are_refused(doc: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(SpecError) as error:
        parse_spec(doc)
    message = str(error.value)
    assert message.startswith(f"{field}: ") and reason in message, message


def test_neither_objective_nor_objectives_is_refused() -> None:
    doc = document()
    del doc["objective"]
    with pytest.raises(SpecError, match="objective: Field required"):
        parse_spec(doc)
