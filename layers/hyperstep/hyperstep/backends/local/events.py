"""The event a local trial's end becomes on the in-process bus.

When a process ends, the local runtime publishes its ``TrialResult`` as the detail of a
``hyperstep.local`` / ``Local Trial State Change`` event, which collect reads back as it
is. No EventBridge rule is needed: the in-process bus delivers to collect directly.
"""

from __future__ import annotations

from typing import Any

from hyperstep.messages import TrialResult

LOCAL_EVENT_SOURCE = "hyperstep.local"
LOCAL_EVENT_DETAIL_TYPE = "Local Trial State Change"


def parse_detail(detail: dict[str, Any]) -> TrialResult:
    """The ``TrialResult`` the event carries."""
    return TrialResult.model_validate(detail)
