"""One trial's step reports through the service path (``TuningService.report_metrics``,
step after step), SQLite store in a temp file: CPU seconds for the whole run and per
report over its last 500 steps (half of them for shorter curves), with early stopping off,
with ASHA on and (``--median``) with median stopping.

    nice -n 19 .venv/bin/python -m benchmarks.curve_reports 100 1000 10000

``--dynamodb``: the DynamoDB adapter under moto instead (too slow there to report every
step): a trial whose curve of N steps is put as chunk items directly, then one report of
the next step through the store asking for no whole curve (early stopping off), and one
of the step after through the service with ASHA on (a step that passes no rung); prints
the calls each report made, the bytes they read and the chunk item written.

``--peers P``: median stopping with ``P`` other trials, each with a curve of N steps
(reported through the store), and the judged trial's first N - 500 steps likewise; then
its last 500 reports through the service, timed (CPU a report). With ``--dynamodb``: the
same job under moto with 100 steps fewer, then one report through the service; its calls
and bytes read.

Every report carries its time (``at``, the step here), as ``hyperstep.report``'s do: a
DynamoDB chunk a report writes keeps its points' times beside them (``items.ATS``).

Record: benchmarks/results/curve_reports.md."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hyperstep.backends.base import TrialBackend
from hyperstep.messages import LaunchRequest, TrialResult
from hyperstep.models import Job, MetricReport, Trial
from hyperstep.ports import Orchestrator
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
from tests.conftest import spec_document
from tests.contract.test_dynamodb_curve_reads import Counting

ASHA = {"name": "asha", "min_resource": 1, "max_resource": 10_000, "reduction_factor": 3, "curve_model": False}
MEDIAN = {**ASHA, "name": "median"}
TAIL = 500
SPAN = "curve_span"
"""``dynamodb_items.SPAN``, named here so that the script also runs on a library before it."""


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

    def describe_execution(self, execution_id: str) -> None:
        return None


def spec(early_stopping: dict | None, trials: int = 1) -> dict:
    """The tests' tiny spec with one parameter and ``trials`` trials, all at once."""
    document = spec_document(
        name="curve-reports",
        parameters=[{"name": "x", "type": "float", "low": -1.0, "high": 1.0}],
        budget={"max_trials": trials, "max_parallel": trials},
    )
    return document if early_stopping is None else {**document, "early_stopping": early_stopping}


def run(steps: int, early_stopping: dict | None, folder: Path) -> tuple[float, float]:
    """CPU seconds of all ``steps`` reports, and per report over the last ``TAIL`` (half
    the reports when fewer)."""
    store = SQLiteStore(folder / f"{steps}-{None if early_stopping is None else early_stopping['name']}.db")
    service, job, trial = started(store, early_stopping)
    tail_length = min(TAIL, steps // 2)
    start = time.process_time()
    for step in range(1, steps + 1):
        if step == steps - tail_length + 1:
            tail = time.process_time()
        assert service.report_metrics(job.id, trial.id, {"loss": 1.0 / step}, step=step, at=float(step))
    end = time.process_time()
    assert len(service.store.get_trial(job.id, trial.id).curve) == steps
    return end - start, (end - tail) / tail_length


def started(store: Any, early_stopping: dict | None) -> tuple[TuningService, Job, Trial]:
    """A service over ``store`` with one job of one trial, launched."""
    service, job, (trial,) = launched(store, early_stopping, 1)
    return service, job, trial


def launched(store: Any, early_stopping: dict | None, trials: int) -> tuple[TuningService, Job, list[Trial]]:
    """A service over ``store`` with one job of ``trials`` trials, launched."""
    service = TuningService(store, {"local": Idle()}, NoExecutions())
    job = service.submit(parse_spec(spec(early_stopping, trials)), job_id="job")
    asked = Study.from_job(service.store, job).ask(trials)
    for trial in asked:
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    return service, job, asked


def with_peers(store: Any, steps: int, peers: int, timed: int) -> tuple[TuningService, Job, Trial]:
    """A median-stopping job of ``peers`` + 1 trials: each peer's curve of ``steps`` steps
    and the judged trial's first ``steps - timed`` put through the store (no decision);
    the judged trial's values are the best, so no report stops it."""
    service, job, (judged, *others) = launched(store, MEDIAN, peers + 1)
    for trial, scale, last in [*((t, 2.0, steps) for t in others), (judged, 1.0, steps - timed)]:
        for step in range(1, last + 1):
            report = {"loss": MetricReport(value=scale / step, step=step, at=float(step))}
            store.report_metrics(job.id, trial.id, report, "loss", whole_curve=False)
    return service, job, judged


def run_peers(steps: int, peers: int, folder: Path) -> float:
    """CPU seconds a report of the judged trial's last ``TAIL`` (half when fewer) steps."""
    timed = min(TAIL, steps // 2)
    service, job, trial = with_peers(SQLiteStore(folder / f"peers-{steps}.db"), steps, peers, timed)
    start = time.process_time()
    for step in range(steps - timed + 1, steps + 1):
        assert service.report_metrics(job.id, trial.id, {"loss": 1.0 / step}, step=step, at=float(step))
    return (time.process_time() - start) / timed


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


def put_curve(raw: Any, table: str, trial: Trial, steps: int, scale: float) -> None:
    """Put the trial's curve of ``steps`` steps (``scale / step``) as chunk items with their
    points' times (``items.ATS``; the step as its ``at``), and its item's chunk marker and set
    and its curve's span (``items.SPAN``) as its reports would have written them."""
    import struct

    from hyperstep.stores import dynamodb_items as items

    for chunk in range(steps // items.CURVE_CHUNK_STEPS + 1):
        points = {s: scale / s for s in range(1, steps + 1) if s // items.CURVE_CHUNK_STEPS == chunk}
        if points:
            timed = {s: float(s) for s in points}
            raw.put_item(TableName=table, Item=items.curve_item(trial.job_id, trial.id, chunk, points, 0, timed))
            span = {"B": struct.pack("<ddq", scale / steps, scale, steps)}
            added = {":chunk": {"NS": [str(chunk)]}, ":true": {"BOOL": True}, ":span": span}
            raw.update_item(
                TableName=table,
                Key=items.key(trial.job_id, items.trial_sk(trial.id)),
                UpdateExpression=f"SET {items.CHUNKED} = :true, {SPAN} = :span ADD {items.CHUNKS} :chunk",
                ExpressionAttributeValues=added,
            )


@contextmanager
def moto_dynamodb() -> Iterator[Any]:
    """A DynamoDB client of moto's in-memory AWS (no credentials, no network)."""
    import boto3
    from moto import mock_aws

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


def dynamodb(counts: list[int]) -> None:
    from hyperstep.stores import dynamodb_items as items
    from hyperstep.stores.dynamodb import DynamoDBStore, create_table

    with moto_dynamodb() as raw:
        for steps in counts:
            table = f"curves-{steps}"
            create_table(raw, table)
            client = Metered(raw)
            service, job, trial = started(DynamoDBStore(table, client=client), ASHA)
            put_curve(raw, table, trial, steps, 1.0)
            for name in ("off (store, whole_curve=False)", "asha (service)"):
                steps += 1
                client.calls.clear()
                client.read = 0
                if name.startswith("off"):
                    report = {"loss": MetricReport(value=0.5, step=steps, at=float(steps))}
                    service.store.report_metrics(job.id, trial.id, report, "loss", whole_curve=False)
                else:
                    service.report_metrics(job.id, trial.id, {"loss": 0.5}, step=steps, at=float(steps))
                sk = items.curve_sk(trial.id, steps // items.CURVE_CHUNK_STEPS)
                written = raw.get_item(TableName=table, Key=items.key(job.id, sk))["Item"]
                print(f"curve of {steps - 1:6} steps, early stopping {name}: {client.calls}, read {client.read} B,")
                print(f"    the chunk item written: {size(written)} B")


def dynamodb_peers(counts: list[int], peers: int) -> None:
    """One median report of a job of ``peers`` + 1 trials under moto, the curves put as
    chunk items (``put_curve``): the calls it makes and the bytes it reads."""
    from hyperstep.stores.dynamodb import DynamoDBStore, create_table

    with moto_dynamodb() as raw:
        for steps in counts:
            table = f"peers-{steps}"
            create_table(raw, table)
            client = Metered(raw)
            service, job, (judged, *others) = launched(DynamoDBStore(table, client=client), MEDIAN, peers + 1)
            for trial, scale, last in [*((t, 2.0, steps) for t in others), (judged, 1.0, steps - 1)]:
                put_curve(raw, table, trial, last, scale)
            client.calls.clear()
            client.read = 0
            assert service.report_metrics(job.id, judged.id, {"loss": 1.0 / steps}, step=steps, at=float(steps))
            calls = ", ".join(f"{name} x{count}" for name, count in Counter(client.calls).items())
            print(f"median, {peers} peers of {steps:6} steps, a report: {calls}; read {client.read} B")
            sys.stdout.flush()


def main(argv: list[str]) -> None:
    peers = int(argv[argv.index("--peers") + 1]) if "--peers" in argv else None
    counts = [int(a) for i, a in enumerate(argv) if a.isdigit() and (i == 0 or argv[i - 1] != "--peers")]
    counts = counts or [100, 1000, 10000]
    if peers is not None and "--dynamodb" in argv:
        dynamodb_peers(counts, peers)
        return
    if peers is not None:
        with tempfile.TemporaryDirectory() as folder:
            for steps in counts:
                per = run_peers(steps, peers, Path(folder))
                timing = f"last {min(TAIL, steps // 2)}: {per * 1e3:6.3f} ms/report"
                print(f"early_stopping=median peers={peers} steps={steps:6} {timing}")
                sys.stdout.flush()
        return
    if "--dynamodb" in argv:
        dynamodb([min(n, 9997) for n in counts])  # its reports stay below max_resource (10,000)
        return
    blocks = [("off", None), ("asha", ASHA)] + ([("median", MEDIAN)] if "--median" in argv else [])
    with tempfile.TemporaryDirectory() as folder:
        for name, block in blocks:
            for steps in counts:
                total, per = run(steps, block, Path(folder))
                timing = f"cpu={total:7.2f} s  last {min(TAIL, steps // 2)}: {per * 1e3:6.3f} ms/report"
                print(f"early_stopping={name:6} steps={steps:6} {timing}")
                sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
