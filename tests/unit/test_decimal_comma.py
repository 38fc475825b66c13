"""A value printed with a decimal comma (a script run under a comma locale: ``loss=0,49``) is
no value, not the 0 the README's regex stops at: its line gives the metric nothing, and a
trial left without its objective fails saying what was printed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hyperstep.backends.logs import read_metrics, step_matches
from hyperstep.cli import main
from hyperstep.metric_regex import SHORT_NUMBER
from hyperstep.spec_base import MetricDefinition
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document

LOSS = [MetricDefinition(name="loss", regex=f"loss={SHORT_NUMBER}")]  # the README's


def test_a_decimal_comma_gives_no_value_and_says_what_was_printed() -> None:
    """Before: ``{"loss": 0.0}``, silently."""
    assert read_metrics(["epoch 1: loss=0,49"], LOSS) == ({}, {"loss": "0,49"})
    assert step_matches(["loss=0,49", "loss=0.25"], LOSS, {}) == [("loss", 1, 0.25)]


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("loss=0.49,acc=0.9", 0.49),  # a comma between fields
        ("loss=0.5,0.7", 0.5),  # a CSV of decimals: the value has its point
        ("loss=3, acc=0,9", 3.0),  # a comma and a space
        ("loss=1e-05,2", 1e-05),
    ],
)
def test_a_comma_after_a_whole_value_is_no_decimal_comma(line: str, value: float) -> None:
    assert read_metrics([line], LOSS)[0] == {"loss": value}


def test_a_trial_whose_objective_was_printed_with_a_decimal_comma_fails_saying_so(workdir: Path) -> None:
    (workdir / "train.py").write_text("print('loss=0,49')\n")
    trial = {**spec_document()["trial"], "metric_definitions": [{"name": "loss", "regex": f"loss={SHORT_NUMBER}"}]}
    (workdir / "spec.yaml").write_text(yaml.safe_dump(spec_document(budget={"max_trials": 1}, trial=trial)))
    store = str(workdir / "s.db")
    assert main(["run", str(workdir / "spec.yaml"), "--store", store, "--out", str(workdir / "runs")]) == 1
    [job] = SQLiteStore(store).list_jobs()
    [trial] = SQLiteStore(store).list_trials(job.id)
    assert trial.error == (
        "objective metric 'loss': its regex matched '0,49', which is not a number"
        " (a decimal comma: print the value with a point)"
    )


@pytest.mark.parametrize(
    ("regex", "lines", "value"),
    [
        (r"^([0-9]+),", ["epoch,loss", "3,0.25"], 3.0),  # a CSV line's first field: the regex names the comma
        (r"correct ([0-9]+),[0-9]+", ["correct 95,100"], 95.0),
    ],
)
def test_a_comma_the_regex_names_after_its_group_is_no_decimal_comma(
    regex: str, lines: list[str], value: float
) -> None:
    """The comma parts two fields as the regex says: the value is read (refused as ``3,0`` before)."""
    definitions = [MetricDefinition(name="m", regex=regex)]
    assert read_metrics(lines, definitions) == ({"m": value}, {})
    assert step_matches(lines, definitions, {}) == [("m", 1, value)]
