"""A metric regex is refused at validate when its value group (the first) matches no number
(``(loss)=([0-9.]+)``), and only then: a group shaped to the script's own printing, a fixed
number of places or digits, reads numbers and passes."""

from __future__ import annotations

import re

import pytest

from hyperstep.metric_regex import reads_no_number
from hyperstep.spec_base import MetricDefinition


@pytest.mark.parametrize(
    ("regex", "printed"),
    [
        (r"loss: (\d\.\d{3})", "loss: 0.250"),  # f"{loss:.3f}": refused before ("matches no number")
        (r"acc=(\d{2}\.\d)", "acc=97.5"),
        (r"loss=(0\.\d{6})", "loss=0.123456"),
        (r"epoch (\d{3})", "epoch 042"),
        (r"loss=(\.\d+)", "loss=.5"),
    ],
)
def test_a_value_group_shaped_to_the_printing_passes(regex: str, printed: str) -> None:
    assert not reads_no_number(regex)
    assert MetricDefinition(name="loss", regex=regex).regex == regex
    match = re.search(regex, printed)
    assert match is not None
    float(match.group(1))  # the group does read a number here


@pytest.mark.parametrize("regex", [r"(loss)=([0-9.]+)", r"loss=(\d+,\d+)", r"(epoch|step) ([0-9.]+)"])
def test_a_value_group_that_reads_a_word_is_still_refused(regex: str) -> None:
    assert reads_no_number(regex)
    with pytest.raises(ValueError, match="matches no number"):
        MetricDefinition(name="loss", regex=regex)
