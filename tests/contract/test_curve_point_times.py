"""Where each adapter keeps the ``at`` of a curve's points (``models.replaces_point``), and
what it does with what an earlier version stored without one.

SQLite: a nullable ``curves.at`` column, added in place to a file written before it.
DynamoDB: a chunk item's ``ats`` binary (8 bytes a point), written in the step report's
``TransactWriteItems`` with the points; a chunk written before it has none. At 10,000 steps
the largest item stays far below DynamoDB's 400 KB item limit (Amazon DynamoDB Developer
Guide, "Constraints in Amazon DynamoDB", Items; an item's size is the sum of its attribute
names' and values' lengths, a binary value counting its raw bytes: "DynamoDB item sizes and
formats").
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any
from unittest import mock

from hyperstep.models import Job, MetricReport, Trial, stored_json
from hyperstep.stores import dynamodb_items as items
from hyperstep.stores.dynamodb import DynamoDBStore
from hyperstep.stores.sqlite import SCHEMA, SQLiteStore
from tests.contract.conftest import full_spec, trials_of
from tests.contract.test_report_item_size import ITEM_LIMIT


def at(value: float, step: int, when: float | None) -> dict[str, MetricReport]:
    return {"loss": MetricReport(value=value, step=step, at=when)}


def test_a_sqlite_file_written_before_points_kept_times_gets_the_column_in_place(tmp_path: Path) -> None:
    """A file of the version before (its ``curves`` table without ``at``), a trial's step
    reports in it: opened, the table gains the column, NULL on the rows it held, which read as
    before; a report with a time replaces such a point, an older one then leaves it; opening
    the file again (another process) changes nothing."""
    path = tmp_path / "old.db"
    old = SCHEMA.replace("value REAL NOT NULL, at REAL,", "value REAL NOT NULL,")
    old = old.replace("changed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY", "PRIMARY KEY")  # nor trials' counter
    assert "changed" not in old and " at REAL" not in old
    job = Job(id="old", spec=full_spec(), created_at=1.0)
    (trial,) = trials_of(job, [1])
    with sqlite3.connect(path) as conn:
        conn.executescript(old)
        conn.execute("INSERT INTO jobs VALUES (?, ?, ?)", (job.id, job.created_at, job.model_dump_json()))
        conn.execute("INSERT INTO trials VALUES (?, ?, ?, ?)", (job.id, trial.id, 1, stored_json(trial)))
        conn.executemany(
            "INSERT INTO curves VALUES (?, ?, ?, ?)", [(job.id, trial.id, 1, 0.9), (job.id, trial.id, 2, 0.8)]
        )
    conn.close()
    store = SQLiteStore(path)
    assert store.get_trial(job.id, trial.id).curve == {1: 0.9, 2: 0.8}
    columns = [row[1] for row in store._conn.execute("PRAGMA table_info(curves)")]
    assert columns == ["job_id", "trial_id", "step", "value", "at"]
    assert store.report_metrics(job.id, trial.id, at(0.7, 1, 100.0), "loss").curve == {1: 0.7, 2: 0.8}
    assert store.report_metrics(job.id, trial.id, at(0.95, 1, 50.0), "loss").curve == {1: 0.7, 2: 0.8}
    again = SQLiteStore(path)
    assert again.get_trial(job.id, trial.id).curve == {1: 0.7, 2: 0.8}
    assert again.report_metrics(job.id, trial.id, at(0.95, 1, 50.0), "loss").curve == {1: 0.7, 2: 0.8}
    rows = again._conn.execute("SELECT step, value, at FROM curves ORDER BY step").fetchall()
    assert rows == [(1, 0.7, 100.0), (2, 0.8, None)]
    store.close()
    again.close()


def started(dynamodb: Any, table: str, job_id: str) -> tuple[DynamoDBStore, Trial]:
    store = DynamoDBStore(table, client=dynamodb)
    job = Job(id=job_id, spec=full_spec(), created_at=1.0)
    store.create_job(job)
    (trial,) = trials_of(job, [1])
    store.put_trials([trial])
    return store, trial


def chunk(dynamodb: Any, table: str, trial: Trial, number: int) -> dict[str, Any]:
    return dynamodb.get_item(TableName=table, Key=items.key(trial.job_id, items.curve_sk(trial.id, number)))["Item"]


def test_a_dynamodb_chunk_keeps_its_points_times_beside_them(dynamodb: Any, table: str) -> None:
    """The chunk's ``ats`` holds each point's time in the points' step order (NaN: a point
    without one), read back as the points' times; a chunk no report with a time wrote has none."""
    store, trial = started(dynamodb, table, "times")
    store.report_metrics(trial.job_id, trial.id, at(0.5, 7, None), "loss")
    assert items.ATS not in chunk(dynamodb, table, trial, 0)
    store.report_metrics(trial.job_id, trial.id, at(0.6, 3, 300.0), "loss")
    store.report_metrics(trial.job_id, trial.id, at(0.4, 9, 900.0), "loss", whole_curve=False)
    item = chunk(dynamodb, table, trial, 0)
    points = items.curve_from_item(item)[2]
    assert points == {3: 0.6, 7: 0.5, 9: 0.4}
    assert items.point_times(item, points) == {3: 300.0, 9: 900.0}
    assert len(bytes(item[items.ATS]["B"])) == 8 * 3


def test_a_dynamodb_chunk_written_before_points_kept_times_takes_a_newer_report_then_keeps_it(
    dynamodb: Any, table: str
) -> None:
    """A chunk as the version before wrote it (points, no ``ats``): its points count as having
    no time, so a report with one replaces a point, and an older report then leaves it."""
    store, trial = started(dynamodb, table, "before-times")
    dynamodb.put_item(TableName=table, Item=items.curve_item(trial.job_id, trial.id, 1, {1000: 0.9, 1001: 0.8}, 0))
    dynamodb.update_item(
        TableName=table,
        Key=items.key(trial.job_id, items.trial_sk(trial.id)),
        UpdateExpression=f"SET {items.CHUNKED} = :true ADD {items.CHUNKS} :one",
        ExpressionAttributeValues={":true": {"BOOL": True}, ":one": {"NS": ["1"]}},
    )
    assert store.report_metrics(trial.job_id, trial.id, at(0.7, 1000, 100.0), "loss").curve == {1000: 0.7, 1001: 0.8}
    older = store.report_metrics(trial.job_id, trial.id, at(0.95, 1000, 50.0), "loss", whole_curve=False)
    assert older is not None and older.curve == {1000: 0.7, 1001: 0.8}
    assert store.get_trial(trial.job_id, trial.id).curve == {1000: 0.7, 1001: 0.8}


def test_a_duplicate_report_writes_no_chunk_and_a_newer_one_of_the_same_value_moves_the_time(
    dynamodb: Any, table: str
) -> None:
    """EventBridge's second delivery of a report (same value, same time) leaves the chunk as
    it is (its version too: nothing written); a newer report of the same value writes the
    chunk for its time, which an older report of that step is then held against."""
    store, trial = started(dynamodb, table, "duplicates")
    store.report_metrics(trial.job_id, trial.id, at(0.5, 4, 100.0), "loss")
    store.report_metrics(trial.job_id, trial.id, at(0.5, 4, 100.0), "loss", whole_curve=False)
    assert items.curve_from_item(chunk(dynamodb, table, trial, 0))[3] == 0
    store.report_metrics(trial.job_id, trial.id, at(0.5, 4, 300.0), "loss")
    item = chunk(dynamodb, table, trial, 0)
    assert (items.curve_from_item(item)[3], items.point_times(item, {4: 0.5})) == (1, {4: 300.0})


def test_at_10000_steps_with_times_the_largest_chunk_stays_far_below_the_item_limit(dynamodb: Any, table: str) -> None:
    """A curve of steps 0 to 9,998 put as chunks of up to 1,000 points with their times (as a
    signing script's reports leave them), then step 9,999 reported through the store: the
    chunk it writes, the 1,000 points of steps 9,000 to 9,999 with their times, is about 20 KB
    (12 bytes a point and 8 for its time), under a nineteenth of the 400 KB item limit; the
    transaction's items together stay under 24 KB. The curve then holds its 10,000 steps."""
    store, trial = started(dynamodb, table, "long-times")
    curve = {step: 1.0 / (step + 1) for step in range(9_999)}
    for number in range(10):
        points = {s: v for s, v in curve.items() if s // items.CURVE_CHUNK_STEPS == number}
        timed = {s: 1_700_000_000.0 + s for s in points}
        dynamodb.put_item(TableName=table, Item=items.curve_item(trial.job_id, trial.id, number, points, 0, timed))
    sizes: list[int] = []
    real_transact = store._transact

    def transacted(actions: list[dict[str, Any]]) -> None:
        sizes.extend(len(json.dumps(action, default=lambda b: "x" * len(b))) for action in actions)
        real_transact(actions)

    with mock.patch.object(store, "_transact", transacted):
        after = store.report_metrics(trial.job_id, trial.id, at(1e-4, 9_999, 1_700_009_999.0), "loss")
    assert after is not None and after.curve == {**curve, 9_999: 1e-4} and len(after.curve) == 10_000
    written = chunk(dynamodb, table, trial, 9)
    points = items.curve_from_item(written)[2]
    assert len(points) == 1000 and len(items.point_times(written, points)) == 1000
    assert 20_000 <= item_size(written) < 20_500 < ITEM_LIMIT // 19
    assert sum(sizes) < 24_000


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it, near enough: each attribute's name and its value
    (a binary's bytes, a string's characters, a number's digits)."""
    return sum(len(name) + len(next(iter(value.values()))) for name, value in item.items())
