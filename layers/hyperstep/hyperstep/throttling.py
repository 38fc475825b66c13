"""Throttling per caller: a token bucket per owner, so one principal cannot use up the API.

API Gateway throttles a stage (all callers together) and, through usage plans, per API key;
IAM-signed callers have no API key, so nothing in API Gateway limits one principal. The
API function therefore keeps a token bucket per owner (``hyperstep.owners``: a role's
sessions share their role's bucket, as they share its jobs): it holds at most ``burst``
tokens, refills at ``rate`` tokens a second, and each request takes one; a request that
finds less than one is answered 429 with ``Retry-After`` (whole seconds until a token is
back) before anything else is read. The stage's own limit still caps all callers together.

On AWS the buckets live in the job table (``DynamoDBThrottle``: item ``THROTTLE#<owner>`` /
``BUCKET``, tokens, time and a version, expiring a day after the last request): each request
reads its bucket and writes it back on the condition that its version is unchanged (two concurrent
requests of one caller never both spend the last token; the loser reads again). Each
request costs one read and one write of its caller's bucket (on top of the request's own).
A bucket that cannot be read or written (DynamoDB throttled) lets the request through: the
limit protects the service, it must not take it down (the API logs it).
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_ATTEMPTS = 5
BUCKET_TTL_SECONDS = 86400


@dataclass(frozen=True)
class Bucket:
    """One caller's tokens at ``at`` (epoch seconds)."""

    tokens: float
    at: float


@dataclass(frozen=True)
class Limit:
    """``rate`` tokens a second refill a bucket of at most ``burst`` tokens; a request takes one."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if not (self.rate > 0 and self.burst >= 1):
            raise ValueError(f"a caller limit needs rate > 0 and burst >= 1, got {self.rate} and {self.burst}")

    def refilled(self, bucket: Bucket | None, now: float) -> Bucket:
        """The bucket at ``now``: full when new, refilled for the time passed (a clock that
        went back refills nothing)."""
        if bucket is None:
            return Bucket(self.burst, now)
        return Bucket(min(self.burst, bucket.tokens + max(0.0, now - bucket.at) * self.rate), now)

    def wait(self, bucket: Bucket) -> float:
        """Seconds until ``bucket`` holds a whole token again (0 when it does)."""
        return max(0.0, (1 - bucket.tokens) / self.rate)


class CallerThrottle(ABC):
    """Decides whether one more request of a caller goes through now."""

    @abstractmethod
    def take(self, owner: str) -> float | None:
        """Take a token of ``owner``'s bucket: None when the request may go on, else the
        seconds it should wait before trying again."""


def retry_after(seconds: float) -> str:
    """``Retry-After``'s value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


class DynamoDBThrottle(CallerThrottle):
    """Buckets in the job table (see the module docstring); ``client`` a boto3 DynamoDB client."""

    def __init__(self, client: Any, table_name: str, limit: Limit, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.table_name = table_name
        self.limit = limit
        self.clock = clock

    @staticmethod
    def key(owner: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"THROTTLE#{owner}"}, "sk": {"S": "BUCKET"}}

    def take(self, owner: str) -> float | None:
        for _ in range(_ATTEMPTS):
            found = self.client.get_item(TableName=self.table_name, Key=self.key(owner), ConsistentRead=True)
            item = found.get("Item")
            stored = None if item is None else Bucket(float(item["tokens"]["N"]), float(item["at"]["N"]))
            bucket = self.limit.refilled(stored, self.clock())
            if bucket.tokens < 1:
                return self.limit.wait(bucket)
            if self._write(owner, Bucket(bucket.tokens - 1, bucket.at), item):
                return None
        return self.limit.wait(Bucket(0.0, 0.0))  # the caller's own requests keep colliding: it is busy enough

    def _write(self, owner: str, bucket: Bucket, read: dict[str, Any] | None) -> bool:
        """Store the bucket if nobody wrote it since ``read``; False when someone did."""
        version = 0 if read is None else int(read["ver"]["N"])
        item = {
            **self.key(owner),
            "tokens": {"N": repr(round(bucket.tokens, 6))},
            "at": {"N": repr(round(bucket.at, 6))},
            "ver": {"N": str(version + 1)},
            "expires_at": {"N": str(int(bucket.at) + BUCKET_TTL_SECONDS)},
        }
        if read is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:  # a version, not the time: two writes may carry the same time
            condition = {
                "ConditionExpression": "ver = :ver",
                "ExpressionAttributeValues": {":ver": read["ver"]},
            }
        try:
            self.client.put_item(TableName=self.table_name, Item=item, **condition)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True
