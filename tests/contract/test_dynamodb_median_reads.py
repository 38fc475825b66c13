"""DynamoDB: a median-stopping step report reads one curve chunk of each other trial (the
one holding its first step at or past the reported step), by Query, and none of its own
(its best so far is kept on its item), never the job's whole curves (issue 9: curves of up
to 10,000 steps, 10 chunks a trial)."""

from __future__ import annotations

from typing import Any

from hyperstep.early_stopping import should_stop
from hyperstep.models import Job, MetricReport
from hyperstep.schedulers.median import MedianStopping
from hyperstep.stores.dynamodb import DynamoDBStore
from hyperstep.stores.dynamodb_items import SPAN, curve_from_item
from tests.contract.conftest import full_spec, trials_of


class Recording:
    """A DynamoDB client that keeps the operation of every call and the curve chunks
    (trial id, chunk number) each reply returned."""

    def __init__(self, client: Any) -> None:
        self._client, self.calls, self.chunks = client, [], []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name == "meta":
            return attribute

        def call(**kwargs: Any) -> Any:
            reply = attribute(**kwargs)
            self.calls.append(name)
            found = reply.get("Items", []) + ([reply["Item"]] if "Item" in reply else [])
            self.chunks += [curve_from_item(i)[:2] for i in found if i["sk"]["S"].startswith("CURVE#")]
            return reply

        return call


def test_a_median_report_reads_one_chunk_of_each_other_trial(dynamodb: Any, table: str) -> None:
    client = Recording(dynamodb)
    store = DynamoDBStore(table, client=client)
    job = Job(id="median", spec=full_spec(), created_at=1.0)
    store.create_job(job)
    store.put_trials(trials_of(job, [1, 2, 3, 4]))
    for number, level in ((1, 0.2), (2, 0.4), (3, 0.6)):
        for step in (1, 1500, 2500):  # chunks 0, 1 and 2
            store.report_metrics(job.id, f"t000{number}", {"loss": MetricReport(value=level, step=step)}, "loss")
    store.report_metrics(job.id, "t0004", {"loss": MetricReport(value=0.5, step=1)}, "loss")
    reported = {"loss": MetricReport(value=0.5, step=1200)}
    judged = store.report_metrics(job.id, "t0004", reported, "loss", whole_curve=False)
    assert judged is not None
    client.calls.clear(), client.chunks.clear()
    assert should_stop(MedianStopping(1, 3000), judged, store, minimize=True)  # 0.5 is worse than 0.4
    assert sorted(client.chunks) == [("t0001", 1), ("t0002", 1), ("t0003", 1)]  # each one's first step past 1,200
    # its own best so far from the span its item keeps (``items.SPAN``), none of its chunks
    assert "scan" not in client.calls


def test_a_trial_item_without_a_span_is_not_given_one_from_a_single_report(dynamodb: Any, table: str) -> None:
    """An item whose chunks were written before it kept ``curve_span`` (or whose span was
    dropped) gets none from a report that reads only the step's chunk: its best is still
    read from the whole curve, never from that one value."""
    store = DynamoDBStore(table)
    job = Job(id="spanless", spec=full_spec(), created_at=1.0)
    store.create_job(job)
    store.put_trials(trials_of(job, [1]))
    for step, value in ((1, 0.2), (2, 0.5)):
        store.report_metrics(job.id, "t0001", {"loss": MetricReport(value=value, step=step)}, "loss")
    key = {"pk": {"S": "JOB#spanless"}, "sk": {"S": "TRIAL#t0001"}}
    dynamodb.update_item(TableName=table, Key=key, UpdateExpression=f"REMOVE {SPAN}")
    store.report_metrics(job.id, "t0001", {"loss": MetricReport(value=0.6, step=3)}, "loss", whole_curve=False)
    assert (store.curve_best(job.id, "t0001", 10, True), store.curve_best(job.id, "t0001", 10, False)) == (0.2, 0.6)
