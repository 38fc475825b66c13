"""hyperstep.report prints regex-matchable lines locally and publishes events on AWS."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from typing import Any

import pytest

from hyperstep.events import parse_event
from hyperstep.messages import MAX_METRIC_NAME, MAX_STEP, MAX_TRIAL_METRICS, TrialMetric
from hyperstep.models import MetricReport, Trial
from hyperstep.report_signing import ReportRefused
from hyperstep.reporting import ReportError, report


class FakeEvents:
    """Records PutEvents calls; fails the first ``failures`` of them per entry."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.failures = failures

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if len(self.calls) <= self.failures:
            return {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}],
            }
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "11710aed-b79e-4468-a20b-bb3c0c3b4860"}]}


CLOUD_ENV = {"HYPERSTEP_EVENT_BUS": "hyperstep-bus", "HYPERSTEP_JOB_ID": "mnist-abc", "HYPERSTEP_TRIAL_ID": "t0003"}


def test_local_run_prints_lines_a_metric_regex_matches() -> None:
    out = io.StringIO()
    report({"loss": 0.0123, "acc": 1e-05, "big": 1.5e20}, step=2, environ={}, stream=out)
    lines = out.getvalue().splitlines()
    assert lines == ["loss=0.0123", "acc=0.00001", "big=150000000000000000000"]
    # The plain regex of the README and SageMaker's examples reads the exact value back
    # (an exponent would leave it "1" of "1e-05"); so does one that allows exponents.
    for regex in (r"acc=([0-9.]+)", r"acc=([0-9.eE+-]+)"):
        assert float(re.search(regex, out.getvalue()).group(1)) == 1e-05  # type: ignore[union-attr]


def test_numpy_scalars_are_numbers_too() -> None:
    np = pytest.importorskip("numpy")
    out = io.StringIO()
    report({"acc": np.float32(0.5), "epochs": np.int64(3)}, environ={}, stream=out)
    assert out.getvalue().splitlines() == ["acc=0.5", "epochs=3.0"]
    with pytest.raises(ReportError):
        report({"ok": np.bool_(True)}, environ={}, stream=io.StringIO())


def test_a_report_past_the_metric_limits_is_refused_in_the_script() -> None:
    """What collect would drop (``TrialMetric``'s limits) fails the script's own call, saying why."""
    with pytest.raises(ReportError, match="at most 100 metrics, got 101"):
        report({f"m{i}": 1.0 for i in range(101)}, environ={}, stream=io.StringIO())
    with pytest.raises(ReportError, match="256 characters: at most 255"):
        report({"m" * 256: 1.0}, environ={}, stream=io.StringIO())
    out = io.StringIO()
    report({f"{i:03d}".ljust(255, "m"): 1.0 for i in range(100)}, environ={}, stream=out)
    assert len(out.getvalue().splitlines()) == 100


def test_local_run_never_imports_boto3() -> None:
    code = (
        "import io, sys; from hyperstep.reporting import report; "
        "report({'loss': 1.0}, environ={}, stream=io.StringIO()); print('boto3' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def published(entry: dict[str, Any]) -> TrialMetric | None:
    """What collect parses from one ``PutEvents`` entry, wrapped as EventBridge delivers it."""
    envelope = {
        "version": "0",
        "id": "11710aed-b79e-4468-a20b-bb3c0c3b4860",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "123456789012",
        "time": "2026-11-26T23:14:08Z",
        "region": "us-east-1",
        "resources": [],
        "detail": json.loads(entry["Detail"]),
    }
    parsed = parse_event(envelope)
    assert parsed is None or isinstance(parsed, TrialMetric)
    return parsed


def test_in_a_container_it_publishes_an_event_collect_can_parse() -> None:
    client = FakeEvents()
    before = time.time()
    report({"val_loss": 0.25}, step=4, final=True, environ=CLOUD_ENV, client=client, stream=io.StringIO())
    (entry,) = client.calls[0]
    assert entry["Source"] == "hyperstep.trial"
    assert entry["DetailType"] == "Trial Metric Reported"
    assert entry["EventBusName"] == "hyperstep-bus"
    parsed = published(entry)
    assert parsed is not None and parsed.at is not None and before <= parsed.at <= time.time()
    assert parsed == TrialMetric(
        job_id="mnist-abc", trial_id="t0003", metrics={"val_loss": 0.25}, step=4, final=True, at=parsed.at
    )


def entry_size(entry: dict[str, Any]) -> int:
    """A PutEvents entry's size as EventBridge counts it ("Calculating PutEvents event entry
    size", User Guide): the UTF-8 bytes of ``Source``, ``DetailType`` and ``Detail`` (and 14
    for ``Time``, and each of ``Resources``, which a report sets neither of)."""
    assert "Time" not in entry and "Resources" not in entry
    return sum(len(entry[field].encode()) for field in ("Source", "DetailType", "Detail"))


@pytest.mark.parametrize("character", ["a", "\u00e9", "\u4e2d", "\U0001f600"])
def test_the_largest_report_fits_one_putevents_entry(character: str) -> None:
    """``MAX_TRIAL_METRICS`` names of ``MAX_METRIC_NAME`` characters (1 to 4 bytes in UTF-8),
    signed, with the largest step: one entry a call (PutEvents takes 1 to 10), under 256 KB.
    Before, ``Detail`` escaped a character past U+FFFF as 12 bytes: about 300 KB, refused."""
    client = FakeEvents()
    names = [(f"{n:03d}" + character * MAX_METRIC_NAME)[:MAX_METRIC_NAME] for n in range(MAX_TRIAL_METRICS)]
    metrics = {name: -1.2345678901234567e-300 for name in names}
    environ = {**CLOUD_ENV, "HYPERSTEP_REPORT_KEY": "k" * 64}
    report(metrics, step=MAX_STEP, final=True, environ=environ, client=client, stream=io.StringIO())
    ((entry,),) = client.calls
    assert entry_size(entry) < 256 * 1024
    parsed = published(entry)
    assert parsed is not None and set(parsed.metrics) == set(names)


@pytest.mark.parametrize(
    ("step", "final", "expected"),
    [(None, None, True), (3, None, False), (3, True, True), (None, False, False)],
)
def test_a_report_without_a_step_is_final_unless_told_otherwise(
    step: int | None, final: bool | None, expected: bool
) -> None:
    client = FakeEvents()
    report({"loss": 0.5}, step=step, final=final, environ=CLOUD_ENV, client=client, stream=io.StringIO())
    parsed = published(client.calls[0][0])
    assert parsed is not None and (parsed.step, parsed.final) == (step, expected)


def test_each_report_carries_the_time_it_was_made() -> None:
    client = FakeEvents()
    for loss in (0.5, 0.4):
        report({"loss": loss}, environ=CLOUD_ENV, client=client, stream=io.StringIO())
    first, second = (published(call[0]) for call in client.calls)
    assert first is not None and second is not None
    assert first.at is not None and second.at is not None and first.at <= second.at


def test_an_event_without_final_is_final_when_it_has_no_step() -> None:
    """Events from a ``report`` that sent no ``final`` field follow the same rule."""
    base = {"job_id": "j", "trial_id": "t0001", "metrics": {"loss": 0.5}}
    assert TrialMetric.model_validate(base).final
    assert not TrialMetric.model_validate({**base, "step": 2}).final


def test_failed_entries_are_retried_then_reported() -> None:
    flaky = FakeEvents(failures=2)
    report({"loss": 1.0}, environ=CLOUD_ENV, client=flaky, stream=io.StringIO())
    assert len(flaky.calls) == 3
    with pytest.raises(ReportError, match="ThrottlingException"):
        report({"loss": 1.0}, environ=CLOUD_ENV, client=FakeEvents(failures=99), stream=io.StringIO())


def test_bus_without_ids_is_an_error() -> None:
    with pytest.raises(ReportError, match="HYPERSTEP_JOB_ID"):
        report({"loss": 1.0}, environ={"HYPERSTEP_EVENT_BUS": "b"}, client=FakeEvents(), stream=io.StringIO())


@pytest.mark.parametrize(
    ("metrics", "step"),
    [
        ({}, None),
        ({"loss": "0.1"}, None),
        ({"loss": True}, None),  # an int to Python, no metric (as Study.tell refuses it)
        ({"a=b": 1.0}, None),
        ({"loss": 1}, -1),
        ({"loss": 1}, 2**31),  # past the largest step collect takes (MAX_STEP): its event would be dropped
        ({"loss": 1}, True),
        ({"loss": 1}, 2.0),
    ],
)
def test_bad_reports_raise_before_anything_is_sent(metrics: dict[str, Any], step: int | None) -> None:
    client = FakeEvents()
    with pytest.raises(ReportError):
        report(metrics, step=step, environ=CLOUD_ENV, client=client, stream=io.StringIO())
    assert client.calls == []


def test_a_step_past_the_largest_collect_takes_is_refused_and_numpy_steps_are_sent_as_integers() -> None:
    """A step collect would refuse (``TrialMetric``: at most ``MAX_STEP``) fails the call in
    the script, which would otherwise never learn its report was dropped; a numpy integer (an
    epoch of ``np.arange``) is a step like Python's, as numpy scalars are values."""
    np = pytest.importorskip("numpy")
    with pytest.raises(ReportError, match="step must be an integer from 0 to 2147483647"):
        report({"loss": 1.0}, step=2**31, environ=CLOUD_ENV, client=FakeEvents(), stream=io.StringIO())
    client = FakeEvents()
    report({"loss": 1.0}, step=np.int64(2**31 - 1), environ=CLOUD_ENV, client=client, stream=io.StringIO())
    detail = json.loads(client.calls[0][0]["Detail"])
    assert detail["step"] == 2**31 - 1 and TrialMetric.model_validate(detail).step == 2**31 - 1


def test_a_metric_event_past_the_metric_limit_is_refused_before_any_store_is_read() -> None:
    """``TrialMetric`` itself refuses 101 metrics (a 100 KB event is never processed further)."""
    fields = {"job_id": "j", "trial_id": "t0001"}
    assert len(TrialMetric(**fields, metrics={f"m{i}": 1.0 for i in range(100)}).metrics) == 100
    with pytest.raises(ValueError, match="at most 100"):
        TrialMetric(**fields, metrics={f"m{i}": 1.0 for i in range(101)})


def test_a_trial_already_past_the_limit_still_takes_reports_of_metrics_it_keeps() -> None:
    """A trial stored with more metrics than the limit (before it existed) is refused a new
    metric, but its kept metrics, its objective's final report among them, still update."""
    reports = {f"m{i}": MetricReport(value=1.0, step=1) for i in range(MAX_TRIAL_METRICS + 1)}
    trial = Trial(job_id="j", id="t0001", number=1, params={}, reports=reports)
    updated = trial.with_reports({"m0": MetricReport(value=0.5, step=2)}, objective="loss")
    assert updated.metrics["m0"] == 0.5
    with pytest.raises(ReportRefused, match=f"at most {MAX_TRIAL_METRICS}"):
        trial.with_reports({"new": MetricReport(value=0.5)}, objective="loss")
