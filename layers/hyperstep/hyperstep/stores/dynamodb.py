"""DynamoDB trial store: the cloud adapter of ``TrialStore``, one table per deployment.

Single-table design (the SAM template declares exactly this; ``table_definition()``
returns it as ``create_table`` arguments):

==============  ====================  ==============  =====================================
item            pk (S, hash)          sk (S, range)   other attributes
==============  ====================  ==============  =====================================
job             ``JOB#<job_id>``      ``JOB``         gsi1pk ``JOBS``, gsi1sk ``<created_at
                                                      %017.6f>#<job_id>``, id, spec (JSON),
                                                      goal, status, created_at, ended_at,
                                                      trial_seq, budget_used, completed,
                                                      failed, best_value, best_trial_id,
                                                      execution_id, error, seed,
                                                      owner (+ gsi2pk, gsi2sk)
trial           ``JOB#<job_id>``      ``TRIAL#<id>``  number, state, body (Trial JSON), ver,
                                                      chunked, chunks, curve_span
curve chunk     ``JOB#<job_id>``      ``CURVE#<id>#   trial, points (B: steps and values
                                      <k:06d>``       packed), ats (B: each point's ``at``),
                                                      ver: steps 1000k to 1000k+999
task token      ``JOB#<job_id>``      ``TOKEN``       token
unfinished job  ``UNFINISHED``        ``<job_id>``    (none: the key is the marker)
unpublished     ``UNPUBLISHED``       ``<job_id>``    (none: the key is the marker)
schedule spec   ``SCHEDULE#<name>``   ``SPEC``        spec (JSON), owner; no TTL
caller bucket   ``THROTTLE#<owner>``  ``BUCKET``      tokens, at, ver (``hyperstep.throttling``)
==============  ====================  ==============  =====================================

- GSI ``gsi1`` (gsi1pk S hash, gsi1sk S range, projection ALL) lists jobs newest first.
- GSI ``gsi2`` (gsi2pk S hash, gsi2sk S range, projection ALL), sparse: a job with an
  ``owner`` carries gsi2pk ``OWNER#<owner>`` and gsi2sk as gsi1sk, so one owner's jobs
  are one query, newest first (``list_jobs(owner=...)``).
- The ``UNFINISHED`` partition holds a marker per running or stopping job, so the reaper
  finds every unfinished job with one consistent query however many jobs the table
  holds. A job is created with its marker in one transaction, and each status write is
  one transaction of the job's update and the marker's put (an unfinished status) or
  delete (a finished one): a job has its marker exactly while it is unfinished, whatever
  fails where, so a trial's start (which checks the marker) never lands on a closed job.
  ``list_unfinished_jobs`` skips a marker of a finished job (one an earlier version left,
  writing the two apart) and deletes those of jobs gone by TTL. Markers carry no TTL.
- The ``UNPUBLISHED`` partition holds a marker per finished job whose completion event is
  not marked published, so the reaper finds a closer's lost event with one consistent query
  of the few jobs between their end and its mark (``list_unpublished_jobs``), not a Scan of
  every job. A finishing status write puts it in the same transaction (an unfinished one
  deletes it; one that keeps a finished job's status, recording its execution, leaves both
  as they are), and ``mark_completion_published`` deletes it in the transaction that marks
  the job: a finished job has its marker exactly while unmarked. Markers of jobs gone by TTL
  are deleted when read.
- TTL attribute ``expires_at`` (epoch seconds): every write stamps it ``retention_days``
  after the write, so a job's items vanish that long after it was last touched; None
  disables it.

A trial's curve (``Trial.curve``) is kept in chunk items beside the trial's, not in its
body: a step report rewrites the small body (the merged reports) and one chunk of at most
20 KB in one ``TransactWriteItems`` (each conditioned on its version), never the whole curve
(a 10,000-step curve is 10 chunks, 200 KB). A chunk keeps beside its points the ``at`` of the
report that wrote each (``items.ATS``, 8 bytes a point; absent in a chunk written before it,
and while no point has one), and a step the chunk holds takes a report only when
``models.replaces_point``, in the same conditional write. Reading a trial adds one query
of its chunks when its item's ``chunked`` marker says it may have some (set by the write of
the first chunk, or by the body write before it for reports after a trial's end; absent on
items older than the marker, which are queried); listing a job's trials, one query of the
job's chunks. A body written before curves had their items keeps its points, which the
chunks extend.
The trial item also keeps the set of its chunks (``items.chunk_numbers``), so a step report
that asks for no whole curve (``report_metrics(whole_curve=False)``) reads only its own chunk
(and, for the curve's two newest steps, another now and then: a chunk's first step, a report
below the newest chunk) while that chunk's points and 1,000 for each other chunk stay below
``MAX_CURVE_STEPS`` (the cap cannot drop the step: all but step 10,000 of a curve of steps 1
to 10,000); else, and for an item without the set, it reads every chunk.
Median stopping's query of every trial's value at a step (``curve_values_at``) reads the
job's trial items and, of each other trial whose chunks reach the step's, one chunk (a
``Query`` page of ``Limit`` 1 from the step's chunk on; the next when it holds no step at or
past the step): one chunk a trial, two at most (20 KB each when full), never a whole curve,
and no item that grows with the trials. The trial's own best so far (``curve_best``) comes
from the 24 bytes of ``curve_span`` its item keeps while it runs (``items.SPAN``, written by
each step report in its transaction, dropped when not known: then the curve is read).

How the guarantees are met: counters are top-level numbers moved only by ``ADD`` under a
``ConditionExpression``; ``add_trials`` is one ``TransactWriteItems`` of the counters'
update (``budget_used <= max - n``, and ``trial_seq`` still the one it read), and the puts
of the trials under the numbers after it (99 a part, fewer when their items and the job's
would pass a transaction's 4 MB: ``TRANSACTION_BYTES``). A trial's end is one ``TransactWriteItems``: the trial
update, conditioned on the version it read (so only a pending/running trial ends, once),
and the job update (counter, plus best value and trial when it beats the stored best by
the job's goal, conditioned on that); a cancelled transaction is read again and retried.
Trial rewrites use the same version check (optimistic concurrency); a trial's start is one
``TransactWriteItems`` of that rewrite and a ``ConditionCheck`` that its job's unfinished
marker exists (2 write units: the job's own item would cost 2 a KB of its spec, and it is
the item every trial's end writes). The task token is
taken by ``DeleteItem`` with ``ReturnValues=ALL_OLD``. Requests that collide with a
transaction (``TransactionConflict``) are retried. Values DynamoDB cannot hold as numbers
(NaN, inf, beyond 1E+-125) never become the best. ``put_trials`` is atomic up to 100
trials whose items add up to 4 MB (one transaction); larger batches are undone best effort
on failure.
``list_jobs`` reads the GSI, which is eventually consistent; everything else reads with
``ConsistentRead``.

IAM (least privilege): ``dynamodb:GetItem``, ``PutItem``, ``UpdateItem``, ``DeleteItem``
and ``Query`` on the table; ``list_jobs`` also ``Query`` on ``<table arn>/index/gsi1`` and
``gsi2``, and ``start_trial`` ``ConditionCheckItem`` on the table (the template grants each
only to the functions that call it).
``TransactWriteItems`` has no IAM action of its own: its Put/Update actions are authorized
as PutItem/UpdateItem, its ConditionCheck as ConditionCheckItem.
``create_table`` (tooling only) also uses CreateTable, DescribeTable, UpdateTimeToLive.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

from hyperstep.errors import ConflictError, JobExistsError, NotFoundError, TrialExistsError
from hyperstep.messages import MAX_CURVE_STEPS, LogCursor
from hyperstep.models import (
    Charge,
    Job,
    JobStatus,
    MetricReport,
    StopReason,
    Trial,
    TrialState,
    replaces_point,
)
from hyperstep.spec import Budget
from hyperstep.stores import dynamodb_items as items
from hyperstep.stores.base import (
    REVISABLE_ENDS,
    REVISED_ENDS,
    JobPlace,
    MakeTrial,
    ReadJob,
    ScheduleSpec,
    TrialStore,
    enqueued_with,
    newest_points,
    point_of,
    point_time,
    read_nothing,
    revised_cost,
)
from hyperstep.stores.dynamodb_items import (
    CURVE_CHUNK_STEPS,
    JOB_SK,
    TOKEN_SK,
    create_table,
    curve_sk,
    key,
    s,
    table_definition,
    trial_sk,
)

__all__ = ["TRANSACTION_LIMIT", "DynamoDBStore", "create_table", "table_definition"]

TRANSACTION_LIMIT = 100  # TransactWriteItems takes up to 100 actions
TRANSACTION_BYTES = 4 * 1024 * 1024
"""TransactWriteItems: "The aggregate size of the items in the transaction cannot exceed 4 MB"
(DynamoDB's API reference; its MB is 1,048,576 bytes)."""
ITEM_BYTES = 400 * 1024
"""DynamoDB's largest item (400 KB): what a transaction's update of an item may count for."""
JOB_ROOM = 16 * 1024
"""What ``enqueue`` leaves free of the job's item for the writes that grow it later: the
recently ended trial ids (``items.ENDED``, a few hundred ids of at most 17 characters), a
failure's error (``MAX_ERROR_CHARS``, up to 4 bytes each), the stop detail, the execution's
ARN and the TTL. Past 400 KB those writes fail (ValidationException) and the job's loop with them."""
_ATTEMPTS = 64  # optimistic retries before giving up with ConflictError
_CHECK_FAILED = "ConditionalCheckFailedException"
Chunk = tuple[dict[int, float], int, dict[int, float]]
"""A curve chunk as read: its points, its version (-1: absent) and the ``at`` of each point
that has one (``items.ATS``)."""
ChunkWrite = tuple[frozenset[int] | None, int, dict[int, float] | None, int, dict[int, float]]
"""A chunk's write joining a trial's (``_report_writes``): the known chunks, the chunk, its
new points (None: no write), its version and its points' ``at``s."""
NO_WRITE: ChunkWrite = (None, 0, None, -1, {})


def _chunk_of(item: items.Item) -> tuple[int, Chunk]:
    """A curve chunk's number and what its item holds (``Chunk``)."""
    _, number, points, ver = items.curve_from_item(item)
    return number, (points, ver, items.point_times(item, points))


def _point_write(
    known: frozenset[int] | None,
    chunks: Mapping[int, Chunk],
    curve: Mapping[int, float],
    point: tuple[int, float, float | None],
    kept: bool,
) -> tuple[bool, ChunkWrite]:
    """Whether a report's ``point`` (step, value, ``at``) is what the curve now holds at its
    step (``kept``: the cap leaves room for it; and ``replaces_point`` against the ``at`` its
    chunk keeps), and the write of its chunk that puts it there (no points: the chunk holds
    it already, or keeps the newer point). ``chunks`` holds the step's chunk when it exists,
    ``curve`` every point read."""
    step, value, at = point
    number = step // CURVE_CHUNK_STEPS
    points, ver, ats = chunks.get(number, ({}, -1, {}))
    if not (kept and replaces_point(at, ats.get(step))):
        return False, (known, number, None, ver, ats)
    if curve.get(step) == value and ats.get(step) == at:
        return True, (known, number, None, ver, ats)
    timed = {s: held for s, held in ats.items() if s != step} | ({} if at is None else {step: at})
    return True, (known, number, {**points, step: value}, ver, timed)


def _next_span(
    found: items.Item, body: Trial, curve: Mapping[int, float], whole: bool, step: int, value: float | None
) -> items.Span | None:
    """The curve's span (``items.SPAN``) once a step report wrote ``value`` at ``step`` (None:
    it changed no point), from the trial item as read (``found``, its trial ``body``) and the
    curve it read (``whole``: every chunk, else the step's alone): the whole curve's when
    every chunk was read, else the span the item keeps moved by the value, a new one for a
    curve with no chunk yet. None (not known: read the curve) for points in the body, for an
    item that keeps none, and when a value at the span's low or high end is replaced by one
    inside it. Only step reports write chunks while a trial runs; reports after its end do
    not keep the span, which is read only while the trial runs."""
    if body.curve:  # points in a body predate the chunks
        return None
    if whole:
        points = curve if value is None else {**curve, step: value}
        return (min(points.values()), max(points.values()), max(points)) if points else None
    held = items.span_of(found)
    if held is None:
        fresh = items.chunk_numbers(found) == frozenset()  # no chunk yet: the curve starts here
        return (value, value, step) if fresh and value is not None else None
    if value is None:
        return held
    low, high, top = held
    old = curve.get(step)
    if old is not None and (old == low < value or old == high > value):
        return None
    return min(low, value), max(high, value), max(top, step)


def _code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def _fitting(puts: list[dict[str, Any]], room: int) -> int:
    """How many of ``puts`` (from the first) one transaction takes: their items' sizes add up
    to ``room`` at most (``TRANSACTION_BYTES``), one at least (an item holds 400 KB)."""
    total = 0
    for count, put in enumerate(puts):
        total += items.item_size(put["Put"]["Item"])
        if total > room:
            return max(count, 1)
    return len(puts)


def _reasons(exc: Exception) -> list[str]:
    """The per-action codes of a ``TransactionCanceledException`` ("None" for fine ones)."""
    return [r.get("Code", "None") for r in getattr(exc, "response", {}).get("CancellationReasons", [])]


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))


class DynamoDBStore(TrialStore):
    """Trial store on one DynamoDB table (layout in the module docstring)."""

    def __init__(
        self,
        table_name: str,
        client: Any = None,
        retention_days: int | None = 90,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``client``: a boto3 DynamoDB client (created when None) or resource.

        The store speaks the low-level typed format, which a resource's own client would
        serialize a second time; so for a resource a plain client is made with the same
        region, endpoint and config (credentials from the default chain).
        """
        import boto3

        if client is None:
            client = boto3.client("dynamodb")
        elif hasattr(getattr(client, "meta", None), "client"):  # a resource
            meta = client.meta.client.meta
            client = boto3.client(
                "dynamodb", region_name=meta.region_name, endpoint_url=meta.endpoint_url, config=meta.config
            )
        self.table_name = table_name
        self.retention_days = retention_days
        self.clock = clock
        self._db = client

    def _call(self, operation: str, **kwargs: Any) -> dict:
        """One single-item request or query on the table; retried while it collides with
        a transaction on the same item (``TransactionConflictException``, which botocore
        does not retry; the rejected request changed nothing)."""
        request = getattr(self._db, operation)
        for attempt in range(_ATTEMPTS - 1):
            try:
                return request(TableName=self.table_name, **kwargs)
            except Exception as exc:
                if _code(exc) != "TransactionConflictException":
                    raise
                _backoff(attempt)
        return request(TableName=self.table_name, **kwargs)

    def _transact(self, actions: list[dict[str, Any]]) -> None:
        self._db.transact_write_items(TransactItems=actions)

    def _expires(self) -> int | None:
        """When an item written now expires (epoch seconds), or None without retention."""
        return None if self.retention_days is None else int(self.clock()) + self.retention_days * 86400

    def _stamped(self, item: items.Item) -> items.Item:
        expires = self._expires()
        return item if expires is None else {**item, items.TTL_ATTRIBUTE: items.n(expires)}

    # jobs

    def create_job(self, job: Job) -> None:
        """The job item and, for an unfinished job, its marker: one transaction."""
        job_put = {"Item": self._stamped(items.job_item(job)), "ConditionExpression": "attribute_not_exists(pk)"}
        puts = [job_put] if job.status.finished else [job_put, {"Item": items.unfinished_key(job.id)}]
        actions = [{"Put": {"TableName": self.table_name, **put}} for put in puts]
        for attempt in range(_ATTEMPTS):
            try:
                self._transact(actions)
                return
            except Exception as exc:
                reasons = _reasons(exc)
                if reasons[:1] == ["ConditionalCheckFailed"]:
                    raise JobExistsError(f"job {job.id!r} already exists") from None
                if "TransactionConflict" not in reasons:
                    raise
                _backoff(attempt)
        raise ConflictError(f"job {job.id!r} not created: transaction conflicts persisted")

    def get_job(self, job_id: str) -> Job:
        found = self._call("get_item", Key=key(job_id, JOB_SK), ConsistentRead=True).get("Item")
        if found is None:
            raise NotFoundError(f"job {job_id!r} not found")
        return items.job_from_item(found)

    def list_jobs(self, limit: int = 100, owner: str | None = None, after: JobPlace | None = None) -> list[Job]:
        """Newest first: every job from ``gsi1``, an owner's from ``gsi2`` (a query either way;
        ``after``: on the index's sort key, ``created_at#id``, below the place's)."""
        index, partition = (items.GSI1, items.JOBS_PARTITION)
        if owner is not None:
            index, partition = items.GSI2, items.owner_partition(owner)
        condition, values = f"{index}pk = :jobs", {":jobs": s(partition)}
        if after is not None:
            condition += f" AND {index}sk < :after"
            values[":after"] = s(items.listing_key(*after))
        newest = self._pages(
            IndexName=index,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=max(limit, 1),
        )
        return [items.job_from_item(i) for i in itertools.islice(newest, max(limit, 0))]

    def list_unfinished_jobs(self) -> list[Job]:
        # a stale marker (a crash after a finishing write) is skipped
        return [
            job
            for job in self._marked_jobs(items.UNFINISHED_PARTITION, items.unfinished_key)
            if not job.status.finished
        ]

    def _marked_jobs(self, partition: str, key_of: Callable[[str], dict[str, Any]]) -> Iterator[Job]:
        """The jobs with a marker in ``partition`` (keyed ``key_of(job_id)``), read consistently;
        the marker of a job gone (expired by TTL, deleted) is deleted as it is read."""
        markers = self._pages(
            KeyConditionExpression="pk = :partition",
            ExpressionAttributeValues={":partition": s(partition)},
            ProjectionExpression="sk",
            ConsistentRead=True,
        )
        for marker in markers:
            job_id = marker[items.SK]["S"]
            try:
                yield self.get_job(job_id)
            except NotFoundError:  # the marker is all that is left
                self._call("delete_item", Key=key_of(job_id))

    def set_job_status(
        self,
        job_id: str,
        status: JobStatus,
        *,
        expected: Collection[JobStatus] | None = None,
        error: str | None = None,
        execution_id: str | None = None,
        stop_reason: StopReason | None = None,
        stop_detail: str | None = None,
        reopen: bool = False,
        as_read: Job | None = None,
    ) -> Job:
        allowed = None if expected is None else sorted({e.value for e in expected})
        if allowed == []:
            raise ConflictError(f"job {job_id!r} is {self.get_job(job_id).status.value}, not in an empty set")
        reason = None if stop_reason is None else stop_reason.value
        extra = {"error": error, "execution_id": execution_id, "stop_reason": reason, "stop_detail": stop_detail}
        now, expires = self.clock(), self._expires()
        update = items.status_update(job_id, status, allowed, extra, expires, now, reopen, as_read)
        table, mark = {"TableName": self.table_name}, items.unfinished_key(job_id)
        unpublished = items.unpublished_key(job_id)
        if items.same_end(status, allowed):
            markers = []
        elif status.finished:
            markers = [{"Delete": {**table, "Key": mark}}, {"Put": {**table, "Item": unpublished}}]
        else:
            markers = [{"Put": {**table, "Item": mark}}, {"Delete": {**table, "Key": unpublished}}]
        if not self._job_transaction(job_id, [{"Update": {**table, **update}}, *markers], "status not set"):
            now = self.get_job(job_id)  # NotFoundError when the job is absent
            if as_read is not None and (allowed is None or now.status.value in allowed):
                raise ConflictError(f"job {job_id!r} has an execution recorded or was reopened since it was read")
            raise ConflictError(f"job {job_id!r} is {now.status.value}, not {'/'.join(allowed or [])}")
        return self.get_job(job_id)

    def _job_transaction(self, job_id: str, actions: list[dict[str, Any]], undone: str) -> bool:
        """Write ``actions`` (the job's conditioned update first, then its markers) in one
        transaction, again while it collides with another (``TransactionConflict``), and say
        whether it landed: False when the update's condition failed."""
        for attempt in range(_ATTEMPTS):
            try:
                self._transact(actions)
                return True
            except Exception as exc:
                reasons = _reasons(exc)
                if reasons[:1] == ["ConditionalCheckFailed"]:
                    return False
                if "TransactionConflict" not in reasons:
                    raise
                _backoff(attempt)
        raise ConflictError(f"job {job_id!r}: {undone}, transaction conflicts persisted")

    def list_unpublished_jobs(self, ended_before: float) -> Iterator[Job]:
        return (
            job
            for job in self._marked_jobs(items.UNPUBLISHED_PARTITION, items.unpublished_key)
            if job.status.finished and not job.completion_published and (job.ended_at or 0.0) < ended_before
        )

    def mark_completion_published(self, job_id: str) -> None:
        table = {"TableName": self.table_name}
        actions = [
            {"Update": {**table, **items.published_update(job_id, self._expires())}},
            {"Delete": {**table, "Key": items.unpublished_key(job_id)}},
        ]
        if not self._job_transaction(job_id, actions, "completion not marked"):
            self.get_job(job_id)  # NotFoundError when absent; else reopened meanwhile: left unmarked

    def set_budget(self, job_id: str, change: Callable[[Budget], Budget]) -> Job:
        """Rewrite the spec's JSON with ``change`` of the budget read, conditioned on the job
        running and its spec being the one read (another change landing in between is read
        again, changed again and kept)."""
        for _ in range(_ATTEMPTS):
            found = self._call("get_item", Key=key(job_id, JOB_SK), ConsistentRead=True).get("Item")
            if found is None:
                raise NotFoundError(f"job {job_id!r} not found")
            job = items.job_from_item(found)
            if job.status is not JobStatus.RUNNING:
                raise ConflictError(f"job {job_id!r} is {job.status.value}, not running")
            spec = job.spec.model_copy(update={"budget": change(job.spec.budget)})
            update = items.spec_update(job_id, found["spec"]["S"], spec)
            try:
                reply = self._call("update_item", **update, ReturnValues="ALL_NEW")
            except Exception as exc:
                if _code(exc) != _CHECK_FAILED:
                    raise
                continue
            return items.job_from_item(reply["Attributes"])
        raise ConflictError(f"job {job_id!r}: its budget kept changing; try again")

    def add_trials(
        self, job_id: str, n: int, max_trials: int | None, make: MakeTrial, reading: ReadJob = read_nothing
    ) -> list[Trial]:
        """Parts of up to 99 trials (fewer past 4 MB with the job's item), each one transaction
        with the job's counters."""
        added: list[Trial] = []
        while len(added) < n:
            done = len(added)
            part = self._add_part(job_id, min(n - done, TRANSACTION_LIMIT - 1), max_trials, make, reading, done)
            if not part:
                break
            added.extend(part)
        return added

    def _add_part(
        self,
        job_id: str,
        n: int,
        max_trials: int | None,
        make: MakeTrial,
        reading: ReadJob,
        offset: int,
    ) -> list[Trial]:
        """One transaction: the job's counters, conditioned on the ``trial_seq`` and the
        ``enqueued`` points just read (the numbers after it are this part's), and its trials;
        read again and retried when another writer took numbers or stored a point meanwhile."""
        for attempt in range(_ATTEMPTS):
            job = self.get_job(job_id)  # NotFoundError when the job is gone
            reading(job)
            take = n if max_trials is None else min(n, max_trials - job.budget_used)
            if take <= 0:
                return []
            made = [make(offset + i, job.trial_seq + 1 + i) for i in range(take)]
            table = {"TableName": self.table_name, "ConditionExpression": "attribute_not_exists(pk)"}
            puts = [{"Put": {**table, "Item": self._stamped(items.trial_item(t))}} for t in made]
            take = _fitting(puts, TRANSACTION_BYTES - ITEM_BYTES)  # the job's update counts its item
            trials, puts = made[:take], puts[:take]
            update = items.reserve_update(job, take, max_trials, self._expires())
            try:
                self._transact([{"Update": {"TableName": self.table_name, **update}}, *puts])
                return trials
            except Exception as exc:
                reasons = _reasons(exc)
                if reasons[:1] == ["ConditionalCheckFailed"]:  # numbers taken meanwhile (their trials too)
                    continue
                if "ConditionalCheckFailed" in reasons:
                    t = trials[reasons.index("ConditionalCheckFailed") - 1]
                    raise TrialExistsError(f"trial {t.id!r} of job {t.job_id!r} already exists") from None
                if "TransactionConflict" not in reasons:
                    raise
                _backoff(attempt)
        raise ConflictError(f"job {job_id!r}: could not add trials after {_ATTEMPTS} attempts")

    def enqueue(self, job_id: str, point: Mapping[str, Any]) -> int:
        """One conditional update of the job's item, read again and retried when another
        writer took numbers or stored a point meanwhile."""
        for _ in range(_ATTEMPTS):
            job = self.get_job(job_id)  # NotFoundError when the job is gone
            number, enqueued = enqueued_with(job, point)
            if items.item_size({**items.job_item(job), **items.enqueued_attributes(enqueued)}) > ITEM_BYTES - JOB_ROOM:
                raise ValueError(
                    f"enqueue_trial: job {job_id!r}'s item would pass DynamoDB's 400 KB with this point"
                    f" (its last {JOB_ROOM // 1024} KB are kept for the job's own writes)"
                )
            try:
                self._call("update_item", **items.enqueue_update(job, enqueued))
            except Exception as exc:
                if _code(exc) != _CHECK_FAILED:
                    raise
                continue
            return number
        raise ConflictError(f"job {job_id!r}: could not store the enqueued point after {_ATTEMPTS} attempts")

    # trials

    def put_trials(self, trials: list[Trial]) -> None:
        """All or none for up to 100 trials of 4 MB in all (one transaction). A larger batch
        goes in transactions of 100 (fewer past 4 MB: ``TRANSACTION_BYTES``); when a later one
        fails the earlier ones are deleted again, which is best effort (a crash in between
        leaves them), not atomic."""
        if len({(t.job_id, t.id) for t in trials}) < len(trials):
            raise TrialExistsError("a trial id appears twice in the batch")
        written: list[Trial] = []
        item = {"TableName": self.table_name, "ConditionExpression": "attribute_not_exists(pk)"}
        while len(written) < len(trials):
            chunk = trials[len(written) : len(written) + TRANSACTION_LIMIT]
            actions = [{"Put": {**item, "Item": self._stamped(items.trial_item(t))}} for t in chunk]
            chunk = chunk[: _fitting(actions, TRANSACTION_BYTES)]
            try:
                self._put_chunk(chunk, actions[: len(chunk)])
            except BaseException:
                for t in written:
                    self._call("delete_item", Key=key(t.job_id, trial_sk(t.id)))
                raise
            written.extend(chunk)

    def _put_chunk(self, chunk: list[Trial], actions: list[dict[str, Any]]) -> None:
        for attempt in range(_ATTEMPTS):
            try:
                self._transact(actions)
                return
            except Exception as exc:
                reasons = _reasons(exc)
                if "ConditionalCheckFailed" in reasons:
                    t = chunk[reasons.index("ConditionalCheckFailed")]
                    raise TrialExistsError(f"trial {t.id!r} of job {t.job_id!r} already exists") from None
                if "TransactionConflict" not in reasons:
                    raise
                _backoff(attempt)
        raise ConflictError("trials not written: transaction conflicts persisted")

    def _trial_item(self, job_id: str, trial_id: str) -> items.Item:
        found = self._call("get_item", Key=key(job_id, trial_sk(trial_id)), ConsistentRead=True).get("Item")
        if found is None:
            raise NotFoundError(f"trial {trial_id!r} of job {job_id!r} not found")
        return found

    def _read_trial(self, job_id: str, trial_id: str) -> tuple[Trial, int, bool]:
        """The trial, its item's write version and whether its curve may have chunks."""
        found = self._trial_item(job_id, trial_id)
        return items.trial_from_item(found), int(found["ver"]["N"]), items.has_chunks(found)

    def get_trial(self, job_id: str, trial_id: str) -> Trial:
        trial, _, chunked = self._read_trial(job_id, trial_id)
        return self._with_curve(trial, chunked)

    def report_key(self, job_id: str, trial_id: str) -> str | None:
        return items.trial_from_item(self._trial_item(job_id, trial_id)).report_key

    def list_trials(self, job_id: str) -> list[Trial]:
        found = self._prefixed(job_id, items.TRIAL_PREFIX)
        trials = sorted((items.trial_from_item(i) for i in found), key=lambda t: t.number)
        curves: dict[str, dict[int, float]] = {}
        for item in self._prefixed(job_id, items.CURVE_PREFIX):
            trial, _, points, _ = items.curve_from_item(item)
            curves.setdefault(trial, {}).update(points)
        return [t.model_copy(update={"curve": {**t.curve, **curves[t.id]}}) if t.id in curves else t for t in trials]

    def _prefixed(self, job_id: str, prefix: str) -> Iterator[items.Item]:
        """The job's items whose sort key starts with ``prefix``, read consistently."""
        return self._pages(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": s(items.job_pk(job_id)), ":prefix": s(prefix)},
            ConsistentRead=True,
        )

    def _chunks(self, trial: Trial) -> dict[int, Chunk]:
        """The trial's curve chunks by chunk number."""
        return dict(map(_chunk_of, self._prefixed(trial.job_id, curve_sk(trial.id))))

    def _with_curve(self, trial: Trial, chunked: bool) -> Trial:
        """The trial (as its body holds it) with its curve's chunks; no query when its item
        says it has none (``chunked`` false, see ``items.has_chunks``)."""
        chunks = self._chunks(trial) if chunked else {}
        if not chunks:
            return trial
        curve = dict(trial.curve)
        for points, *_ in chunks.values():
            curve.update(points)
        return trial.model_copy(update={"curve": curve})

    def curve_values_at(self, job_id: str, step: int, besides: str | None = None) -> dict[str, float]:
        """One query of the job's trial items, then for each trial whose chunks may reach
        the step's, one query page of its chunks from the step's on (mostly the step's
        alone; the next one when that chunk holds no step at or past it): two chunks at
        most (20 KB each when full) a trial, never the whole curves."""
        values = {}
        for item in self._prefixed(job_id, items.TRIAL_PREFIX):
            trial, known = items.trial_from_item(item), items.chunk_numbers(item)
            if trial.id == besides:
                continue
            reaches = known is None or any(number >= step // CURVE_CHUNK_STEPS for number in known)
            points = {s: v for s, v in trial.curve.items() if s >= step}  # points in a body predate the chunks
            points.update(self._first_point(trial, step) if reaches else {})
            if points:
                values[trial.id] = points[min(points)]
        return values

    def curve_point(self, job_id: str, trial_id: str, step: int) -> float | None:
        """The trial's item, then the step's chunk alone (two ``GetItem``, no ``Query``) when
        the item says which chunks it has; else the whole curve (the port's default)."""
        found = self._trial_item(job_id, trial_id)
        trial, known = items.trial_from_item(found), items.chunk_numbers(found)
        if trial.curve or known is None:  # points in a body predate the chunks; no set: any chunk
            return super().curve_point(job_id, trial_id, step)
        number = step // CURVE_CHUNK_STEPS
        return self._chunk(trial, number)[0].get(step) if number in known else None

    def curve_best(self, job_id: str, trial_id: str, step: int, minimize: bool) -> float | None:
        """A running trial's from the span its item keeps (``items.SPAN``: one ``GetItem``,
        no chunk) when it covers ``step``; else the whole curve (the port's default)."""
        found = self._trial_item(job_id, trial_id)
        span, trial = items.span_of(found), items.trial_from_item(found)
        if span is not None and trial.state.active and not trial.curve and span[2] <= step:
            return span[0] if minimize else span[1]
        return super().curve_best(job_id, trial_id, step, minimize)

    def _first_point(self, trial: Trial, step: int) -> dict[int, float]:
        """The first point of the trial's chunks at or past ``step`` ({}: none), its
        chunks read one query page at a time from ``step``'s on."""
        bounds = {":low": s(curve_sk(trial.id, step // CURVE_CHUNK_STEPS)), ":high": s(f"{curve_sk(trial.id)}~")}
        pages = self._pages(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={":pk": s(items.job_pk(trial.job_id)), **bounds},
            ConsistentRead=True,
            Limit=1,
        )
        for item in pages:
            points = items.curve_from_item(item)[2]
            reached = [p for p in points if p >= step]
            if reached:
                return {min(reached): points[min(reached)]}
        return {}

    def _pages(self, **query: Any) -> Iterator[items.Item]:
        """The items of a query, page after page (fetched lazily)."""
        while True:
            reply = self._call("query", **query)
            yield from reply.get("Items", [])
            if "LastEvaluatedKey" not in reply:
                return
            query["ExclusiveStartKey"] = reply["LastEvaluatedKey"]

    def _rewrite_trial(
        self, job_id: str, trial_id: str, change: Callable[[Trial], Trial | None]
    ) -> tuple[Trial, bool] | None:
        """Apply ``change`` to the trial with optimistic concurrency (re-read on a lost
        race); the new trial and whether its curve may have chunks. ``change`` returning
        None means "leave it", and None is returned."""
        for attempt in range(_ATTEMPTS):
            found = self._trial_item(job_id, trial_id)
            trial, ver = items.trial_from_item(found), int(found["ver"]["N"])
            new = change(trial)
            if new is None:
                return None
            try:
                self._call("update_item", **items.trial_update(new, ver, self._expires()))
                return new, items.has_chunks(found)
            except Exception as exc:
                if _code(exc) != _CHECK_FAILED:
                    raise
                _backoff(attempt)
        raise ConflictError(f"trial {trial_id!r} of job {job_id!r}: too many concurrent writers")

    def start_trial(self, job_id: str, trial_id: str, backend_ref: str) -> Trial:
        """One transaction: the trial's update (if still at the version read) and a check
        that its job is unfinished (its marker exists); a lost race on the trial is read
        again and retried."""
        for attempt in range(_ATTEMPTS):
            trial, ver, chunked = self._read_trial(job_id, trial_id)
            if trial.state is not TrialState.PENDING:
                raise ConflictError(f"trial {trial_id!r} is {trial.state.value}, not pending")
            started = trial.model_copy(
                update={"state": TrialState.RUNNING, "backend_ref": backend_ref, "started_at": self.clock()}
            )
            update = items.trial_update(started, ver, self._expires())
            check = items.unfinished_check(job_id)
            try:
                self._transact(
                    [
                        {"Update": {"TableName": self.table_name, **update}},
                        {"ConditionCheck": {"TableName": self.table_name, **check}},
                    ]
                )
                return self._with_curve(started, chunked)
            except Exception as exc:
                reasons = _reasons(exc)
                if reasons[1:2] == ["ConditionalCheckFailed"]:
                    status = self.get_job(job_id).status.value  # NotFoundError when the job is gone
                    raise ConflictError(f"trial {trial_id!r} not started: job {job_id!r} is {status}") from None
                if "ConditionalCheckFailed" not in reasons and "TransactionConflict" not in reasons:
                    raise
                _backoff(attempt)
        raise ConflictError(f"trial {trial_id!r} of job {job_id!r}: too many concurrent writers")

    def report_metrics(
        self,
        job_id: str,
        trial_id: str,
        reports: Mapping[str, MetricReport],
        curve_metric: str | None = None,
        whole_curve: bool = True,
    ) -> Trial | None:
        """The body's rewrite and, for a step report that changes the curve, the put of the
        step's chunk, in one ``TransactWriteItems`` (each conditioned on the version read; a
        lost race is read again and retried): a report lands whole or not at all, so a crash
        between two writes cannot keep the body's report without its point in the curve.

        For a trial whose chunks are known, the step's chunk is read alone unless the curve
        could be full (``_chunk_alone``), else every chunk; without ``whole_curve`` the
        curve's two newest steps come from the chunks that hold them (``_newest``: mostly
        the step's own), so a report costs the same at any length of the curve."""
        point = point_of(reports, curve_metric)
        if not point:
            rewritten = self._rewrite_trial(
                job_id, trial_id, lambda t: t.with_reports(reports, objective=curve_metric) if t.state.active else None
            )
            if rewritten is None:
                return None
            body, chunked = rewritten
            return self._with_curve(body, chunked) if whole_curve else body.model_copy(update={"curve": {}})
        ((step, value),) = point.items()
        chunk, at = step // CURVE_CHUNK_STEPS, point_time(reports, curve_metric)
        for attempt in range(_ATTEMPTS):
            found = self._trial_item(job_id, trial_id)
            trial, ver, known = items.trial_from_item(found), int(found["ver"]["N"]), items.chunk_numbers(found)
            if not trial.state.active:
                return None
            body = trial.with_reports(reports, objective=curve_metric)
            alone = None if whole_curve else self._chunk_alone(body, chunk, known, step)
            chunks = self._chunks(body) if alone is None else alone
            curve = {**body.curve}
            for held, *_ in chunks.values():
                curve.update(held)
            kept = alone is not None or step in curve or len(curve) < MAX_CURVE_STEPS
            taken, write = _point_write(known, chunks, curve, (step, value, at), kept)
            written = write[2] is not None
            span = _next_span(found, body, curve, alone is None, step, value if written else None)
            if self._write_report(body, ver, write, span):
                if taken:
                    curve[step] = value
                now = {step: curve[step]} if step in curve else {}  # the report's point, or the newer one kept
                if whole_curve:
                    return body.model_copy(update={"curve": curve})
                if alone is None:
                    newest = newest_points(curve)
                else:
                    assert known is not None  # a chunk is read alone only when the set is known
                    newest = self._newest(body, known, chunk, {**chunks[chunk][0], **now})
                return body.model_copy(update={"curve": {**newest, **now}})
            _backoff(attempt)
        raise ConflictError(f"trial {trial_id!r} of job {job_id!r}: too many concurrent writers")

    def _write_report(self, body: Trial, ver: int, chunk: ChunkWrite, span: items.Span | bool | None = False) -> bool:
        """Write the body (and the curve's ``span``: None, not known; False, left as it is) if
        its item is still at ``ver`` and, with points, the chunk's new points if it is still at
        its version, in one transaction (``_report_writes``); False when another write came
        first."""
        update, put = self._report_writes(body, ver, chunk, span)
        try:
            if put is None:
                self._call("update_item", **update)
                return True
            self._transact([{"Update": {"TableName": self.table_name, **update}}, put])
            return True
        except Exception as exc:
            reasons = _reasons(exc)
            if (
                _code(exc) != _CHECK_FAILED
                and "ConditionalCheckFailed" not in reasons
                and "TransactionConflict" not in reasons
            ):
                raise
            return False

    def _report_writes(
        self, body: Trial, ver: int, chunk: ChunkWrite, span: items.Span | bool | None = False
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The body's update if its item is still at ``ver`` and, with ``chunk``'s ``points``,
        the transaction's put of the chunk's new points if it is still at ``chunk_ver`` (-1:
        absent); the body then also sets the chunk marker and, when ``known``, adds the
        chunk to its set."""
        known, number, points, chunk_ver, ats = chunk
        added = None if known is None or points is None else number
        update = items.trial_update(body, ver, self._expires(), points is not None, added, span)
        if points is None:
            return update, None
        item = self._stamped(items.curve_item(body.job_id, body.id, number, points, chunk_ver + 1, ats))
        return update, {"Put": {"TableName": self.table_name, "Item": item, **items.version_condition(chunk_ver)}}

    def _chunk(self, body: Trial, chunk: int) -> Chunk:
        """One chunk of the trial's curve (({}, -1, {}): absent)."""
        found = self._call("get_item", Key=key(body.job_id, curve_sk(body.id, chunk)), ConsistentRead=True)
        return ({}, -1, {}) if "Item" not in found else _chunk_of(found["Item"])[1]

    def _chunk_alone(self, body: Trial, chunk: int, known: frozenset[int] | None, step: int) -> dict[int, Chunk] | None:
        """The step's chunk alone ({chunk: its ``Chunk``}), read when the trial's chunks
        are known and the cap (``MAX_CURVE_STEPS``) cannot drop the step: it replaces a step of the
        chunk, or the chunk's points and 1,000 for each other chunk (at most as many as the
        rest of the curve holds) are fewer than ``MAX_CURVE_STEPS``. None (read every chunk)
        when the curve may be full."""
        if known is None:
            return None
        read = self._chunk(body, chunk)
        others = len(body.curve) + CURVE_CHUNK_STEPS * len(known - {chunk})
        if step not in read[0] and others + len(read[0]) >= MAX_CURVE_STEPS:
            return None
        return {chunk: read}

    def _newest(self, body: Trial, known: frozenset[int], chunk: int, points: Mapping[int, float]) -> dict[int, float]:
        """The curve's two newest points, given ``chunk``'s ``points`` as written: the
        chunks are read from the highest down (``chunk``'s already in hand) until two steps
        are found at or above the lowest read; mostly ``chunk``'s alone (another chunk is
        read for a chunk's first step, or a report below the newest chunk)."""
        found = newest_points(body.curve)  # points in a body predate the chunks
        for number in sorted(known | {chunk}, reverse=True):
            held = points if number == chunk else self._chunk(body, number)[0]
            found = newest_points({**found, **newest_points(held)})
            if len(found) == 2 and min(found) >= number * CURVE_CHUNK_STEPS:
                break
        return found

    def report_after_end(
        self,
        job_id: str,
        trial_id: str,
        reports: Mapping[str, MetricReport],
        curve_metric: str | None = None,
        complete: Callable[[Trial], Trial | None] = lambda trial: None,
    ) -> Trial | None:
        """The body's rewrite (with a new end, the job's counters and best too, ``_try_finish``'s
        way) and the put of a changed step's chunk, in one ``TransactWriteItems``, each
        conditioned on the version read (a lost race is read again and retried): a crash
        between writes cannot keep the body's report without its point in the curve."""
        for attempt in range(_ATTEMPTS):
            found = self._trial_item(job_id, trial_id)
            body, ver, known = items.trial_from_item(found), int(found["ver"]["N"]), items.chunk_numbers(found)
            if body.state not in REVISABLE_ENDS:
                return None
            merged = body.with_reports(reports, objective=curve_metric)
            chunks = self._chunks(body) if items.has_chunks(found) else {}
            curve = dict(merged.curve)
            for points, *_ in chunks.values():
                curve.update(points)
            write, at = NO_WRITE, point_time(reports, curve_metric)
            for step, value in point_of(reports, curve_metric).items():  # one at most
                kept = step in curve or len(curve) < MAX_CURVE_STEPS
                taken, write = _point_write(known, chunks, curve, (step, value, at), kept)
                curve = {**curve, step: value} if taken else curve
            ended = complete(merged.model_copy(update={"curve": curve}))
            assert ended is None or ended.state in {*REVISED_ENDS, body.state}, "completed, failed or recharged"
            written = merged if ended is None else ended.model_copy(update={"curve": merged.curve})
            if ended is None and not reports:  # a prune's check for a step written meanwhile: nothing to keep
                return written.model_copy(update={"curve": curve})
            if ended is None:
                landed = self._write_report(written, ver, write)
            else:
                landed = self._try_finish(written, ver, was=body, chunk=write)
            if landed:
                return written.model_copy(update={"curve": curve})
            _backoff(attempt)
        raise ConflictError(f"trial {trial_id!r} of job {job_id!r}: too many concurrent writers")

    def set_log_cursor(self, job_id: str, trial_id: str, cursor: LogCursor) -> bool:
        def keep(trial: Trial) -> Trial | None:
            return trial.model_copy(update={"log_cursor": cursor}) if trial.state.active else None

        return self._rewrite_trial(job_id, trial_id, keep) is not None

    def set_user_attr(self, job_id: str, trial_id: str, key: str, value: Any) -> Trial | None:
        def keep(trial: Trial) -> Trial | None:
            return trial.with_user_attr(key, value) if trial.state.active else None

        kept = self._rewrite_trial(job_id, trial_id, keep)
        return None if kept is None else self._with_curve(kept[0], kept[1])

    def note_stop(self, job_id: str, trial_id: str, reason: str) -> bool:
        def note(trial: Trial) -> Trial | None:
            return trial.model_copy(update={"error": reason}) if trial.state is TrialState.RUNNING else None

        return self._rewrite_trial(job_id, trial_id, note) is not None

    def await_result(self, job_id: str, trial_id: str) -> Trial | None:
        def mark(trial: Trial) -> Trial | None:
            if not trial.state.active:
                return None
            first = self.clock() if trial.awaiting_result_since is None else trial.awaiting_result_since
            return trial.model_copy(update={"awaiting_result_since": first})

        marked = self._rewrite_trial(job_id, trial_id, mark)
        return None if marked is None else self._with_curve(marked[0], marked[1])

    def finish_trial(
        self,
        job_id: str,
        trial_id: str,
        state: TrialState,
        value: float | None = None,
        metrics: dict[str, float] | None = None,
        error: str | None = None,
        charge: Charge | None = None,
        values: list[float] | None = None,
        expected: Collection[TrialState] | None = None,
        end_unseen: bool = False,
    ) -> bool:
        end = {"state": state, "value": value, "values": values, "metrics": metrics or {}, "error": error}
        end.update(charge.fields() if charge is not None else {}, end_unseen=end_unseen)
        for attempt in range(_ATTEMPTS):
            trial, ver, _ = self._read_trial(job_id, trial_id)
            if not trial.state.active or (expected is not None and trial.state not in expected):
                return False
            if self._try_finish(trial.model_copy(update={**end, "ended_at": self.clock()}), ver):
                return True
            _backoff(attempt)
        raise ConflictError(f"trial {trial_id!r} of job {job_id!r}: too many concurrent writers")

    def _try_finish(self, done: Trial, ver: int, was: Trial | None = None, chunk: ChunkWrite = NO_WRITE) -> bool:
        """One transaction writing the ended trial (if still at ``ver``), its job counter
        and, when it beats the job's best, the best; False when the trial or the best moved
        meanwhile (the caller reads again and retries). ``was``: the ended trial it replaces
        (``items.counter_update``, with the cost it adds, ``revised_cost``); ``chunk``: a
        curve chunk's points written in the same transaction (``_report_writes``; no points:
        none)."""
        best = False
        if done.state is TrialState.COMPLETED and done.value is not None and items.storable(done.value):
            job = self.get_job(done.job_id)  # the best only ever improves: beaten now, beaten for good
            best = job.beats_best(done)
        expires = self._expires()
        revision = {} if was is None else {"was": was.state, "added_cost": revised_cost(was, done)}
        counters = items.counter_update(done, expires, best, **revision)
        update, put = self._report_writes(done, ver, chunk)
        actions = [{"Update": {"TableName": self.table_name, **a}} for a in (update, counters)]
        try:
            self._transact(actions if put is None else [*actions, put])
            return True
        except Exception as exc:
            reasons = _reasons(exc)
            if "ConditionalCheckFailed" not in reasons and "TransactionConflict" not in reasons:
                raise
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                self.get_job(done.job_id)  # NotFoundError when the job is gone, else its best moved
            return False

    def recently_ended(self, job_id: str) -> frozenset[str]:
        found = self._call(
            "get_item", Key=key(job_id, JOB_SK), ProjectionExpression=items.ENDED, ConsistentRead=True
        ).get("Item")
        if found is None:
            raise NotFoundError(f"job {job_id!r} not found")
        return frozenset(found.get(items.ENDED, {}).get("SS", []))

    def forget_ended(self, job_id: str, trial_ids: Collection[str]) -> None:
        if not trial_ids:
            return
        try:
            self._call(
                "update_item",
                Key=key(job_id, JOB_SK),
                UpdateExpression=f"DELETE {items.ENDED} :ids",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":ids": {"SS": sorted(trial_ids)}},
            )
        except Exception as exc:
            if _code(exc) != _CHECK_FAILED:  # a job deleted meanwhile has nothing to forget
                raise

    # task tokens

    def put_task_token(self, job_id: str, token: str) -> None:
        self._call("put_item", Item=self._stamped({**key(job_id, TOKEN_SK), "token": s(token)}))

    def take_task_token(self, job_id: str) -> str | None:
        old = self._call("delete_item", Key=key(job_id, TOKEN_SK), ReturnValues="ALL_OLD").get("Attributes")
        return None if old is None else old["token"]["S"]

    def return_task_token(self, job_id: str, token: str) -> None:
        item = self._stamped({**key(job_id, TOKEN_SK), "token": s(token)})
        try:
            self._call("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")
        except Exception as exc:
            if _code(exc) != _CHECK_FAILED:  # else a newer round parked its own token
                raise

    def put_schedule_spec(self, name: str, owner: str | None, spec: Mapping[str, Any]) -> None:
        item = {**items.schedule_key(name), "spec": s(json.dumps(dict(spec)))}  # no TTL: it lives with its schedule
        if owner is not None:
            item["owner"] = s(owner)
        self._call("put_item", Item=item)

    def get_schedule_spec(self, name: str) -> ScheduleSpec | None:
        found = self._call("get_item", Key=items.schedule_key(name), ConsistentRead=True).get("Item")
        if found is None:
            return None
        return ScheduleSpec(owner=found.get("owner", {}).get("S"), spec=json.loads(found["spec"]["S"]))

    def delete_schedule_spec(self, name: str) -> None:
        self._call("delete_item", Key=items.schedule_key(name))
