from __future__ import annotations

import re

import numpy as np
import pytest
from pydantic import ValidationError

from hyperstep import SearchSpace

SPACE = SearchSpace.model_validate(
    {
        "parameters": [
            {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
            {"name": "depth", "type": "int", "low": 1, "high": 12},
            {"name": "units", "type": "int", "low": 8, "high": 512, "scale": "log"},
            {"name": "kernel", "type": "categorical", "choices": ["rbf", "linear", 3, True]},
        ]
    }
)


def test_encoding_width_counts_one_hot_columns() -> None:
    assert SPACE.dim == 1 + 1 + 1 + 4


def test_round_trip_keeps_values_and_types() -> None:
    params = {"lr": 0.01, "depth": 7, "units": 64, "kernel": 3}
    back = SPACE.decode(SPACE.encode(params))
    assert back["lr"] == pytest.approx(0.01)
    assert back["depth"] == 7 and type(back["depth"]) is int
    assert back["units"] == 64 and type(back["units"]) is int
    assert back["kernel"] == 3 and type(back["kernel"]) is int


def test_log_scale_encodes_in_log_space() -> None:
    middle = SPACE.decode(np.array([0.5, 0.5, 0.5, 1, 0, 0, 0]))
    assert middle["lr"] == pytest.approx(1e-2)


def test_uniform_cube_gives_every_integer_an_equal_share() -> None:
    rng = np.random.default_rng(0)
    depths = [SPACE.decode(np.r_[0.5, u, 0.5, 1, 0, 0, 0])["depth"] for u in rng.random(12_000)]
    counts = np.bincount(depths, minlength=13)[1:]
    assert counts.min() > 800 and counts.max() < 1200
    assert min(depths) == 1 and max(depths) == 12


def test_decoded_values_stay_in_bounds_at_the_cube_edges() -> None:
    for u in (0.0, 1.0):
        params = SPACE.decode(np.full(SPACE.dim, u))
        assert 1e-4 <= params["lr"] <= 1.0 and 1 <= params["depth"] <= 12 and 8 <= params["units"] <= 512


@pytest.mark.parametrize("scale", ["linear", "log", "reverse_log"])
def test_the_cube_edges_decode_to_the_bounds_exactly(scale: str) -> None:
    # a log scale's round trip gave 999.9999999999998 for high 1000: a script saw --C 999.9999999999998
    low, high = (0.001, 0.999) if scale == "reverse_log" else (0.001, 1000.0)
    parameter = {"name": "C", "type": "float", "low": low, "high": high, "scale": scale}
    space = SearchSpace.model_validate({"parameters": [parameter]})
    assert space.decode(np.array([1.0]))["C"] == high and space.decode(np.array([0.0]))["C"] == low


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        (
            {"name": "a", "type": "float", "low": 1, "high": 1},
            "low (1.0) must be less than high (1.0); for a constant, use a categorical with one choice",
        ),
        ({"name": "a", "type": "float", "low": 0, "high": 1, "scale": "log"}, "log scale needs low > 0"),
        ({"name": "a", "type": "int", "low": 5, "high": 2}, "must be less than high"),
        ({"name": "a", "type": "categorical", "choices": []}, "at least 1 item"),
        ({"name": "a", "type": "categorical", "choices": ["x", "x"]}, "choices must be unique: 'x' is given twice"),
        (  # YAML's [yes, no, on]
            {"name": "a", "type": "categorical", "choices": [True, False, True]},
            "choices must be unique: True is given twice (YAML reads yes, on and true as True,"
            " no, off and false as False: quote them for text)",
        ),
        # a choice equal to another: one of them never ran (index finds the first), and a grid ran the
        # other twice; JSON has one number type (1 and 1.0 are one number, as to a script's float())
        ({"name": "a", "type": "categorical", "choices": [-0.0, 0.0]}, "unique: -0.0 and 0.0 are the same number"),
        ({"name": "a", "type": "categorical", "choices": ["x", 1, 1.0]}, "unique: 1 and 1.0 are the same number"),
        ({"name": "a", "type": "complex", "low": 0, "high": 1}, "does not match any of the expected tags"),
        ({"name": "a b", "type": "float", "low": 0, "high": 1}, "should match pattern"),
        ({"name": "a", "type": "float", "low": 0, "high": float("inf")}, "finite number"),
        ({"name": "a", "type": "float", "low": float("-inf"), "high": 1}, "finite number"),
        ({"name": "a", "type": "float", "low": -1e308, "high": 1e308}, "too wide"),
        ({"name": "a", "type": "categorical", "choices": [float("nan"), 1]}, "finite number"),
        ({"name": "a", "type": "int", "low": 0, "high": 10**400}, "less than or equal to 9007199254740992"),
    ],
)
def test_bad_parameters_are_rejected_with_the_reason(parameter: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        SearchSpace.model_validate({"parameters": [parameter]})


def test_duplicate_names_are_rejected() -> None:
    p = {"name": "a", "type": "float", "low": 0, "high": 1}
    with pytest.raises(ValidationError, match="duplicate parameter name 'a'"):
        SearchSpace.model_validate({"parameters": [p, p]})


def test_an_int_parameter_s_bounds_are_within_2_to_the_53_of_0() -> None:
    """README: an ``int`` parameter's ``low`` and ``high`` are within 2^53 of 0 (its bound
    said 2^53 - 1, as a seed's, where the code and ``openapi.json`` take 2^53 itself)."""
    edge = {"name": "a", "type": "int", "low": -(2**53), "high": 2**53}
    assert SearchSpace.model_validate({"parameters": [edge]}).parameters[0].high == 2**53
    for past in ({**edge, "high": 2**53 + 1}, {**edge, "low": -(2**53) - 1}):
        with pytest.raises(ValidationError, match=r"than or equal to -?9007199254740992"):
            SearchSpace.model_validate({"parameters": [past]})
