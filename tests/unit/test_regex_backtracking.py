"""A metric regex that repeats a part which itself repeats over the same characters
(``((?:\\d+\\.?)+)``) backtracks exponentially on a line that almost matches: every printed
line of a trial runs through it (the local log watcher, the Batch log follower), and Python's
``re`` holds the interpreter meanwhile: ``loss=((?:\\d+\\.?)+)x`` took 0.46 s of CPU on
``loss=`` and 22 digits here, twice as long for each digit more (an hour at 35 digits).
Such a regex is refused at validation; every regex whose repeats cannot split one run of
characters two ways passes, as before."""

from __future__ import annotations

import pytest

from hyperstep.metric_regex import NUMBER, SHORT_NUMBER, nested_repeat
from hyperstep.spec_base import STORED, MetricDefinition

CATASTROPHIC = [
    r"loss=((?:\d+\.?)+)x",
    r"loss=((?:[0-9]+)*\.[0-9]+)",
    r"(?:.*)*loss=([0-9.]+)",
    r"loss=([0-9.]+)(?:\s*\w+)*$",
    r"loss=((?:\d{1,3})+)",
    r"loss=(?:(?:(\d+)))+ end",
]
FINE = [
    r"loss=([0-9.]+)",
    NUMBER,
    SHORT_NUMBER,
    r"accuracy=([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)",
    r".*\[[0-9]+\].*#011validation-rmse:([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?).*",
    r"loss=([0-9]+(?:\.[0-9]+)*)",
    r"(?:\d+\.){3}(\d+)",
    r"Train_error=(.*?);",
    r"loss=((?:\d+\.?)++)",
    r"(?:epoch \d+, )*loss=([0-9.]+)",
]


@pytest.mark.parametrize("regex", CATASTROPHIC)
def test_a_regex_that_repeats_a_repeat_over_the_same_characters_is_refused(regex: str) -> None:
    assert nested_repeat(regex) is not None
    with pytest.raises(ValueError, match="backtrack"):
        MetricDefinition(name="loss", regex=regex)


@pytest.mark.parametrize("regex", FINE)
def test_a_regex_whose_repeats_cannot_split_a_run_two_ways_passes(regex: str) -> None:
    assert nested_repeat(regex) is None
    assert MetricDefinition(name="loss", regex=regex).regex == regex


def test_a_stored_job_with_such_a_regex_stays_readable() -> None:
    """A rule that came later: a job stored before it is read back as it was."""
    definition = MetricDefinition.model_validate({"name": "loss", "regex": CATASTROPHIC[0]}, context=STORED)
    assert definition.regex == CATASTROPHIC[0]
