"""DynamoDB item sizes of a trial's reports, and the reaper's calls per running trial, under moto.

``python -m benchmarks.aws_item_limits`` prints:

- the trial item's size after one metric report of N short names through collect, on the
  code as it is (reports past ``MAX_TRIAL_METRICS`` names are refused: ``recorded`` False);
- the largest trial body the limits allow (``MAX_TRIAL_METRICS`` names of ``MAX_METRIC_NAME``
  characters, one-byte and four-byte), measured as its stored JSON;
- the AWS calls one reaper pass makes per running trial (3 jobs of 100 running trials, each
  trial's platform saying it still runs);
- how long the reaper reads one Batch trial's CloudWatch log whose objective never matched
  (``logs.MAX_LOG_PAGES`` pages of 10,000 events), and in how many calls.

Numbers are moto's and hyperstep's own; no AWS latency is measured here.
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from typing import Any

import boto3
from moto import mock_aws

from hyperstep.backends.logs import final_metrics_in_log
from hyperstep.handlers import handle_collect
from hyperstep.messages import MAX_METRIC_NAME, MAX_TRIAL_METRICS, LaunchRequest, SuggestRequest
from hyperstep.models import MetricReport, Trial, stored_json
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.spec_base import MetricDefinition
from hyperstep.stores.dynamodb import DynamoDBStore
from hyperstep.stores.dynamodb_items import create_table
from tests.conftest import spec_document
from tests.contract.test_report_item_size import running_trial
from tests.report_keys import signed
from tests.unit.test_order_free_results import metric_event
from tests.unit.test_service import FakeBackend, FakeOrchestrator


def _item_bytes(client: Any, job_id: str) -> int:
    from benchmarks.cost_meters import item_size

    key = {"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "TRIAL#t0001"}}
    return item_size(client.get_item(TableName="t", Key=key, ConsistentRead=True)["Item"])


def report_sizes(names: int) -> tuple[bool, int]:
    """(recorded, trial item bytes) after one report of ``names`` eight-character metrics."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_table(client, "t")
    service, job_id = running_trial(client, "t")
    event = metric_event(job_id, "t0001", 0.5, 3, 1003.0)
    event["detail"]["metrics"] = {f"m{i:06d}x": 0.5 for i in range(names)}
    with contextlib.suppress(ValueError):  # malformed: collect drops it unsigned
        event = signed(service.store, event)
    answer = handle_collect(service, event)
    size = _item_bytes(client, job_id)
    client.delete_table(TableName="t")
    return answer["recorded"], size


def largest_body(fill: str) -> int:
    names = {
        f"{i:05d}".ljust(MAX_METRIC_NAME, fill): MetricReport(value=0.25, step=2, at=1.0)
        for i in range(MAX_TRIAL_METRICS)
    }
    trial = Trial(job_id="mnist-3f2a9c1b7d4e", id="t0001", number=1, params={"lr": 0.01}).with_reports(names)
    return len(
        stored_json(trial.with_reports({"loss": MetricReport(value=0.4, final=True)}, objective="loss")).encode()
    )


def reaper_calls(jobs: int = 3, trials: int = 100) -> float:
    calls: collections.Counter[str] = collections.Counter()
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_table(client, "r")
    make_call = client._make_api_call

    def counted(operation: str, params: dict[str, Any]) -> Any:
        calls[operation] += 1
        return make_call(operation, params)

    client._make_api_call = counted  # type: ignore[method-assign]

    class Running(FakeBackend):
        def describe(self, job: Any, trial: Any) -> None:
            calls["Describe"] += 1

    service = TuningService(DynamoDBStore("r", client=client), {"local": FakeBackend()}, FakeOrchestrator())
    spec = parse_spec(spec_document(budget={"max_trials": trials, "max_parallel": trials}))
    for number in range(jobs):
        job = service.create_job(spec, job_id=f"job-{number}")
        for trial_id in service.suggest(SuggestRequest(job_id=job.id)).trial_ids:
            service.launch(LaunchRequest(job_id=job.id, trial_id=trial_id))
    service.backends["local"] = Running()
    service.reap()  # the first pass reads the jobs' trials once
    calls.clear()
    service.reap()
    print(f"  reaper pass, {jobs} jobs x {trials} running trials: {dict(calls)}")
    return sum(calls.values()) / (jobs * trials)


def log_read_seconds(pages: int = 25) -> tuple[float, int]:
    """(seconds, GetLogEvents calls) for the reaper to read one Batch trial's log whose
    objective never matched: ``pages`` x 10,000 events of about 90 bytes (moto's page is
    10,000 events), read backwards up to ``logs.MAX_LOG_PAGES`` pages."""
    logs = boto3.client("logs", region_name="us-east-1")
    group, stream = "/aws/batch/job", "trial"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    start = int(time.time() * 1000) - pages * 10_000 - 60_000  # recent: moto drops events over 14 days old
    for page in range(pages):
        events = [
            {"timestamp": start + page * 10_000 + i, "message": f"step {i} train_loss=0.{i:04d} " + "x" * 60}
            for i in range(10_000)
        ]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    calls = collections.Counter[str]()
    make_call = logs._make_api_call

    def counted(operation: str, params: dict[str, Any]) -> Any:
        calls[operation] += 1
        return make_call(operation, params)

    logs._make_api_call = counted  # type: ignore[method-assign]
    definitions = [MetricDefinition(name="val_loss", regex=r"val_loss=([0-9.eE+-]+)")]
    began = time.perf_counter()
    final_metrics_in_log(logs, group, stream, definitions, ["val_loss"])
    return time.perf_counter() - began, calls["GetLogEvents"]


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    with mock_aws():
        for names in (100, 101, 5000):
            recorded, size = report_sizes(names)
            print(f"one report of {names} names: recorded {recorded}, trial item {size:,} bytes")
        print(
            f"largest body the limits allow: {largest_body('x'):,} bytes (1-byte names), "
            f"{largest_body(chr(0x1F600)):,} bytes (4-byte names); an item holds 409,600"
        )
        print(f"reaper: {reaper_calls():.2f} calls a running trial a pass")
        seconds, calls = log_read_seconds()
        print(f"reaper: one Batch trial's log, its objective never printed: {calls} GetLogEvents, {seconds:.2f} s")


if __name__ == "__main__":
    main()
