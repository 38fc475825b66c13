"""What counts as a configuration already seen: each parameter at its effective resolution.

A strategy keeps its suggestions new with ``search.far_from``. Two configurations are the
same when their integers and categories are equal (after rounding: whatever the encoding
arithmetic left in the last bits) and their floats agree to ``FLOAT_RESOLUTION``: relative
to the value on a log scale, to the range on a linear one. A fixed distance in the unit
cube (1e-6) did neither: it took floats that agree to five or six significant digits
(what a script prints is less) for new configurations, and on a wide log-scaled integer
it took distinct neighbours (999,999,999 and 1,000,000,000) for one.
"""

from __future__ import annotations

import numpy as np
import pytest

from hyperstep.space import SearchSpace
from hyperstep.strategies import search
from hyperstep.strategies.transforms import FLOAT_RESOLUTION, Projector

SPACE = SearchSpace.model_validate(
    {
        "parameters": [
            {"name": "x", "type": "float", "low": -5.0, "high": 5.0},
            {"name": "lr", "type": "float", "low": 1e-7, "high": 1.0, "scale": "log"},
            {"name": "beta", "type": "float", "low": 0.9, "high": 0.9999, "scale": "reverse_log"},
            {"name": "batch", "type": "int", "low": 1, "high": 1_000_000_000, "scale": "log"},
            {"name": "act", "type": "categorical", "choices": ["relu", "tanh"]},
        ]
    }
)
BASE = {"x": 1.25, "lr": 3e-4, "beta": 0.99, "batch": 999_999_999, "act": "relu"}


def is_new(params: dict, seen: list[dict]) -> bool:
    proj = Projector(SPACE)
    C, S = SPACE.encode_many([params]), SPACE.encode_many(seen)
    return bool(search.far_from(proj(C), S, proj)[0])


@pytest.mark.parametrize(
    "change",
    [
        {"x": 1.25 + 0.2 * FLOAT_RESOLUTION * 10.0},  # a fifth of the resolution of a range of 10
        {"lr": 3e-4 * (1 + 0.2 * FLOAT_RESOLUTION)},  # relative, on a log scale
        {"beta": 1 - 0.01 * (1 + 0.2 * FLOAT_RESOLUTION)},  # relative to 1 - beta, on reverse_log
        {"x": 1.25 + 2e-5, "lr": 3.00003e-4},  # several at once, each within its resolution
    ],
)
def test_floats_that_agree_to_their_resolution_are_the_configuration_seen(change: dict) -> None:
    assert not is_new({**BASE, **change}, [BASE])


@pytest.mark.parametrize(
    "change",
    [
        {"x": 1.25 + 3 * FLOAT_RESOLUTION * 10.0},
        {"lr": 3e-4 * (1 + 3 * FLOAT_RESOLUTION)},
        {"lr": 3e-4 * (1 - 3 * FLOAT_RESOLUTION)},
        {"batch": 1_000_000_000},  # the neighbouring integer: a new configuration however close its encoding
        {"batch": 999_999_998},
        {"act": "tanh"},
    ],
)
def test_a_parameter_past_its_resolution_makes_a_new_configuration(change: dict) -> None:
    assert is_new({**BASE, **change}, [BASE])


def test_an_integer_is_the_same_whatever_the_encoding_arithmetic_left_in_its_last_bits() -> None:
    proj = Projector(SPACE)
    seen = SPACE.encode_many([BASE])
    column = [p.name for p in SPACE.parameters].index("batch")
    nudged = seen.copy()
    nudged[0, column] = np.nextafter(nudged[0, column], 2.0)
    assert not search.far_from(nudged, seen, proj)[0]


def test_the_k_d_tree_gives_the_same_answer_as_every_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long job's history (thousands of seen rows) goes through the tree."""
    rng = np.random.default_rng(5)
    proj = Projector(SPACE)
    seen = proj(rng.random((3000, SPACE.dim)))
    C = proj(rng.random((600, SPACE.dim)))
    C[:50] = seen[:50]  # repeats
    C[50:100] = seen[50:100]
    C[50:100, 0] += 0.5 * FLOAT_RESOLUTION  # x within its resolution
    C[100:150] = seen[100:150]
    C[100:150, 0] += 2 * FLOAT_RESOLUTION  # x past it: new
    by_tree = search.far_from(C, seen, proj)
    monkeypatch.setattr(search, "DENSE_PAIRS", 10**12)
    every_pair = search.far_from(C, seen, proj)
    assert (by_tree == every_pair).all()
    assert not by_tree[:100].any() and by_tree[100:].all()
