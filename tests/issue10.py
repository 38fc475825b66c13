"""Issue 10's interface, word for word: the YAML a user writes for a conditional space with
several objectives and a constraint. Tests of every surface (Study, CLI, API, moto) load it
from here so they drive exactly what the issue promises."""

from __future__ import annotations

from typing import Any

import yaml

PARAMETERS_YAML = """
parameters:
  - {name: kernel, type: categorical, choices: [linear, rbf, poly]}
  - {name: gamma, type: float, low: 1.0e-5, high: 10, scale: log, when: {kernel: [rbf, poly]}}
  - {name: degree, type: int, low: 2, high: 5, when: {kernel: [poly]}}
  - {name: momentum, type: float, low: 0.5, high: 0.999, scale: reverse_log}
"""
OBJECTIVES_YAML = """
objectives:                     # instead of objective; two or three entries
  - {metric: accuracy, goal: maximize}
  - {metric: model_kb, goal: minimize}
constraints:                    # with one objective or several
  - {metric: latency_ms, max: 50}        # max and/or min
"""
METRICS = ("accuracy", "model_kb", "latency_ms")


def document(**rest: Any) -> dict[str, Any]:
    """The issue's parameters, objectives and constraints, with the rest of a spec."""
    return {**yaml.safe_load(PARAMETERS_YAML), **yaml.safe_load(OBJECTIVES_YAML), **rest}


def active(params: dict[str, Any]) -> set[str]:
    """The names the issue's tree makes active for ``params``, written out by hand."""
    kernel = params["kernel"]
    return (
        {"kernel", "momentum"}
        | ({"gamma"} if kernel in ("rbf", "poly") else set())
        | ({"degree"} if kernel == "poly" else set())
    )


def outcome(params: dict[str, Any]) -> dict[str, float]:
    """A made-up model's accuracy, size and latency: rbf is accurate, poly is big and slow for
    high degrees (latency over 50 ms from degree 4), linear is small and fast."""
    kernel = params["kernel"]
    accuracy = {"linear": 0.80, "rbf": 0.90, "poly": 0.85}[kernel] + 0.05 * (float(params["momentum"]) - 0.5)
    if "gamma" in params:
        accuracy -= 0.01 * abs(float(params["gamma"]) - 0.1)
    degree = int(params.get("degree", 1))
    size = {"linear": 10.0, "rbf": 400.0, "poly": 100.0 * degree}[kernel]
    return {"accuracy": accuracy, "model_kb": size, "latency_ms": 14.0 * degree + (5.0 if kernel == "rbf" else 0.0)}
