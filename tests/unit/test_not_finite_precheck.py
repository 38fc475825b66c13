"""``read_metrics`` asks its cheap pre-check (``maybe_not_finite``) before the ``NOT_FINITE``
regex on each line that matched no metric: the check may let through a line the regex then
finds nothing in, but never turn away one it would find a NaN or an infinity in."""

from __future__ import annotations

import random

import pytest

from hyperstep.backends.logs import NOT_FINITE, final_metrics_in_log, maybe_not_finite
from tests.unit.test_last_match_decides import NUMBERS, PagedLog

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


def test_a_non_ascii_letter_is_no_nan_or_infinity_and_no_word_boundary() -> None:
    """``NOT_FINITE`` was case-insensitive over Unicode: it took ``loss=\u0131nf`` (a dotless i)
    and ``loss=\u0130nf`` as an infinity, which ``float`` cannot read, so the reaper's read of a
    Batch or SageMaker log raised ``ValueError`` on that line. It now takes only what ``float``
    reads as NaN or an infinity; a Kelvin sign before ``nan`` is no ASCII letter, so that value
    counts, and the pre-check (whose ``lower`` makes the sign a ``k``) must not turn it away."""
    for line in ("loss=\u0131nf", "loss=\u0130nf"):
        assert NOT_FINITE.search(line) is None
        assert final_metrics_in_log(PagedLog([["loss=0.5", line]]), "g", "s", NUMBERS, ["loss"]) == {"loss": 0.5}
    assert NOT_FINITE.search("\u212anan") is not None and maybe_not_finite("\u212anan")
