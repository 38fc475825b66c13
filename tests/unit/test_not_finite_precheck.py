"""``read_metrics`` asks its cheap pre-check (``maybe_not_finite``) before the ``NOT_FINITE``
regex on each line that matched no metric: the check may let through a line the regex then
finds nothing in, but never turn away one it would find a NaN or an infinity in."""

from __future__ import annotations

import random

import pytest

from hyperstep.backends.logs import NOT_FINITE, maybe_not_finite

PIECES = [
    "nan",
    "NaN",
    "inf",
    "INF",
    "Infinity",
    "infinit",
    "INFO",
    "finance",
    "x",
    "=",
    "-",
    "+",
    " ",
    "0.5",
    "é",
    "\u212a",
]


@pytest.mark.parametrize(
    ("line", "maybe"),
    [
        ("2026-12-03 INFO epoch 2 information inference", False),
        ("finance nano banana infinityx", False),
        ("loss=nan", True),
        ("loss=-Infinity", True),
        ("x-inf", True),
        ("INF", True),
    ],
)
def test_words_that_hold_nan_or_inf_are_turned_away_and_values_are_not(line: str, maybe: bool) -> None:
    assert maybe_not_finite(line) is maybe
    assert (NOT_FINITE.search(line) is not None) is maybe


def test_no_line_the_regex_finds_a_value_in_is_turned_away() -> None:
    rng = random.Random(25)
    for _ in range(20_000):
        line = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 8)))
        assert NOT_FINITE.search(line) is None or maybe_not_finite(line), line
