"""The events a simulated trial becomes on the in-process bus.

Its end is a ``hyperstep.simulated`` / ``Simulated Trial State Change`` event whose
detail is the ``TrialResult``; its step reports are the ``Trial Metric Reported`` events
every backend's scripts send (``hyperstep.report``), so collect reads them on the same
path as any trial's. No EventBridge rule: simulated trials run on a laptop only.
"""

from __future__ import annotations

from typing import Any

from hyperstep.backends.naming import METRIC_EVENT_DETAIL_TYPE, METRIC_EVENT_SOURCE
from hyperstep.messages import TrialEvent, TrialResult

SIMULATED_EVENT_SOURCE = "hyperstep.simulated"
SIMULATED_EVENT_DETAIL_TYPE = "Simulated Trial State Change"
SOURCES = (SIMULATED_EVENT_SOURCE, METRIC_EVENT_SOURCE)
"""The sources of the events simulated trials publish (what collect subscribes to)."""


def event_of(event: TrialEvent) -> tuple[str, str, dict[str, Any]]:
    """The source, detail-type and detail of the bus event for a trial's result or report."""
    detail = event.model_dump(mode="json")
    if isinstance(event, TrialResult):
        return SIMULATED_EVENT_SOURCE, SIMULATED_EVENT_DETAIL_TYPE, detail
    return METRIC_EVENT_SOURCE, METRIC_EVENT_DETAIL_TYPE, detail


def parse_detail(detail: dict[str, Any]) -> TrialResult:
    """The ``TrialResult`` a state-change event carries."""
    return TrialResult.model_validate(detail)
