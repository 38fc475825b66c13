"""One trial's step reports through the service path (``TuningService.report_metrics``,
step after step), SQLite store in a temp file: CPU seconds for the whole run and per
report over its last 500 steps, with early stopping off and with ASHA on.

    nice -n 19 .venv/bin/python -m benchmarks.curve_reports 1000 5000 10000

``--dynamodb``: the DynamoDB adapter under moto instead (too slow there to report every
step): a trial whose curve of N steps is put as chunk items directly, then one report of
the next step; prints the calls the report made, the bytes they read and the chunk item
written.

Record: benchmarks/results/curve_reports.md."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hyperstep.backends.base import TrialBackend
from hyperstep.messages import LaunchRequest, TrialResult
from hyperstep.models import Job, MetricReport, Trial, trial_id
from hyperstep.ports import Orchestrator
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
from tests.conftest import spec_document
from tests.contract.test_dynamodb_curve_reads import Counting

ASHA = {"name": "asha", "min_resource": 1, "max_resource": 10_000, "reduction_factor": 3, "curve_model": False}
TAIL = 500


class Idle(TrialBackend):
    """A backend that launches nothing (the reports are what is timed)."""

    def launch(self, job: Job, trial: Trial) -> str:
        return f"ref-{trial.id}"

    def stop(self, job: Job, trial: Trial) -> None:
        raise AssertionError("a lone trial is never stopped")

    def describe(self, job: Job, trial: Trial) -> TrialResult | None:
        return None


class NoExecutions(Orchestrator):
    def start_execution(self, job_id: str, name: str) -> str:
        return f"exec-{name}"

    def send_task_success(self, token: str, output: dict) -> bool:
        return True


def spec(early_stopping: dict | None) -> dict:
    """The tests' tiny spec with one parameter and one trial at a time."""
    document = spec_document(
        name="curve-reports",
        parameters=[{"name": "x", "type": "float", "low": -1.0, "high": 1.0}],
        budget={"max_trials": 1, "max_parallel": 1},
    )
    return document if early_stopping is None else {**document, "early_stopping": early_stopping}


def run(steps: int, early_stopping: dict | None, folder: Path) -> tuple[float, float]:
    """CPU seconds of all ``steps`` reports, and per report over the last ``TAIL``."""
    service = TuningService(
        SQLiteStore(folder / f"{steps}-{bool(early_stopping)}.db"), {"local": Idle()}, NoExecutions()
    )
    job = service.submit(parse_spec(spec(early_stopping)), job_id="job")
    (trial,) = Study.from_job(service.store, job).ask(1)
    service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    start = time.process_time()
    for step in range(1, steps + 1):
        if step == steps - TAIL + 1:
            tail = time.process_time()
        assert service.report_metrics(job.id, trial.id, {"loss": 1.0 / step}, step=step)
    end = time.process_time()
    assert len(service.store.get_trial(job.id, trial.id).curve) == steps
    return end - start, (end - tail) / TAIL


class Metered(Counting):
    """``Counting`` (the operations called) that also adds up the bytes of the items read."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.read = 0

    def __getattr__(self, name: str) -> Any:
        attribute = super().__getattr__(name)
        if not callable(attribute) or name == "meta":
            return attribute

        def call(**kwargs: Any) -> Any:
            reply = attribute(**kwargs)
            self.read += sum(map(size, reply.get("Items", []) + ([reply["Item"]] if "Item" in reply else [])))
            return reply

        return call


def size(item: dict[str, Any]) -> int:
    """About what DynamoDB counts of an item: names and values (binary values as bytes)."""
    return sum(len(k) + (len(v["B"]) if "B" in v else len(json.dumps(v))) for k, v in item.items())


def dynamodb(counts: list[int]) -> None:
    import boto3
    from moto import mock_aws

    from hyperstep.stores import dynamodb_items as items
    from hyperstep.stores.dynamodb import DynamoDBStore, create_table

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    with mock_aws():
        raw = boto3.client("dynamodb", region_name="us-east-1")
        for steps in counts:
            table = f"curves-{steps}"
            create_table(raw, table)
            client = Metered(raw)
            store = DynamoDBStore(table, client=client)
            job = Job(id="job", spec=parse_spec(spec(None)))
            store.create_job(job)
            store.put_trials([Trial(job_id=job.id, id=trial_id(1), number=1, params={"x": 0.0})])
            store.start_trial(job.id, trial_id(1), "ref")
            store.report_metrics(job.id, trial_id(1), {"loss": MetricReport(value=1.0, step=1)}, "loss")
            for chunk in range(steps // items.CURVE_CHUNK_STEPS + 1):
                points = {s: 1.0 / s for s in range(1, steps + 1) if s // items.CURVE_CHUNK_STEPS == chunk}
                if points:
                    raw.put_item(TableName=table, Item=items.curve_item(job.id, trial_id(1), chunk, points, 0))
                    added = {":chunk": {"NS": [str(chunk)]}}  # as the report that wrote it would have (chunk_numbers)
                    key = items.key(job.id, items.trial_sk(trial_id(1)))
                    raw.update_item(
                        TableName=table, Key=key, UpdateExpression="ADD chunks :chunk", ExpressionAttributeValues=added
                    )
            for whole in (False, True):
                client.calls.clear()
                client.read = 0
                report = {"loss": MetricReport(value=0.5, step=steps + 1)}
                store.report_metrics(job.id, trial_id(1), report, "loss", whole_curve=whole)
                sk = items.curve_sk(trial_id(1), (steps + 1) // items.CURVE_CHUNK_STEPS)
                written = raw.get_item(TableName=table, Key=items.key(job.id, sk))["Item"]
                print(f"curve of {steps:6} steps, whole_curve={whole!s:5}: {client.calls}, read {client.read} B,")
                print(f"    the chunk item written: {size(written)} B")
                steps += 1


def main(argv: list[str]) -> None:
    counts = [int(a) for a in argv if a != "--dynamodb"] or [1000, 5000, 10000]
    if "--dynamodb" in argv:
        dynamodb([min(n, 9999) for n in counts])
        return
    with tempfile.TemporaryDirectory() as folder:
        for name, block in (("off", None), ("asha", ASHA)):
            for steps in counts:
                total, per = run(steps, block, Path(folder))
                timing = f"cpu={total:7.2f} s  last {TAIL}: {per * 1e3:6.3f} ms/report"
                print(f"early_stopping={name:4} steps={steps:6} {timing}")
                sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
