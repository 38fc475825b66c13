"""A local run's handler output: what a Lambda's Powertools Logger and Metrics would print.

``handlers.log`` gets one CloudWatch EMF line per invocation that counted something (also
when the handler raised), and log records at WARNING and above with the invocation's keys.
"""

from __future__ import annotations

import io
import json

import pytest

from hyperstep.handlers import COUNT, NO_UNIT
from hyperstep.local.telemetry import HandlerLog


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_an_invocation_writes_its_metrics_as_one_emf_line() -> None:
    stream = io.StringIO()
    with HandlerLog(stream).invocation("collect") as telemetry:
        telemetry.metrics.add_dimension(name="JobId", value="job-1")
        telemetry.metrics.add_metric(name="TrialsCompleted", unit=COUNT, value=1)
        telemetry.metrics.add_metric(name="BestValue", unit=NO_UNIT, value=0.25)
    (line,) = lines(stream)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "hyperstep" and directive["Dimensions"] == [["JobId", "service"]]
    assert directive["Metrics"] == [{"Name": "TrialsCompleted", "Unit": "Count"}, {"Name": "BestValue", "Unit": "None"}]
    assert (line["JobId"], line["service"], line["TrialsCompleted"], line["BestValue"]) == (
        "job-1",
        "hyperstep",
        [1.0],
        [0.25],
    )


def test_metrics_are_written_when_the_handler_raises_and_never_shared_between_invocations() -> None:
    stream = io.StringIO()
    log = HandlerLog(stream)
    with pytest.raises(RuntimeError), log.invocation("suggest") as telemetry:
        telemetry.metrics.add_metric(name="TrialsStarted", unit=COUNT, value=2)
        raise RuntimeError("boom")
    with log.invocation("suggest"):
        pass  # counted nothing: no line
    assert [line["TrialsStarted"] for line in lines(stream)] == [[2.0]]


def test_log_records_below_warning_are_dropped_and_errors_carry_the_invocations_keys() -> None:
    stream = io.StringIO()
    with HandlerLog(stream).invocation("collect") as telemetry:
        telemetry.log.append_keys(job_id="job-1")
        telemetry.log.info("collected", extra={"recorded": True})
        telemetry.log.error("dropped event", extra={"reason": "bad detail"})
    (record,) = lines(stream)
    assert record["level"] == "ERROR" and record["message"] == "dropped event"
    assert (record["job_id"], record["reason"], record["function_name"]) == ("job-1", "bad detail", "hyperstep-collect")
