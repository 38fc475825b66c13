"""The rule patterns in ``hyperstep.events.RULE_PATTERNS`` let through exactly hyperstep's final events.

Checked with moto's EventBridge: one rule per pattern with an SQS target, the sample
events put on the bus, and what reaches each queue compared with what should.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from hyperstep.events import RULE_PATTERNS

EVENTS = Path(__file__).resolve().parents[2] / "events"

# sample file -> the rule that must deliver it (None: no rule may)
EXPECTED: dict[str, str | None] = {
    "sagemaker-training-job-state-change-completed.json": "sagemaker",
    "sagemaker-training-job-state-change-failed.json": "sagemaker",
    "sagemaker-training-job-state-change-stopped.json": "sagemaker",
    "sagemaker-training-job-state-change-max-runtime-exceeded.json": "sagemaker",
    "sagemaker-training-job-state-change-in-progress.json": None,
    "batch-job-state-change-succeeded.json": "batch",
    "batch-job-state-change-failed.json": "batch",
    "batch-job-state-change-stopped.json": "batch",
    "batch-job-state-change-running.json": None,
    "trial-metric-reported.json": "metrics",
    "scheduled-event.json": None,
}


def foreign(name: str, field: str, value: str) -> dict[str, Any]:
    """A sample event about a job hyperstep did not start."""
    event = json.loads((EVENTS / name).read_text())
    event["detail"][field] = value
    return event


def test_rules_deliver_only_hyperstep_final_events(aws_credentials: None) -> None:
    with mock_aws():
        events, sqs = boto3.client("events"), boto3.client("sqs")
        queues = {}
        for rule, pattern in RULE_PATTERNS.items():
            url = sqs.create_queue(QueueName=f"collect-{rule}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.put_rule(Name=f"hyperstep-{rule}", EventPattern=json.dumps(pattern))
            events.put_targets(Rule=f"hyperstep-{rule}", Targets=[{"Id": "collect", "Arn": arn}])
            queues[rule] = url

        samples = {name: json.loads((EVENTS / name).read_text()) for name in EXPECTED}
        samples["foreign-training-job"] = foreign(
            "sagemaker-training-job-state-change-completed.json", "TrainingJobName", "kmeans-2026-11-26-23-01"
        )
        samples["foreign-batch-job"] = foreign("batch-job-state-change-succeeded.json", "jobName", "nightly-etl")
        for name, event in samples.items():
            entry = {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps({**event["detail"], "sample": name}),
            }
            assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0

        delivered: dict[str, str] = {}
        for rule, url in queues.items():
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            for message in messages:
                delivered[json.loads(message["Body"])["detail"]["sample"]] = rule
        expected = {name: rule for name, rule in EXPECTED.items() if rule is not None}
        assert delivered == expected
