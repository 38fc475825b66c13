"""Meters of what a tuning job costs to orchestrate: Lambda time, DynamoDB units, events, transitions.

Each meter watches one billing dimension while the moto harness runs a job:

- ``LambdaMeter``: every routed invocation (function, seconds), billed as AWS bills it
  (duration rounded up to 1 ms, times the function's memory).
- ``DynamoDBMeter``: botocore hooks on the handlers' session count request units per
  call, from item sizes (moto's own sizing of the stored items): a write costs one unit
  per KB (rounded up) of the larger of the item before and after it; a transactional
  write twice that; a strongly consistent read one unit per 4 KB of what was read
  (``GetItem`` the item, ``Query`` the sum of the items returned), an eventually
  consistent read half. A read that finds nothing still costs its minimum unit.
  Only calls made inside a handler count (``current_function()``): the test's own setup
  and inspection are free.
- ``EventsMeter``: ``PutEvents`` entries the handlers send (custom events).
- ``transitions()``: state transitions of an execution from its history: one per state
  entered (Map iterations' states included), plus retries.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.utilities import bytesize

from hyperstep.stores.dynamodb_items import PK, SK
from tests.integration.moto_harness import ACCOUNT, REGION, Invocation, current_function

WRITES = ("PutItem", "UpdateItem", "DeleteItem")
KB = 1024


def item_size(item: dict[str, Any] | None) -> int:
    """An item's size as DynamoDB counts it (attribute names plus values), 0 for no item."""
    if not item:
        return 0
    return sum(bytesize(name) + DynamoType(value).size() for name, value in item.items())


def stored_size(table: str, key: dict[str, Any]) -> int:
    """Size of the item stored under ``key`` right now (0 when there is none)."""
    found = dynamodb_backends[ACCOUNT][REGION].get_item(table, key)
    return 0 if found is None else found.size()


@dataclass
class FunctionUsage:
    """One function's invocations and their total billed duration."""

    invocations: int = 0
    seconds: float = 0.0
    billed_ms: int = 0
    errors: int = 0


class LambdaMeter:
    """Collects ``Invocation`` records from the harness (thread-safe)."""

    def __init__(self) -> None:
        self.usage: dict[str, FunctionUsage] = defaultdict(FunctionUsage)
        self._lock = threading.Lock()

    def __call__(self, invocation: Invocation) -> None:
        with self._lock:
            usage = self.usage[invocation.function]
            usage.invocations += 1
            usage.seconds += invocation.seconds
            usage.billed_ms += max(1, math.ceil(invocation.seconds * 1000))
            usage.errors += invocation.error is not None


@dataclass
class TableUsage:
    """DynamoDB calls and request units per (function, operation)."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    write_units: Counter[tuple[str, str]] = field(default_factory=Counter)
    read_units: Counter[tuple[str, str]] = field(default_factory=Counter)  # halves for eventual reads


class DynamoDBMeter:
    """Counts request units of the DynamoDB calls handlers make (see the module docstring)."""

    def __init__(self) -> None:
        self.usage = TableUsage()
        self._lock = threading.Lock()

    def install(self, session: Any) -> None:
        """Register on a boto3 session before the handlers build their clients from it."""
        session.events.register("before-parameter-build.dynamodb", self._before)
        session.events.register("after-call.dynamodb", self._after)

    def _targets(self, operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any], int]]:
        """(table, key, new item size) of each item a write touches."""
        if operation == "TransactWriteItems":
            out = []
            for action in params["TransactItems"]:
                ((kind, body),) = action.items()
                out += self._targets("PutItem" if kind == "Put" else "UpdateItem", body)
            return out
        if operation == "PutItem":
            item = params["Item"]
            return [(params["TableName"], {k: item[k] for k in (PK, SK)}, item_size(item))]
        return [(params["TableName"], params["Key"], 0)]

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        function = current_function()
        if function is None:
            return
        context["hyperstep_consistent"] = bool(params.get("ConsistentRead", False))
        if model.name not in WRITES and model.name != "TransactWriteItems":
            return
        targets = self._targets(model.name, params)
        context["hyperstep_cost"] = [(t, k, max(size, stored_size(t, k))) for t, k, size in targets]

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        function = current_function()
        if function is None:
            return
        name, where = model.name, (function, model.name)
        with self._lock:
            self.usage.calls[where] += 1
            if name in WRITES or name == "TransactWriteItems":
                factor = 2 if name == "TransactWriteItems" else 1
                for table, key, before in context.get("hyperstep_cost", []):
                    size = max(before, stored_size(table, key))
                    self.usage.write_units[where] += factor * max(1, math.ceil(size / KB))
            elif name in ("GetItem", "Query"):
                items = [parsed["Item"]] if parsed.get("Item") else parsed.get("Items", [])
                units = max(1, math.ceil(sum(item_size(item) for item in items) / (4 * KB)))
                self.usage.read_units[where] += units if context.get("hyperstep_consistent") else units / 2


class EventsMeter:
    """Counts ``PutEvents`` entries handlers send (custom events, billed per entry)."""

    def __init__(self) -> None:
        self.entries: Counter[str] = Counter()

    def install(self, session: Any) -> None:
        session.events.register("before-parameter-build.events.PutEvents", self._count)

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        function = current_function()
        if function is not None:
            self.entries[function] += len(params.get("Entries", []))


def transitions(history: list[dict[str, Any]]) -> Counter[str]:
    """State transitions by state name: each state entered (in Map iterations too)."""
    return Counter(e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e)
