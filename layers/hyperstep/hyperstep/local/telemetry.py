"""What the handlers of a local run log and count, written where a Lambda's output would go.

On AWS a function's Powertools ``Logger`` and ``Metrics`` print JSON lines that CloudWatch
Logs keeps (metrics in the Embedded Metric Format, which CloudWatch turns into metrics).
A local run writes the same lines to one file, ``handlers.log`` beside the store: log
records at ``WARNING`` and above, and each invocation's metrics as one EMF line (one a
job for the reaper, which flushes after each), the namespace and ``service`` dimension
``hyperstep``. Invocations run on several threads at once (Map iterations, the bus); each
gets its own ``Telemetry``, flushed when it ends.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from hyperstep.handlers import QUIET, Telemetry

NAMESPACE = SERVICE = "hyperstep"


class HandlerLog:
    """One file (or stream) shared by every invocation of a local run's handlers."""

    def __init__(self, stream: TextIO, level: int = logging.WARNING) -> None:
        self.stream = stream
        self.level = level
        self._lock = threading.Lock()

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, default=str)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def invocation(self, function: str) -> Invocation:
        """Telemetry for one invocation of ``function``; its metrics are written when it ends,
        also when the handler raised (as Powertools' ``log_metrics`` does)."""
        return Invocation(self, function)


class Invocation:
    """One invocation's ``Telemetry`` as a context: entered, it is the telemetry; left, its
    metrics are flushed. A class, not a generator driven through ``contextlib``: a
    simulated run makes 28 invocations a trial."""

    __slots__ = ("metrics", "telemetry")

    def __init__(self, sink: HandlerLog, function: str) -> None:
        self.metrics = InvocationMetrics(sink)
        self.telemetry = Telemetry(log=InvocationLog(sink, function), metrics=self.metrics)

    def __enter__(self) -> Telemetry:
        return self.telemetry

    def __exit__(self, *_: object) -> None:
        self.metrics.flush_metrics()


class InvocationMetrics:
    """The ``Meter`` of one invocation: Powertools' EMF provider, made at the first metric.
    Most invocations count nothing (collect of a step report), and making a provider
    costs about 16 us here (it lists every unit): a simulated run makes 28 a trial."""

    def __init__(self, sink: HandlerLog) -> None:
        self.sink = sink
        self.provider: AmazonCloudWatchEMFProvider | None = None

    def flush_metrics(self) -> None:
        """Write the metrics added so far as one EMF line (none when there are none) and
        start anew, without the dimensions added (Powertools' ``Metrics.flush_metrics``)."""
        if self.provider is not None and self.provider.metric_set:
            self.sink.write(self.provider.serialize_metric_set())
            self.provider.clear_metrics()

    def _made(self) -> AmazonCloudWatchEMFProvider:
        if self.provider is None:
            self.provider = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=SERVICE)
        return self.provider

    def add_dimension(self, name: str, value: str) -> None:
        self._made().add_dimension(name=name, value=value)

    def add_metric(self, name: str, unit: str, value: float) -> None:
        self._made().add_metric(name=name, unit=unit, value=value)


class InvocationLog:
    """The ``Log`` of one invocation: JSON lines with its keys, at the file's level and above."""

    def __init__(self, sink: HandlerLog, function: str) -> None:
        self.sink = sink
        self.keys: dict[str, Any] = {"service": SERVICE, "function_name": f"hyperstep-{function}"}

    def append_keys(self, **keys: Any) -> None:
        self.keys.update(keys)

    def info(self, msg: str, *, extra: Mapping[str, Any] | None = None) -> None:
        self._log(logging.INFO, msg, extra)

    def error(self, msg: str, *, extra: Mapping[str, Any] | None = None) -> None:
        self._log(logging.ERROR, msg, extra)

    def _log(self, level: int, msg: str, extra: Mapping[str, Any] | None) -> None:
        if level >= self.sink.level:
            timestamp = datetime.now(UTC).isoformat(timespec="milliseconds")
            record = {"level": logging.getLevelName(level), "message": msg, "timestamp": timestamp}
            self.sink.write({**record, **self.keys, **(extra or {})})


class Silent:
    """No handler output at all (a runtime without a ``handlers.log``)."""

    @contextmanager
    def invocation(self, function: str) -> Iterator[Telemetry]:
        yield QUIET
