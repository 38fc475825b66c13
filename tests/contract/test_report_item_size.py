"""Metric reports cannot grow a trial's DynamoDB item past 400 KB.

A trial's reports live in its item (``body``: each metric's name twice, in ``metrics`` and
in ``reports``), and every report may name new metrics. A 100 KB "Trial Metric Reported"
event (EventBridge takes 256 KB) of 5,200 short names made a 400 KB item, and a few reports
of long names added up past it: DynamoDB refused the write with a ``ValidationException``
("Item size to update has exceeded the maximum allowed size"; moto refuses it as AWS does),
collect raised, and the event went to the dead-letter queue after its retries, every time.
A trial keeps at most ``MAX_TRIAL_METRICS`` metrics, named in at most ``MAX_METRIC_NAME``
characters; a report past either is dropped with its reason, and the trial still ends.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pydantic import ValidationError

from hyperstep.backends.batch.adapter import BatchBackend
from hyperstep.handlers import handle_collect
from hyperstep.messages import MAX_METRIC_NAME, MAX_TRIAL_METRICS
from hyperstep.models import MetricReport, TrialState, stored_json
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.dynamodb import DynamoDBStore
from hyperstep.stores.dynamodb_items import item_size
from hyperstep.study import Study
from tests.report_keys import signed
from tests.unit.test_order_free_results import BLOCKS, end_event, metric_event
from tests.unit.test_service import FakeOrchestrator

ITEM_LIMIT = 400 * 1024


def running_trial(dynamodb: Any, table: str) -> tuple[TuningService, str]:
    """A Batch job on the moto table with one running trial, t0001."""
    store = DynamoDBStore(table, client=dynamodb)
    spec = parse_spec(
        {
            "name": "mnist",
            "objective": {"metric": "loss", "goal": "minimize"},
            "parameters": [{"name": "lr", "type": "float", "low": 0.0001, "high": 0.1}],
            "budget": {"max_trials": 1},
            "trial": {**BLOCKS["batch"], "metric_definitions": [{"name": "loss", "regex": r"^loss=(\S+)"}]},
        }
    )
    service = TuningService(store, {"batch": BatchBackend(client=None, event_bus="bus")}, FakeOrchestrator())
    job = service.submit(spec, job_id="mnist-3f2a9c1b7d4e")
    (trial,) = Study.from_job(store, job).ask(1)
    store.start_trial(job.id, trial.id, "batch-job-id")
    return service, job.id


def report(service: TuningService, job_id: str, metrics: dict[str, float], step: int = 3) -> dict[str, Any]:
    event = metric_event(job_id, "t0001", 0.5, step, 1000.0 + step)
    event["detail"]["metrics"] = metrics
    with contextlib.suppress(ValidationError):  # malformed: collect drops it before any signature check
        event = signed(service.store, event)
    return handle_collect(service, event)


def names(count: int, length: int, prefix: str = "") -> dict[str, float]:
    return {f"{prefix}{i:05d}".ljust(length, "x"): 0.25 for i in range(count)}


def item_bytes(dynamodb: Any, table: str, job_id: str) -> int:
    """The trial item's size by DynamoDB's rule (UTF-8 bytes of names and strings; numbers
    about one byte a two digits, plus one; binary as its bytes; booleans one)."""
    key = {"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "TRIAL#t0001"}}
    return item_size(dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"])


def completes(service: TuningService, job_id: str) -> None:
    """The trial's final report and its Batch SUCCEEDED event complete it."""
    assert handle_collect(service, signed(service.store, metric_event(job_id, "t0001", 0.42, None, 2000.0)))["recorded"]
    handle_collect(service, end_event("batch", job_id, "t0001"))
    trial = service.store.get_trial(job_id, "t0001")
    assert (trial.state, trial.value) == (TrialState.COMPLETED, 0.42)


def test_one_report_of_5200_metrics_is_dropped_with_its_reason(dynamodb: Any, table: str) -> None:
    service, job_id = running_trial(dynamodb, table)
    answer = report(service, job_id, names(5200, 8))  # a 100 KB event
    assert answer["recorded"] is False
    assert f"at most {MAX_TRIAL_METRICS}" in answer["reason"] and "metrics" in answer["reason"]
    completes(service, job_id)


def test_a_metric_name_longer_than_255_characters_is_dropped_with_its_reason(dynamodb: Any, table: str) -> None:
    service, job_id = running_trial(dynamodb, table)
    answer = report(service, job_id, {"a" * (MAX_METRIC_NAME + 1): 1.0})
    assert answer["recorded"] is False and f"characters: at most {MAX_METRIC_NAME}" in answer["reason"]
    completes(service, job_id)


def test_reports_adding_up_past_the_limit_are_refused_and_the_trial_still_ends(dynamodb: Any, table: str) -> None:
    service, job_id = running_trial(dynamodb, table)
    half = MAX_TRIAL_METRICS // 2
    for batch in range(2):  # exactly the limit, in two reports
        assert report(service, job_id, names(half, MAX_METRIC_NAME, f"r{batch}-"), step=batch + 1)["recorded"]
    for batch in range(2, 6):  # each one more name than it keeps: 3 reports would pass 400 KB
        answer = report(service, job_id, names(half, MAX_METRIC_NAME, f"r{batch}-"), step=batch + 1)
        assert answer["recorded"] is False and f"at most {MAX_TRIAL_METRICS} metrics" in answer["reason"]
    again = report(service, job_id, names(half, MAX_METRIC_NAME, "r1-"), step=9)  # names it keeps: recorded
    assert again["recorded"] is True
    assert len(service.store.get_trial(job_id, "t0001").reports) == MAX_TRIAL_METRICS
    completes(service, job_id)


def test_the_largest_trial_the_limits_allow_fits_one_item(dynamodb: Any, table: str) -> None:
    """Every name at the limit, written and then ended through moto; and the same trial with
    each character four bytes in UTF-8 (moto counts an attribute's old value as well as its new
    one when it replaces it, so it refuses rewriting a body over about 200 KB that AWS
    takes: that one is measured, not written): well under 400 KB, so an end still fits."""
    service, job_id = running_trial(dynamodb, table)
    longest = names(MAX_TRIAL_METRICS, MAX_METRIC_NAME)
    for step in (1, 2):  # a step report, then a later one: one entry a metric each
        assert report(service, job_id, longest, step=step)["recorded"]
    completes(service, job_id)
    ended = service.store.get_trial(job_id, "t0001")
    assert item_bytes(dynamodb, table, job_id) - len(stored_json(ended).encode()) < 200  # the rest is small
    widest = {name.replace("x", "\U0001f600"): MetricReport(value=0.25, step=2, at=1002.0) for name in longest}
    worst = ended.model_copy(update={"reports": {}, "metrics": {}}).with_reports(widest, objective="loss")
    worst = worst.with_reports({"loss": MetricReport(value=0.42, final=True)}, objective="loss")
    assert len(stored_json(worst).encode()) < ITEM_LIMIT * 0.6
