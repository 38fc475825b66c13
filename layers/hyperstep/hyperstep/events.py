"""EventBridge events that end a trial or report its metrics, parsed into trial terms.

Each backend declares the events that end its trials (``BackendDescriptor.events`` in
``hyperstep.backends.registry``): on AWS, SageMaker's "Training Job State Change" and
Batch's "Job State Change"; on a laptop, the local bus's "Local Trial State Change". One
more kind is every backend's: ``hyperstep.trial`` / ``Trial Metric Reported``, what
``hyperstep.reporting.report`` sends from inside a training container.

``parse_event`` returns a final ``TrialResult``, an intermediate ``TrialMetric``, or None
when the event needs no action (a job still running, or a job hyperstep did not start).
AWS adds fields to events over time, so the envelope and AWS-shaped details ignore
unknown fields; only our own details are strict.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hyperstep.backends.naming import METRIC_EVENT_DETAIL_TYPE, METRIC_EVENT_SOURCE
from hyperstep.backends.registry import BACKENDS
from hyperstep.errors import HyperstepError
from hyperstep.messages import TrialEvent, TrialMetric, TrialResult

RULE_PATTERNS: dict[str, dict[str, Any]] = {
    # AWS services emit to the account's default bus: the backends' rules belong there.
    **{name: dict(backend.rule_pattern) for name, backend in BACKENDS.items() if backend.rule_pattern is not None},
    # On the bus the backends name in HYPERSTEP_EVENT_BUS.
    "metrics": {"source": [METRIC_EVENT_SOURCE], "detail-type": [METRIC_EVENT_DETAIL_TYPE]},
}
"""EventBridge rule patterns that deliver to collect only the events of hyperstep's jobs."""

_PARSERS: dict[tuple[str, str], Callable[[dict[str, Any]], TrialEvent | None]] = {
    **{(kind.source, kind.detail_type): kind.parse for backend in BACKENDS.values() for kind in backend.events},
    (METRIC_EVENT_SOURCE, METRIC_EVENT_DETAIL_TYPE): TrialMetric.model_validate,
}
"""Each kind of event, by (source, detail-type), with what reads its detail."""


class EventError(HyperstepError, ValueError):
    """An event is malformed or of a kind hyperstep does not handle."""


class EventBridgeEvent(BaseModel):
    """The envelope every EventBridge event shares."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    version: str
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str] = Field(default_factory=list)
    detail: dict[str, Any]


def _in_region(parsed: TrialEvent | None, region: str) -> TrialEvent | None:
    """A trial's usage is priced in the region its AWS event came from."""
    if isinstance(parsed, TrialResult) and parsed.usage is not None and parsed.usage.region is None:
        return parsed.model_copy(update={"usage": parsed.usage.model_copy(update={"region": region})})
    return parsed


def parse_event(event: dict[str, Any]) -> TrialEvent | None:
    """Parse one EventBridge event; raise ``EventError`` when it is malformed or unknown."""
    try:
        envelope = EventBridgeEvent.model_validate(event)
        kind = (envelope.source, envelope.detail_type)
        parse = _PARSERS.get(kind)
        if parse is not None:
            parsed = parse(envelope.detail)
            return _in_region(parsed, envelope.region) if envelope.source.startswith("aws.") else parsed
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise EventError(f"malformed event: {where}: {first['msg']}") from None
    raise EventError(f"not a trial event: source {kind[0]!r}, detail-type {kind[1]!r}")
