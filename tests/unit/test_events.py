"""EventBridge events (the sample files in events/ and variations) parse into trial terms."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from hyperstep.events import EventBridgeEvent, EventError, parse_event
from hyperstep.messages import TrialMetric, TrialResult

EVENTS = Path(__file__).resolve().parents[2] / "events"
TRIAL_KINDS = ("sagemaker-training-job-state-change-", "batch-job-state-change-", "trial-metric-reported")
JOB, TRIAL = "mnist-3f2a9c1b7d4e", "t0007"

EXPECTED: dict[str, tuple[str, str | None]] = {
    # file -> (kind of result, state or None)
    "sagemaker-training-job-state-change-completed.json": ("result", "completed"),
    "sagemaker-training-job-state-change-failed.json": ("result", "failed"),
    "sagemaker-training-job-state-change-stopped.json": ("result", "stopped"),
    "sagemaker-training-job-state-change-max-runtime-exceeded.json": ("result", "failed"),
    "sagemaker-training-job-state-change-in-progress.json": ("none", None),
    "batch-job-state-change-succeeded.json": ("result", "completed"),
    "batch-job-state-change-failed.json": ("result", "failed"),
    "batch-job-state-change-stopped.json": ("result", "stopped"),
    "batch-job-state-change-running.json": ("none", None),
    "trial-metric-reported.json": ("metric", None),
}


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def trial_event_files() -> list[str]:
    return sorted(p.name for p in EVENTS.glob("*.json") if p.name.startswith(TRIAL_KINDS))


def test_every_trial_event_file_has_an_expectation() -> None:
    assert trial_event_files() == sorted(EXPECTED)


@pytest.mark.parametrize("name", trial_event_files())
def test_sample_event_parses(name: str) -> None:
    kind, state = EXPECTED[name]
    parsed = parse_event(load(name))
    if kind == "none":
        assert parsed is None
    elif kind == "metric":
        assert isinstance(parsed, TrialMetric)
        assert (parsed.job_id, parsed.trial_id) == (JOB, TRIAL)
    else:
        assert isinstance(parsed, TrialResult)
        assert (parsed.job_id, parsed.trial_id, parsed.state) == (JOB, TRIAL, state)


@pytest.mark.parametrize("name", [*trial_event_files(), "scheduled-event.json"])
def test_sample_events_have_the_eventbridge_envelope(name: str) -> None:
    envelope = EventBridgeEvent.model_validate(load(name))
    assert envelope.version == "0" and envelope.account.isdigit() and envelope.time.tzinfo is not None


def test_failed_training_job_carries_its_failure_reason() -> None:
    result = parse_event(load("sagemaker-training-job-state-change-failed.json"))
    assert isinstance(result, TrialResult)
    assert result.error is not None and result.error.startswith("AlgorithmError")


def test_runtime_limit_is_a_failure_not_a_stop() -> None:
    result = parse_event(load("sagemaker-training-job-state-change-max-runtime-exceeded.json"))
    assert isinstance(result, TrialResult)
    assert result.state == "failed" and "MaxRuntimeExceeded" in (result.error or "")


def test_final_metric_data_list_becomes_metrics() -> None:
    event = load("sagemaker-training-job-state-change-completed.json")
    event["detail"]["FinalMetricDataList"] = [
        {"MetricName": "val_loss", "Value": 0.0811, "Timestamp": 1764199280.0},
        {"MetricName": "val_accuracy", "Value": 0.975, "Timestamp": 1764199280.0},
    ]
    result = parse_event(event)
    assert isinstance(result, TrialResult)
    assert result.metrics == {"val_loss": 0.0811, "val_accuracy": 0.975}


def test_failed_batch_job_names_status_reason_and_exit_code() -> None:
    result = parse_event(load("batch-job-state-change-failed.json"))
    assert isinstance(result, TrialResult)
    assert "Essential container in task exited" in (result.error or "")
    assert "exit code 1" in (result.error or "")


def test_metric_event_fields() -> None:
    metric = parse_event(load("trial-metric-reported.json"))
    assert metric == TrialMetric(
        job_id=JOB,
        trial_id=TRIAL,
        metrics={"val_loss": 0.0842, "val_accuracy": 0.9731},
        step=12,
        final=False,
        at=1795734847.913,
        signature="6d3c34d772a8b9e699f7b7c4e610473b29f51b72405c748eed0d5bc05880832e",
    )


def test_sagemaker_ids_come_from_tags_before_the_name() -> None:
    event = load("sagemaker-training-job-state-change-completed.json")
    event["detail"]["Tags"] = {"hyperstep:job-id": "other-job", "hyperstep:trial-id": "t0042"}
    result = parse_event(event)
    assert isinstance(result, TrialResult)
    assert (result.job_id, result.trial_id) == ("other-job", "t0042")


def test_sagemaker_ids_fall_back_to_the_name_without_tags() -> None:
    event = load("sagemaker-training-job-state-change-completed.json")
    del event["detail"]["Tags"]
    result = parse_event(event)
    assert isinstance(result, TrialResult)
    assert (result.job_id, result.trial_id) == (JOB, TRIAL)


def test_tags_in_the_api_list_form_are_read_too() -> None:
    event = load("sagemaker-training-job-state-change-completed.json")
    event["detail"]["Tags"] = [
        {"Key": "hyperstep:job-id", "Value": "listed-job"},
        {"Key": "hyperstep:trial-id", "Value": "t0003"},
    ]
    result = parse_event(event)
    assert isinstance(result, TrialResult) and result.job_id == "listed-job"


def test_batch_ids_fall_back_to_the_container_environment() -> None:
    event = load("batch-job-state-change-succeeded.json")
    event["detail"]["tags"] = {}
    event["detail"]["jobName"] = "not-a-hyperstep-name"
    result = parse_event(event)
    assert isinstance(result, TrialResult)
    assert (result.job_id, result.trial_id) == (JOB, TRIAL)


def test_a_job_hyperstep_did_not_start_is_ignored() -> None:
    event = load("sagemaker-training-job-state-change-completed.json")
    event["detail"]["Tags"] = {}
    event["detail"]["TrainingJobName"] = "kmeans-2026-11-26-23-01-02-123"
    assert parse_event(event) is None


def test_scheduled_event_is_not_a_trial_event() -> None:
    with pytest.raises(EventError, match="not a trial event"):
        parse_event(load("scheduled-event.json"))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("detail-type",), None),
        (("detail", "TrainingJobStatus"), None),
        (("time",), "yesterday"),
    ],
)
def test_malformed_aws_events_raise(path: tuple[str, ...], value: Any) -> None:
    event = copy.deepcopy(load("sagemaker-training-job-state-change-completed.json"))
    target = event
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    with pytest.raises(EventError, match="malformed event"):
        parse_event(event)


@pytest.mark.parametrize(
    "detail_change",
    [
        {"metrics": {}},
        {"metrics": {"loss": "NaN"}},
        {"step": -1},
        {"unexpected": 1},
    ],
)
def test_bad_metric_reports_raise(detail_change: dict[str, Any]) -> None:
    event = load("trial-metric-reported.json")
    event["detail"].update(detail_change)
    with pytest.raises(EventError):
        parse_event(event)


def test_unknown_aws_fields_are_tolerated() -> None:
    event = load("batch-job-state-change-succeeded.json")
    event["detail"]["someFieldAwsAddsLater"] = {"x": 1}
    event["brandNewEnvelopeField"] = True
    assert isinstance(parse_event(event), TrialResult)
