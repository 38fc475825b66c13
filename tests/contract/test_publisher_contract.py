"""The ``EventPublisher`` contract, run over each adapter and its bus.

- ``local``: ``BusPublisher`` on the in-process bus; a subscriber keeps what it delivers,
  and a rule's pattern is applied with moto's EventBridge pattern matcher;
- ``eventbridge``: ``EventBridgePublisher`` on moto's EventBridge, one rule per pattern
  with an SQS queue as target.

What a consumer of hyperstep's events relies on: an event published with a detail type
reaches a rule matching source ``hyperstep`` and that detail type, and no rule for another
detail type; it arrives in EventBridge's envelope with the detail as published.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.events.models import EventPattern

from hyperstep.aws import EventBridgePublisher
from hyperstep.local.bus import BusPublisher, InProcessBus
from hyperstep.ports import EventPublisher

COMPLETED = {"source": ["hyperstep"], "detail-type": ["Tuning Job Completed"]}
OTHER = {"source": ["hyperstep"], "detail-type": ["Trial Metric Reported"]}
RULES = {"completed": COMPLETED, "other": OTHER}
ENVELOPE = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
SUMMARY = {
    "job_id": "mnist-3f2a9c1b7d4e",
    "status": "completed",
    "trials": 8,
    "best_value": 0.0125,
    "best_params": {"lr": 0.001, "layers": 3, "act": "relu", "dropout": None},
}


@dataclass
class Bus:
    """A publisher and what each rule of ``RULES`` received once everything was delivered."""

    publisher: EventPublisher
    delivered: Callable[[], dict[str, list[dict[str, Any]]]]
    left_out: frozenset[str] = frozenset()
    """Envelope fields the bus's stand-in does not fill (EventBridge itself does)."""


def local_bus() -> Iterator[Bus]:
    bus, seen = InProcessBus(), []
    bus.subscribe(seen.append)

    def delivered() -> dict[str, list[dict[str, Any]]]:
        bus.drain()
        patterns = {rule: EventPattern.load(json.dumps(pattern)) for rule, pattern in RULES.items()}
        return {rule: [e for e in seen if pattern.matches_event(e)] for rule, pattern in patterns.items()}

    try:
        yield Bus(BusPublisher(bus), delivered)
    finally:
        bus.close()


def eventbridge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bus]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        events, sqs = boto3.client("events"), boto3.client("sqs")
        queues = {}
        for rule, pattern in RULES.items():
            url = sqs.create_queue(QueueName=rule)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
            events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": arn}])
            queues[rule] = url

        def delivered() -> dict[str, list[dict[str, Any]]]:
            return {rule: received(sqs, url) for rule, url in queues.items()}

        # moto leaves "account" out of the events it delivers; EventBridge puts it in every one
        # (EventBridge User Guide, "Event structure reference").
        yield Bus(EventBridgePublisher(events), delivered, left_out=frozenset({"account"}))


def received(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


@pytest.fixture(params=["local", "eventbridge"])
def bus(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bus]:
    yield from local_bus() if request.param == "local" else eventbridge(monkeypatch)


def test_an_event_reaches_the_rule_for_its_source_and_detail_type_only(bus: Bus) -> None:
    bus.publisher.publish("Tuning Job Completed", SUMMARY)
    delivered = bus.delivered()
    assert [e["detail"] for e in delivered["completed"]] == [SUMMARY]
    assert delivered["other"] == []


def test_it_arrives_in_eventbridges_envelope(bus: Bus) -> None:
    bus.publisher.publish("Tuning Job Completed", SUMMARY)
    (event,) = bus.delivered()["completed"]
    assert set(event) == ENVELOPE - bus.left_out
    assert (event["source"], event["detail-type"], event["version"], event["resources"]) == (
        "hyperstep",
        "Tuning Job Completed",
        "0",
        [],
    )
    datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert all(event[key] for key in ("id", "region", "account") if key not in bus.left_out)


def test_each_publish_is_one_event_of_its_own(bus: Bus) -> None:
    bus.publisher.publish("Tuning Job Completed", {**SUMMARY, "job_id": "a"})
    bus.publisher.publish("Tuning Job Completed", {**SUMMARY, "job_id": "b"})
    bus.publisher.publish("Trial Metric Reported", {"job_id": "a", "trial_id": "t0001"})
    delivered = bus.delivered()
    assert sorted(e["detail"]["job_id"] for e in delivered["completed"]) == ["a", "b"]
    assert len({e["id"] for e in delivered["completed"]}) == 2
    assert [e["detail"] for e in delivered["other"]] == [{"job_id": "a", "trial_id": "t0001"}]
