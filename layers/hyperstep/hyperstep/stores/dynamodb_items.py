"""The DynamoDB table layout of the trial store: item codec and update expressions.

Kept apart from ``stores/dynamodb.py`` so the store reads as a list of requests and this
module is the one place that knows attribute names, number encoding and expressions. No
boto3 import here: items are the low-level typed maps (``{"S": ...}``, ``{"N": ...}``)
that ``boto3.client("dynamodb")`` sends and receives.

Numbers: DynamoDB numbers are decimal strings. A float is written as the decimal value
of ``repr(x)``, the shortest string that reads back to the same double, so ``float(item)``
returns exactly ``x``. Trial bodies (params of any JSON type, metrics, value) are stored
as the model's own JSON, which round-trips int/float/str/bool exactly.
"""

from __future__ import annotations

import json
import math
import numbers
import struct
import sys
from array import array
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from hyperstep.models import Job, JobStatus, Trial, TrialState, pack_points, stored_json, unpack_points
from hyperstep.spec import JobSpec
from hyperstep.spec_base import STORED

PK, SK = "pk", "sk"
GSI1, GSI1_PK, GSI1_SK = "gsi1", "gsi1pk", "gsi1sk"
GSI2, GSI2_PK, GSI2_SK = "gsi2", "gsi2pk", "gsi2sk"
"""Jobs by owner (a sparse index: only jobs with an owner carry its keys)."""
TTL_ATTRIBUTE = "expires_at"
JOBS_PARTITION = "JOBS"
UNFINISHED_PARTITION = "UNFINISHED"
"""The partition holding one marker item per job that is running or stopping."""
UNPUBLISHED_PARTITION = "UNPUBLISHED"
"""The partition holding one marker item per finished job whose completion event is not
marked published (``Job.completion_published``)."""
JOB_SK, TOKEN_SK, TRIAL_PREFIX, CURVE_PREFIX = "JOB", "TOKEN", "TRIAL#", "CURVE#"
CURVE_CHUNK_STEPS = 1000
"""Steps ``k * 1000`` to ``k * 1000 + 999`` of a trial's curve share one item (20 KB at most:
12 bytes a point, 8 for its ``at``)."""
ENDED = "ended_ids"
"""The job item's string set of trial ids that ended since a reader last dropped them
(``TrialStore.recently_ended``): what Suggest reads instead of every trial of the job."""
CHUNKED = "chunked"
"""A trial item's boolean: whether its curve may have chunk items (``has_chunks``)."""
CHUNKS = "chunks"
"""A trial item's number set: the chunks its curve may have items for (``chunk_numbers``)."""
SPAN = "curve_span"
"""A trial item's binary: its curve's lowest and highest values and newest step (``span_of``),
kept by its step reports while it runs, so that median stopping reads its best so far without
its chunks (``DynamoDBStore.curve_best``); absent when not known."""
ATS = "ats"
"""A curve chunk's binary: the ``at`` of the report that wrote each of its points (float64,
little-endian, in the points' step order; NaN: none), which a step reported again is
compared with (``models.replaces_point``); absent when no point has one, as in a chunk
written before it. 8 bytes a point: a full chunk of 1,000 steps holds 20 KB."""
PUBLISHED = "completion_published"
"""A job item's boolean (``Job.completion_published``), absent while false."""
ENQUEUED_LAST = "enqueued_last"
"""A job item's highest ``enqueued`` number (``enqueued_attributes``), absent while it holds none."""
# DynamoDB's number range (positive side): 1E-130 to 9.99..E+125, 38 significant digits.
_MIN_ABS, _MAX_ABS = Decimal("1e-130"), Decimal("9.9999999999999999999999999999999999999e125")

Item = dict[str, dict[str, Any]]
Span = tuple[float, float, int]
"""A curve's lowest value, highest value and newest step."""


def table_definition(table_name: str = "hyperstep") -> dict[str, Any]:
    """The ``create_table`` keyword arguments of the store's table (on-demand billing).

    The SAM template declares the same table; TTL on ``expires_at`` is enabled separately
    (``update_time_to_live`` / the template's ``TimeToLiveSpecification``).
    """
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in (PK, SK, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK)
        ],
        "KeySchema": [{"AttributeName": PK, "KeyType": "HASH"}, {"AttributeName": SK, "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": GSI1,
                "KeySchema": [
                    {"AttributeName": GSI1_PK, "KeyType": "HASH"},
                    {"AttributeName": GSI1_SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": GSI2,
                "KeySchema": [
                    {"AttributeName": GSI2_PK, "KeyType": "HASH"},
                    {"AttributeName": GSI2_SK, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    }


def create_table(client: Any, table_name: str = "hyperstep") -> None:
    """Create the store's table with TTL on (local tooling and tests; AWS uses the template).

    ``client`` is a boto3 DynamoDB client (this module imports no boto3)."""
    client.create_table(**table_definition(table_name))
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )


def job_pk(job_id: str) -> str:
    return f"JOB#{job_id}"


def key(job_id: str, sk: str) -> Item:
    """The primary key of one item of the job's partition."""
    return {PK: {"S": job_pk(job_id)}, SK: {"S": sk}}


def schedule_key(name: str) -> Item:
    """The key of a recurring schedule's spec (``name``: Scheduler's, unique per owner)."""
    return {PK: {"S": f"SCHEDULE#{name}"}, SK: {"S": "SPEC"}}


def unfinished_key(job_id: str) -> Item:
    """The key of the job's marker in the unfinished-jobs partition."""
    return {PK: {"S": UNFINISHED_PARTITION}, SK: {"S": job_id}}


def unpublished_key(job_id: str) -> Item:
    """The key of the job's marker in the unpublished-jobs partition."""
    return {PK: {"S": UNPUBLISHED_PARTITION}, SK: {"S": job_id}}


def trial_sk(trial_id: str) -> str:
    return f"{TRIAL_PREFIX}{trial_id}"


def item_size(item: Item) -> int:
    """An item's size as DynamoDB counts it ("DynamoDB item sizes and formats" in its
    developer guide): each attribute's name and value, strings in UTF-8 bytes, binary as its
    bytes, a number about one byte a two significant digits plus one, a boolean or null one,
    a list or map 3 plus one a element (and a map's names)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, held),) = value.items()
    if kind == "S":
        return len(held.encode())
    if kind == "N":
        return (len(held.strip("-").replace(".", "").lstrip("0")) + 1) // 2 + 1
    if kind == "B":
        return len(held)
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: element}) for element in held)
    if kind == "L":
        return 3 + sum(1 + _value_size(element) for element in held)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(element) for name, element in held.items())
    return 1  # BOOL, NULL


def s(text: str) -> dict[str, str]:
    return {"S": text}


def n(number: float | int) -> dict[str, str]:
    """A number attribute; a float as the decimal of its shortest round-tripping repr,
    spelled as boto3's own serializer spells a ``Decimal`` (``0.00001``, ``1E-7``). Any other
    real number (numpy's float32/float64, a Fraction) is written as the float it is: not
    truncated to an int, nor spelled from a repr like ``np.float64(0.3)``."""
    if isinstance(number, numbers.Integral):
        return {"N": str(int(number))}
    return {"N": str(Decimal(repr(float(number))))}


def storable(number: float) -> bool:
    """Whether DynamoDB can hold ``number`` as a number (finite, inside its exponent range)."""
    if not math.isfinite(number):
        return False
    magnitude = abs(Decimal(repr(number)))
    return magnitude == 0 or _MIN_ABS <= magnitude <= _MAX_ABS


def sortable_time(epoch: float) -> str:
    """Epoch seconds as a fixed-width string whose text order is time order (to 2286)."""
    return f"{epoch:017.6f}"


def listing_key(created_at: float, job_id: str) -> str:
    """A job's sort key in ``gsi1`` and ``gsi2``: creation time, then id (newest first read backwards)."""
    return f"{sortable_time(created_at)}#{job_id}"


def owner_partition(owner: str) -> str:
    """The ``gsi2`` partition of an owner's jobs."""
    return f"OWNER#{owner}"


def job_item(job: Job) -> Item:
    """The job as an item: every field a top-level attribute, the spec as JSON text; a job
    with an owner also carries its ``gsi2`` keys (listed by owner, newest first)."""
    newest_first = s(listing_key(job.created_at, job.id))
    item: Item = {
        **key(job.id, JOB_SK),
        GSI1_PK: s(JOBS_PARTITION),
        GSI1_SK: newest_first,
        "id": s(job.id),
        "spec": s(job.spec.model_dump_json()),
        "goal": s(job.spec.primary.goal),
        "status": s(job.status.value),
        "created_at": n(job.created_at),
        "trial_seq": n(job.trial_seq),
        "budget_used": n(job.budget_used),
        "completed": n(job.completed),
        "failed": n(job.failed),
        "pruned": n(job.pruned),
        "cost_usd": n(job.cost_usd),
    }
    if job.owner is not None:
        item.update({GSI2_PK: s(owner_partition(job.owner)), GSI2_SK: newest_first, "owner": s(job.owner)})
    if job.parents:
        item["parents"] = {"L": [s(parent) for parent in job.parents]}
    if job.completion_published:
        item[PUBLISHED] = {"BOOL": True}
    if job.enqueued:
        item.update(enqueued_attributes(job.enqueued))
    optional = {
        "ended_at": job.ended_at,
        "reopened_at": job.reopened_at,
        "best_value": job.best_value,
        "best_trial_id": job.best_trial_id,
        "execution_id": job.execution_id,
        "error": job.error,
        "seed": job.seed,
        "stop_reason": None if job.stop_reason is None else job.stop_reason.value,
        "stop_detail": job.stop_detail,
    }
    for name, value in optional.items():
        if value is not None:
            item[name] = s(value) if isinstance(value, str) else n(value)
    return item


def job_from_item(item: Item) -> Job:
    """The ``Job`` an item holds (the inverse of ``job_item``)."""

    def num(name: str) -> str | None:
        return item[name]["N"] if name in item else None

    def text(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    ended_at, reopened_at = num("ended_at"), num("reopened_at")
    best_value, seed = num("best_value"), num("seed")
    return Job(
        id=item["id"]["S"],
        spec=JobSpec.model_validate_json(item["spec"]["S"], context=STORED),
        status=JobStatus(item["status"]["S"]),
        created_at=float(item["created_at"]["N"]),
        ended_at=None if ended_at is None else float(ended_at),
        reopened_at=None if reopened_at is None else float(reopened_at),
        trial_seq=int(item["trial_seq"]["N"]),
        budget_used=int(item["budget_used"]["N"]),
        completed=int(item["completed"]["N"]),
        failed=int(item["failed"]["N"]),
        pruned=int(item.get("pruned", {"N": "0"})["N"]),
        cost_usd=float(item.get("cost_usd", {"N": "0"})["N"]),
        best_trial_id=text("best_trial_id"),
        best_value=None if best_value is None else float(best_value),
        execution_id=text("execution_id"),
        error=text("error"),
        parents=tuple(parent["S"] for parent in item.get("parents", {}).get("L", [])),
        seed=None if seed is None else int(seed),
        owner=text("owner"),
        stop_reason=text("stop_reason"),
        stop_detail=text("stop_detail"),
        completion_published=item.get(PUBLISHED, {}).get("BOOL", False),
        enqueued=json.loads(text("enqueued") or "{}"),
    )


def enqueued_attributes(enqueued: Mapping[int, Mapping[str, Any]]) -> Item:
    """The job's ``enqueued`` points as JSON text, and ``enqueued_last``, the highest number
    among them: what ``enqueue`` and ``reserve_update`` condition on (points are only added,
    each under a higher number, so it changes with every one)."""
    return {"enqueued": s(json.dumps(enqueued)), ENQUEUED_LAST: n(max(enqueued))}


def enqueued_unchanged(job: Job, values: dict[str, Any]) -> str:
    """The condition that the job's ``enqueued`` points are still ``job``'s (its value in ``values``)."""
    if not job.enqueued:
        return f"attribute_not_exists({ENQUEUED_LAST})"
    values[":last"] = n(max(job.enqueued))
    return f"{ENQUEUED_LAST} = :last"


def enqueue_update(job: Job, enqueued: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """Store the job's points ``enqueued`` while its ``trial_seq`` and points are still ``job``'s."""
    values = {":seq": n(job.trial_seq), **{f":{k}": v for k, v in enqueued_attributes(enqueued).items()}}
    return {
        "Key": key(job.id, JOB_SK),
        "UpdateExpression": f"SET enqueued = :enqueued, {ENQUEUED_LAST} = :{ENQUEUED_LAST}",
        "ConditionExpression": f"trial_seq = :seq AND {enqueued_unchanged(job, values)}",
        "ExpressionAttributeValues": values,
    }


def trial_item(trial: Trial) -> Item:
    """A new trial as an item: the whole record as JSON, plus what conditions test.

    ``ver`` counts the item's writes; every update is conditioned on the version it read
    (optimistic concurrency), so no two writers merge into a stale body. ``chunked`` (see
    ``has_chunks``) starts false: a new trial has no curve chunks.
    """
    return {
        **key(trial.job_id, trial_sk(trial.id)),
        "number": n(trial.number),
        "state": s(trial.state.value),
        "body": s(stored_json(trial)),
        "ver": n(0),
        CHUNKED: {"BOOL": False},
    }


def trial_from_item(item: Item) -> Trial:
    return Trial.model_validate_json(item["body"]["S"], context=STORED)


def has_chunks(item: Item) -> bool:
    """Whether the trial's curve may have chunk items, so a read must query them.

    ``chunked`` is a storage detail (not in ``Trial``): false on a new trial, set true by the
    body rewrite in the transaction of a trial's first chunk write and never cleared, so a
    chunk never exists without it.
    An item written before the attribute existed lacks it and may have chunks: it reads as
    true, so old curves are still found (no migration needed).
    """
    return item.get(CHUNKED, {"BOOL": True})["BOOL"]


def chunk_numbers(item: Item) -> frozenset[int] | None:
    """The chunks the trial's curve may have items for; None when not known (any).

    A step report adds its chunk's number to ``chunks`` in the body write of the chunk's
    transaction (as it sets ``chunked``), so the set holds every chunk written since the
    trial was created. An item that may have chunks but has no set (written before
    the set existed, or marked ``chunked`` by a write that named no chunk) is not known,
    and never gets a set (``trial_update`` adds to known sets only)."""
    if CHUNKS in item:
        return frozenset(int(number) for number in item[CHUNKS]["NS"])
    return None if has_chunks(item) else frozenset()


def span_of(item: Item) -> Span | None:
    """The trial item's ``SPAN`` (None: not kept)."""
    return struct.unpack("<ddq", bytes(item[SPAN]["B"])) if SPAN in item else None


def curve_sk(trial_id: str, chunk: int | None = None) -> str:
    """The sort key of one chunk of a trial's curve; without ``chunk``, the prefix of all of them."""
    prefix = f"{CURVE_PREFIX}{trial_id}#"
    return prefix if chunk is None else f"{prefix}{chunk:06d}"


def curve_item(
    job_id: str,
    trial_id: str,
    chunk: int,
    points: Mapping[int, float],
    ver: int,
    ats: Mapping[int, float] | None = None,
) -> Item:
    """One chunk of a trial's curve: its points packed (``models.pack_points``), the
    chunk's write version (its writes are conditioned on it, as a trial's are) and, when
    one of its points has one, the ``at`` of the report that wrote each point (``ATS``)."""
    item = {
        **key(job_id, curve_sk(trial_id, chunk)),
        "trial": s(trial_id),
        "points": {"B": pack_points(points)},
        "ver": n(ver),
    }
    if ats:
        times = array("d", [ats.get(step, math.nan) for step in sorted(points)])
        if sys.byteorder != "little":
            times.byteswap()
        item[ATS] = {"B": times.tobytes()}
    return item


def point_times(item: Item, points: Mapping[int, float]) -> dict[int, float]:
    """The ``at`` of each of a curve chunk's ``points`` (as ``curve_from_item`` read them
    from its ``item``) that has one (``ATS``; none in an item written before it)."""
    if ATS not in item:
        return {}
    times = array("d")
    times.frombytes(bytes(item[ATS]["B"]))
    if sys.byteorder != "little":
        times.byteswap()
    steps = sorted(points)
    return {step: at for step, at in zip(steps, times) if not math.isnan(at)}


def version_condition(ver: int) -> dict[str, Any]:
    """A put's condition that the item is still at version ``ver`` (-1: that it is absent)."""
    if ver < 0:
        return {"ConditionExpression": "attribute_not_exists(sk)"}
    return {"ConditionExpression": "ver = :ver", "ExpressionAttributeValues": {":ver": n(ver)}}


def curve_from_item(item: Item) -> tuple[str, int, dict[int, float], int]:
    """(trial id, chunk, points, version) of a curve chunk's item."""
    chunk = int(item[SK]["S"].rsplit("#", 1)[1])
    return item["trial"]["S"], chunk, unpack_points(bytes(item["points"]["B"])), int(item["ver"]["N"])


# update expressions (pure: the store adds TableName and sends them)


def stamp(expires: int | None) -> tuple[str, dict[str, dict[str, str]]]:
    """The ``SET`` fragment and value that refresh the TTL attribute (nothing when None)."""
    return ("", {}) if expires is None else (f"{TTL_ATTRIBUTE} = :exp", {":exp": n(expires)})


def sets(*clauses: str) -> str:
    """``SET a, b`` from the non-empty clauses."""
    present = [c for c in clauses if c]
    return "SET " + ", ".join(present) if present else ""


def same_end(status: JobStatus, expected: list[str] | None) -> bool:
    """Whether a status write keeps a finished job's end: written only over that very status
    (its execution recorded), it is no new end to announce (``TrialStore.set_job_status``)."""
    return status.finished and expected == [status.value]


def published_update(job_id: str, expires: int | None) -> dict[str, Any]:
    """Set the job's ``completion_published`` (``Job.completion_published``), if it is
    finished (a job reopened since is left as it is: ``TrialStore.mark_completion_published``)."""
    ttl, values = stamp(expires)
    values[":true"] = {"BOOL": True}
    finished = [status for status in JobStatus if status.finished]
    values.update({f":f{i}": s(status.value) for i, status in enumerate(finished)})
    return {
        "Key": key(job_id, JOB_SK),
        "UpdateExpression": sets(f"{PUBLISHED} = :true", ttl),
        "ConditionExpression": "attribute_exists(pk) AND #status IN ("
        + ", ".join(f":f{i}" for i in range(len(finished)))
        + ")",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values,
    }


def reserve_update(job: Job, take: int, max_trials: int | None, expires: int | None) -> dict[str, Any]:
    """Add ``take`` to ``trial_seq`` and ``budget_used`` while ``budget_used + take`` stays
    within ``max_trials`` (None: no limit) and ``trial_seq`` and the ``enqueued`` points are
    still ``job``'s (the numbers after it are the ones a transaction writes trials under,
    each running the point stored for it)."""
    ttl, values = stamp(expires)
    values[":n"] = n(take)
    values[":seq"] = n(job.trial_seq)
    condition = f"attribute_exists(pk) AND trial_seq = :seq AND {enqueued_unchanged(job, values)}"
    if max_trials is not None:
        condition += " AND budget_used <= :limit"
        values[":limit"] = n(max_trials - take)
    return {
        "Key": key(job.id, JOB_SK),
        "UpdateExpression": f"ADD trial_seq :n, budget_used :n {sets(ttl)}".rstrip(),
        "ConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }


def trial_update(
    trial: Trial,
    ver: int,
    expires: int | None,
    chunked: bool = False,
    chunk: int | None = None,
    span: Span | bool | None = False,
) -> dict[str, Any]:
    """Write ``trial`` over its item if the item is still at version ``ver``; ``chunked``
    also sets the item's chunk marker (``has_chunks``), which nothing ever clears, and
    ``chunk`` adds that number to its set of chunks (``chunk_numbers``: pass one only for
    an item whose set is known at ``ver``); ``span`` replaces its ``SPAN`` (None removes
    it; False, the default, leaves it)."""
    ttl, ttl_value = stamp(expires)
    marker = {":chunked": {"BOOL": True}} if chunked else {}
    if chunk is not None:
        marker[":chunk"] = {"NS": [str(chunk)]}
    if span:
        marker[":span"] = {"B": struct.pack("<ddq", *span)}
    added = "" if chunk is None else f" ADD {CHUNKS} :chunk"
    kept = f"{SPAN} = :span" if span else ""
    removed = f" REMOVE {SPAN}" if span is None else ""
    return {
        "Key": key(trial.job_id, trial_sk(trial.id)),
        "UpdateExpression": sets(
            "#state = :state", "body = :body", "ver = :next", f"{CHUNKED} = :chunked" if chunked else "", ttl, kept
        )
        + removed
        + added,
        "ConditionExpression": "ver = :ver",
        "ExpressionAttributeNames": {"#state": "state"},
        "ExpressionAttributeValues": {
            ":state": s(trial.state.value),
            ":body": s(stored_json(trial)),
            ":ver": n(ver),
            ":next": n(ver + 1),
            **marker,
            **ttl_value,
        },
    }


def counter_update(
    trial: Trial, expires: int | None, best: bool, was: TrialState | None = None, added_cost: float = 0.0
) -> dict[str, Any]:
    """The job half of a trial's end (mirrors ``base.counter_changes``): one counter moves,
    the trial's id joins the job's recently ended ids (``ENDED``) and, with ``best``, the
    trial becomes the job's best, on condition that it still beats the stored best by the
    job's goal (else the transaction is cancelled and retried).

    With ``was`` (the stopped or pruned end it replaces, ``report_after_end``), that end's
    counter is undone too and the cost, counted then, is not added again: only
    ``added_cost``, what the new end's charge adds to it (mirrors
    ``base.revised_counter_changes``); with ``was`` the trial's own state, only ``added_cost``."""
    if trial.state is TrialState.STOPPED:
        counter, step = "budget_used", -1
    elif trial.state is TrialState.PRUNED:
        counter, step = "pruned", 1
    elif trial.state is TrialState.FAILED or trial.value is None:
        counter, step = "failed", 1
    else:
        counter, step = "completed", 1
    ttl, values = stamp(expires)
    values.update({":step": n(step), ":ended": {"SS": [trial.id]}})
    adds = f"{counter} :step, {ENDED} :ended"
    cost = trial.cost_usd
    if was is trial.state:  # the same end, its charge revised: no counter moves
        del values[":step"]
        adds, cost = f"{ENDED} :ended", added_cost
    elif was is not None:
        undone = "budget_used" if was is TrialState.STOPPED else "pruned"
        adds += f", {undone} :undo"
        values[":undo"] = n(1 if was is TrialState.STOPPED else -1)
        cost = added_cost
    if cost:
        adds += ", cost_usd :cost"
        values[":cost"] = n(cost)
    clauses, condition = [ttl], "attribute_exists(pk)"
    if best:
        clauses += ["best_value = :v", "best_trial_id = :t"]
        values.update({":v": n(float(trial.value)), ":t": s(trial.id), ":min": s("minimize"), ":max": s("maximize")})  # type: ignore[arg-type]
        condition += (
            " AND (attribute_not_exists(best_value)"
            " OR (goal = :min AND best_value > :v) OR (goal = :max AND best_value < :v))"
        )
    return {
        "Key": key(trial.job_id, JOB_SK),
        "UpdateExpression": f"ADD {adds} {sets(*clauses)}".rstrip(),
        "ConditionExpression": condition,
        "ExpressionAttributeValues": values,
    }


def unfinished_check(job_id: str) -> dict[str, Any]:
    """A transaction's condition that the job is unfinished: a ``ConditionCheck`` that its
    marker exists (a small item no other transaction writes, unlike the job's own)."""
    return {"Key": unfinished_key(job_id), "ConditionExpression": "attribute_exists(pk)"}


def spec_update(job_id: str, stored: str, spec: JobSpec) -> dict[str, Any]:
    """Replace the job's spec with ``spec`` while the job runs and its spec is still
    ``stored`` (the JSON text read)."""
    return {
        "Key": key(job_id, JOB_SK),
        "UpdateExpression": "SET spec = :new",
        "ConditionExpression": "#status = :running AND spec = :old",
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": {
            ":new": s(spec.model_dump_json()),
            ":old": s(stored),
            ":running": s(JobStatus.RUNNING.value),
        },
    }


def status_update(
    job_id: str,
    status: JobStatus,
    expected: list[str] | None,
    extra: dict[str, str | None],
    expires: int | None,
    now: float,
    reopen: bool = False,
    as_read: Job | None = None,
) -> dict[str, Any]:
    """Set the job's status (stamping ``ended_at`` with ``now`` or clearing it, with the
    error of an earlier end; with ``reopen``, its stop reason and detail too, unless given,
    and stamping ``reopened_at``), clearing the completion mark unless it is a finished
    job's own status (``same_end``), from ``expected`` only, and with ``as_read`` only while
    the recorded execution and ``reopened_at`` are as read."""
    ttl, values = stamp(expires)
    values[":status"] = s(status.value)
    clauses = ["#status = :status", ttl]
    if status.finished:
        clauses.append("ended_at = :ended")
        values[":ended"] = n(now)
    names = {"#status": "status"}
    for name, value in extra.items():
        if value is not None:  # ("error" is a reserved word, hence names for all)
            clauses.append(f"#{name} = :{name}")
            names[f"#{name}"], values[f":{name}"] = name, s(value)
    condition = "attribute_exists(pk)"
    if expected is not None:
        values.update({f":e{i}": s(v) for i, v in enumerate(expected)})
        condition += " AND #status IN (" + ", ".join(f":e{i}" for i in range(len(expected))) + ")"
    if as_read is not None:
        for name, value in (("execution_id", as_read.execution_id), ("reopened_at", as_read.reopened_at)):
            if value is None:
                condition += f" AND attribute_not_exists({name})"
            else:
                condition += f" AND {name} = :read_{name}"
                values[f":read_{name}"] = s(value) if isinstance(value, str) else n(value)
    if reopen:
        clauses.append("reopened_at = :reopened")
        values[":reopened"] = n(now)
    removed = [] if same_end(status, expected) else [PUBLISHED]
    if not status.finished:
        removed.append("ended_at")
    if not status.finished and extra.get("error") is None:  # a reopened job drops its old failure
        removed.append("#error")
        names["#error"] = "error"
    if reopen:  # its last end's reason goes (what is given is set instead)
        gone = [name for name in ("stop_reason", "stop_detail") if extra.get(name) is None]
        removed += [f"#{name}" for name in gone]
        names.update({f"#{name}": name for name in gone})
    return {
        "Key": key(job_id, JOB_SK),
        "UpdateExpression": sets(*clauses) + (f" REMOVE {', '.join(removed)}" if removed else ""),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
