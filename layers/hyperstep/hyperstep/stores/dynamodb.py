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
                                                      execution_id, error
trial           ``JOB#<job_id>``      ``TRIAL#<id>``  number, state, body (Trial JSON), ver
task token      ``JOB#<job_id>``      ``TOKEN``       token
==============  ====================  ==============  =====================================

- GSI ``gsi1`` (gsi1pk S hash, gsi1sk S range, projection ALL) lists jobs newest first.
- TTL attribute ``expires_at`` (epoch seconds): every write stamps it ``retention_days``
  after the write, so a job's items vanish that long after it was last touched; None
  disables it.

How the guarantees are met: counters are top-level numbers moved only by ``ADD`` under a
``ConditionExpression``; a trial's end is one ``TransactWriteItems`` (trial update
conditioned on its state and version + job counter update), so it counts once; the best
value follows as a conditional ``UpdateItem`` (a reader may briefly see the counter moved
before the best); the task token is taken by ``DeleteItem`` with ``ReturnValues=ALL_OLD``.
Values DynamoDB cannot hold as numbers (NaN, inf, beyond 1E±125) never become the best.
``list_jobs`` reads the GSI, which is eventually consistent; everything else reads with
``ConsistentRead``.

IAM (least privilege): ``dynamodb:GetItem``, ``PutItem``, ``UpdateItem``, ``DeleteItem``
and ``Query`` on the table and on ``<table arn>/index/gsi1``. ``TransactWriteItems`` has
no IAM action of its own: its Put/Update actions are authorized as PutItem/UpdateItem.
``create_table`` (tooling only) also uses CreateTable, DescribeTable, UpdateTimeToLive.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

from hyperstep.errors import ConflictError, JobExistsError, NotFoundError, TrialExistsError
from hyperstep.models import Job, JobStatus, Trial, TrialState, now
from hyperstep.stores import dynamodb_items as items
from hyperstep.stores.base import TrialStore
from hyperstep.stores.dynamodb_items import JOB_SK, TOKEN_SK, TTL_ATTRIBUTE, key, n, s, table_definition, trial_sk

__all__ = ["TRANSACTION_LIMIT", "DynamoDBStore", "create_table", "table_definition"]

TRANSACTION_LIMIT = 100  # TransactWriteItems takes up to 100 actions
_ATTEMPTS = 64  # optimistic retries before giving up with ConflictError
_CHECK_FAILED = "ConditionalCheckFailedException"


def _code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def _reasons(exc: Exception) -> list[str]:
    """The per-action codes of a ``TransactionCanceledException`` ("None" for fine ones)."""
    return [r.get("Code", "None") for r in getattr(exc, "response", {}).get("CancellationReasons", [])]


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))


def create_table(client: Any, table_name: str = "hyperstep") -> None:
    """Create the store's table with TTL on (local tooling and tests; AWS uses the template)."""
    client.create_table(**table_definition(table_name))
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )


class DynamoDBStore(TrialStore):
    """Trial store on one DynamoDB table (layout in the module docstring)."""

    def __init__(self, table_name: str, client: Any = None, retention_days: int | None = 90) -> None:
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
        return None if self.retention_days is None else int(now()) + self.retention_days * 86400

    def _stamped(self, item: items.Item) -> items.Item:
        expires = self._expires()
        return item if expires is None else {**item, TTL_ATTRIBUTE: n(expires)}

    # jobs

    def create_job(self, job: Job) -> None:
        try:
            self._call(
                "put_item", Item=self._stamped(items.job_item(job)), ConditionExpression="attribute_not_exists(pk)"
            )
        except Exception as exc:
            if _code(exc) == _CHECK_FAILED:
                raise JobExistsError(f"job {job.id!r} already exists") from None
            raise

    def get_job(self, job_id: str) -> Job:
        found = self._call("get_item", Key=key(job_id, JOB_SK), ConsistentRead=True).get("Item")
        if found is None:
            raise NotFoundError(f"job {job_id!r} not found")
        return items.job_from_item(found)

    def list_jobs(self, limit: int = 100) -> list[Job]:
        jobs: list[Job] = []
        page: dict[str, Any] = {}
        while len(jobs) < limit:
            reply = self._call(
                "query",
                IndexName=items.GSI1,
                KeyConditionExpression="gsi1pk = :jobs",
                ExpressionAttributeValues={":jobs": s(items.JOBS_PARTITION)},
                ScanIndexForward=False,
                Limit=limit - len(jobs),
                **page,
            )
            jobs.extend(items.job_from_item(i) for i in reply.get("Items", []))
            if "LastEvaluatedKey" not in reply:
                break
            page = {"ExclusiveStartKey": reply["LastEvaluatedKey"]}
        return jobs

    def set_job_status(
        self,
        job_id: str,
        status: JobStatus,
        *,
        expected: Collection[JobStatus] | None = None,
        error: str | None = None,
        execution_id: str | None = None,
    ) -> Job:
        allowed = None if expected is None else sorted({e.value for e in expected})
        if allowed == []:
            raise ConflictError(f"job {job_id!r} is {self.get_job(job_id).status.value}, not in an empty set")
        extra = {"error": error, "execution_id": execution_id}
        update = items.status_update(job_id, status, allowed, extra, self._expires())
        try:
            reply = self._call(
                "update_item", **update, ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD"
            )
        except Exception as exc:
            if _code(exc) != _CHECK_FAILED:
                raise
            old = getattr(exc, "response", {}).get("Item")
            if old is None:
                raise NotFoundError(f"job {job_id!r} not found") from None
            raise ConflictError(f"job {job_id!r} is {old['status']['S']}, not {'/'.join(allowed or [])}") from None
        return items.job_from_item(reply["Attributes"])

    def reserve_trials(self, job_id: str, n: int, max_trials: int | None) -> list[int]:
        take = n if max_trials is None else min(n, max_trials)
        for _ in range(_ATTEMPTS):
            if take <= 0:
                return []
            try:
                last = self._reserve(job_id, take, max_trials)
            except Exception as exc:
                if _code(exc) != _CHECK_FAILED:
                    raise
                budget_used = self.get_job(job_id).budget_used  # NotFoundError when the job is gone
                take = n if max_trials is None else min(n, max_trials - budget_used)
                continue
            return list(range(last - take + 1, last + 1))
        raise ConflictError(f"job {job_id!r}: could not reserve trials after {_ATTEMPTS} attempts")

    def _reserve(self, job_id: str, take: int, max_trials: int | None) -> int:
        """Add ``take`` to both counters if the budget allows; the new ``trial_seq``."""
        ttl, values = items.stamp(self._expires())
        values[":n"] = items.n(take)
        condition = "attribute_exists(pk)"
        if max_trials is not None:
            condition += " AND budget_used <= :limit"
            values[":limit"] = items.n(max_trials - take)
        reply = self._call(
            "update_item",
            Key=key(job_id, JOB_SK),
            UpdateExpression=f"ADD trial_seq :n, budget_used :n {items.sets(ttl)}".rstrip(),
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            ReturnValues="UPDATED_NEW",
        )
        return int(reply["Attributes"]["trial_seq"]["N"])

    # trials

    def put_trials(self, trials: list[Trial]) -> None:
        """All or none for up to 100 trials (one transaction). A larger batch goes in
        transactions of 100; when a later one fails the earlier ones are deleted again,
        which is best effort (a crash in between leaves them), not atomic."""
        ids = [(t.job_id, t.id) for t in trials]
        duplicate = next((i for i in ids if ids.count(i) > 1), None)
        if duplicate is not None:
            raise TrialExistsError(f"trial {duplicate[1]!r} of job {duplicate[0]!r} appears twice")
        written: list[Trial] = []
        for start in range(0, len(trials), TRANSACTION_LIMIT):
            chunk = trials[start : start + TRANSACTION_LIMIT]
            try:
                self._put_chunk(chunk)
            except BaseException:
                for t in written:
                    self._call("delete_item", Key=key(t.job_id, trial_sk(t.id)))
                raise
            written.extend(chunk)

    def _put_chunk(self, chunk: list[Trial]) -> None:
        condition = "attribute_not_exists(pk)"
        item = {"TableName": self.table_name, "ConditionExpression": condition}
        actions = [{"Put": {**item, "Item": self._stamped(items.trial_item(t))}} for t in chunk]
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

    def _read_trial(self, job_id: str, trial_id: str) -> tuple[Trial, int]:
        """The trial and its item's write version."""
        found = self._call("get_item", Key=key(job_id, trial_sk(trial_id)), ConsistentRead=True).get("Item")
        if found is None:
            raise NotFoundError(f"trial {trial_id!r} of job {job_id!r} not found")
        return items.trial_from_item(found), int(found["ver"]["N"])

    def get_trial(self, job_id: str, trial_id: str) -> Trial:
        return self._read_trial(job_id, trial_id)[0]

    def list_trials(self, job_id: str) -> list[Trial]:
        found = [items.trial_from_item(i) for i in self._query_partition(job_id, items.TRIAL_PREFIX)]
        return sorted(found, key=lambda t: t.number)

    def _query_partition(self, job_id: str, prefix: str) -> Iterator[items.Item]:
        page: dict[str, Any] = {}
        while True:
            reply = self._call(
                "query",
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": s(items.job_pk(job_id)), ":prefix": s(prefix)},
                ConsistentRead=True,
                **page,
            )
            yield from reply.get("Items", [])
            if "LastEvaluatedKey" not in reply:
                return
            page = {"ExclusiveStartKey": reply["LastEvaluatedKey"]}

    def _rewrite_trial(self, job_id: str, trial_id: str, change: Callable[[Trial], Trial | None]) -> Trial | None:
        """Apply ``change`` to the trial with optimistic concurrency (re-read on a lost
        race); ``change`` returning None means "leave it", and None is returned."""
        for attempt in range(_ATTEMPTS):
            trial, ver = self._read_trial(job_id, trial_id)
            new = change(trial)
            if new is None:
                return None
            try:
                self._call("update_item", **items.trial_update(new, ver, self._expires()))
                return new
            except Exception as exc:
                if _code(exc) != _CHECK_FAILED:
                    raise
                _backoff(attempt)
        raise ConflictError(f"trial {trial_id!r} of job {job_id!r}: too many concurrent writers")

    def start_trial(self, job_id: str, trial_id: str, backend_ref: str) -> Trial:
        def start(trial: Trial) -> Trial:
            if trial.state is not TrialState.PENDING:
                raise ConflictError(f"trial {trial_id!r} is {trial.state.value}, not pending")
            return trial.model_copy(
                update={"state": TrialState.RUNNING, "backend_ref": backend_ref, "started_at": now()}
            )

        started = self._rewrite_trial(job_id, trial_id, start)
        assert started is not None  # start never leaves the trial alone
        return started

    def report_metrics(self, job_id: str, trial_id: str, metrics: dict[str, float]) -> bool:
        def merge(trial: Trial) -> Trial | None:
            return trial.model_copy(update={"metrics": {**trial.metrics, **metrics}}) if trial.state.active else None

        return self._rewrite_trial(job_id, trial_id, merge) is not None

    def finish_trial(
        self,
        job_id: str,
        trial_id: str,
        state: TrialState,
        value: float | None = None,
        metrics: dict[str, float] | None = None,
        error: str | None = None,
    ) -> bool:
        end = {"state": state, "value": value, "metrics": metrics or {}, "error": error}
        for attempt in range(_ATTEMPTS):
            trial, ver = self._read_trial(job_id, trial_id)
            if not trial.state.active:
                return False
            done = trial.model_copy(update={**end, "ended_at": now()})
            expires = self._expires()
            actions = [items.trial_update(done, ver, expires), items.counter_update(done, expires)]
            try:
                self._transact([{"Update": {"TableName": self.table_name, **a}} for a in actions])
            except Exception as exc:
                reasons = _reasons(exc)
                if reasons[1:2] == ["ConditionalCheckFailed"]:
                    raise NotFoundError(f"job {job_id!r} not found") from None
                if reasons[:1] != ["ConditionalCheckFailed"] and "TransactionConflict" not in reasons:
                    raise
                _backoff(attempt)  # the trial moved on or a transaction collided: read it again
                continue
            if state is TrialState.COMPLETED and value is not None and items.storable(value):
                self._offer_best(done)
            return True
        raise ConflictError(f"trial {trial_id!r} of job {job_id!r}: too many concurrent writers")

    def _offer_best(self, trial: Trial) -> None:
        try:
            self._call("update_item", **items.best_update(trial))
        except Exception as exc:
            if _code(exc) != _CHECK_FAILED:
                raise

    # task tokens

    def put_task_token(self, job_id: str, token: str) -> None:
        self._call("put_item", Item=self._stamped({**key(job_id, TOKEN_SK), "token": s(token)}))

    def take_task_token(self, job_id: str) -> str | None:
        old = self._call("delete_item", Key=key(job_id, TOKEN_SK), ReturnValues="ALL_OLD").get("Attributes")
        return None if old is None else old["token"]["S"]
