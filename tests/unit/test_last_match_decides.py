"""A metric's final value is its regex's last match, on every backend, even when that match is
no number.

SageMaker fills ``FinalMetricDataList`` with a regex's last match in the log; an AMT user who
prints ``loss=0.3`` and later ``loss=abc`` (a regex that takes any text) has no final loss,
not the earlier 0.3. ``read_metrics`` kept the earlier number (the text counted only for a
metric with no number at all), so a local trial completed at 0.3, and a Batch or SageMaker
trial the reaper recovered from its log did too. Now the last match decides: the trial fails
saying what matched, as when nothing but text matched. A NaN or an infinity printed where a regex
of numbers reads its value (``loss=nan``) decides too: the run diverged, and its trial fails as not
finite rather than completing at the number it printed before (as Optuna fails a NaN objective).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hyperstep.backends.logs import final_metrics_in_log, read_metrics
from hyperstep.errors import UnreadMetricError
from hyperstep.spec_base import MetricDefinition
from tests.integration.test_batch_backend import PagedLog
from tests.unit.test_local_backend import one_trial

ANY_TEXT = [MetricDefinition(name="loss", regex=r"loss=(\S+)")]
NUMBERS = [MetricDefinition(name="loss", regex=r"loss=([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)")]
REASON = "objective metric 'loss': its regex matched 'abc', which is not a number"


def test_a_later_match_that_is_no_number_replaces_an_earlier_number() -> None:
    assert read_metrics(["loss=0.3", "loss=abc"], ANY_TEXT) == ({}, {"loss": "abc"})
    assert read_metrics(["loss=0.3 loss=abc"], ANY_TEXT) == ({}, {"loss": "abc"})  # within a line too
    assert read_metrics(["loss=abc", "loss=0.3"], ANY_TEXT) == ({"loss": 0.3}, {})
    assert read_metrics(["loss=0.3", "loss=nan"], NUMBERS) == ({}, {"loss": "nan"})  # where it reads a value
    assert math.isnan(read_metrics(["loss=abc", "loss=nan"], ANY_TEXT)[0]["loss"])  # the regex took nan: a value


@pytest.mark.parametrize(
    "pages",
    [
        [["loss=0.3"], ["loss=abc"]],  # oldest first: the later page's text decides
        [["loss=0.3", "loss=abc"]],
        [["loss=0.3"], ["loss=abc"], []],
    ],
)
def test_a_batch_or_sagemaker_log_whose_last_match_is_no_number_fails_the_objective(pages: list[list[str]]) -> None:
    with pytest.raises(UnreadMetricError) as unread:
        final_metrics_in_log(PagedLog(pages), "g", "s", ANY_TEXT, ["loss"])
    assert str(unread.value) == REASON


def test_an_earlier_number_stands_before_a_later_one_and_a_later_nan_decides() -> None:
    """The NaN was no match: a run that diverged after ``loss=0.3`` completed at 0.3."""
    assert final_metrics_in_log(PagedLog([["loss=abc"], ["loss=0.3"]]), "g", "s", ANY_TEXT, ["loss"]) == {"loss": 0.3}
    numbers = PagedLog([["loss=0.3"], ["loss=nan"], []])  # the nan page is read first: the number is older
    assert math.isnan(final_metrics_in_log(numbers, "g", "s", NUMBERS, ["loss"])["loss"])
    assert len(numbers.calls) == 2  # the empty newest page, the nan page: the nan decided, 0.3 is not read
    assert final_metrics_in_log(PagedLog([["loss=nan"], ["loss=0.3"]]), "g", "s", NUMBERS) == {"loss": 0.3}


def test_a_local_trial_whose_last_match_is_no_number_fails_saying_so(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('loss=0.3')\nprint('loss=abc')\n")
    regex = [{"name": "loss", "regex": r"loss=(\S+)"}]
    job, trial, backend, results, done = one_trial(tmp_path, ["python", "train.py"], metric_definitions=regex)
    backend.launch(job, trial)
    assert done.wait(20), "the trial's end was never published"
    (result,) = results
    assert (result.state, result.error) == ("failed", REASON)


def test_the_reason_shows_a_long_text_cut_so_the_trials_error_stays_small() -> None:
    """A regex of any text took a 1 MiB line whole (a local log's longest; a CloudWatch event
    holds 256 KB) and the reason, the trial's error, held it all: past a trial item's 400 KB."""
    lines = ["loss=" + "z" * (1 << 20)]
    with pytest.raises(UnreadMetricError) as unread:
        final_metrics_in_log(PagedLog([lines]), "g", "s", ANY_TEXT, ["loss"])
    assert len(str(unread.value)) < 300 and "1,048,576 characters" in str(unread.value)


def test_a_later_pages_number_is_kept_while_older_pages_are_read_for_another_metric() -> None:
    """Pages come newest first: an older page read for a metric still missing (acc) must
    not replace the loss a later page decided."""
    both = [*NUMBERS, MetricDefinition(name="acc", regex=r"acc=([0-9.]+)")]
    log = PagedLog([["loss=0.1 acc=0.9"], ["loss=0.5"]])
    assert final_metrics_in_log(log, "g", "s", both, ["loss"]) == {"loss": 0.5, "acc": 0.9}


def test_the_newest_unmatched_non_finite_value_stands_across_pages() -> None:
    log = PagedLog([["loss=nan"], ["loss=inf"], []])  # inf is printed last
    assert final_metrics_in_log(log, "g", "s", NUMBERS) == {"loss": math.inf}


def test_reading_stops_at_the_page_whose_text_decided_the_objective() -> None:
    """A last match that is no number decides as a number does: older pages are not read
    (each is a GetLogEvents call, and a reaper pass has a time limit)."""
    log = PagedLog([["loss=0.3"] * 3, ["loss=abc"]])
    with pytest.raises(UnreadMetricError):
        final_metrics_in_log(log, "g", "s", ANY_TEXT, ["loss"])
    assert len(log.calls) == 1


def test_the_newest_unmatched_non_finite_value_stands_in_one_page_as_across_pages() -> None:
    """Local (one read of the whole log) and Batch/SageMaker (one page) agree with the pages:
    the later unmatched inf, not the first nan, is the value."""
    assert read_metrics(["loss=nan", "loss=inf"], NUMBERS) == ({}, {"loss": "inf"})
    assert final_metrics_in_log(PagedLog([["loss=nan", "loss=inf"]]), "g", "s", NUMBERS) == {"loss": math.inf}
