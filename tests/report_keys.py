"""Metric events signed as a trial's script signs them (``hyperstep.report_signing``), for
tests that build "Trial Metric Reported" events by hand rather than through ``hyperstep.report``
in the container's environment."""

from __future__ import annotations

from typing import Any

from hyperstep.backends.naming import METRIC_EVENT_SOURCE
from hyperstep.messages import TrialMetric
from hyperstep.report_signing import signature
from hyperstep.stores.base import TrialStore


def signed(store: TrialStore, event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with the signature its trial's key gives, if it is a metric report of a
    trial that has a key; any other event as it is."""
    if event.get("source") != METRIC_EVENT_SOURCE:
        return event
    metric = TrialMetric.model_validate(event["detail"])
    key = store.report_key(metric.job_id, metric.trial_id)
    if key is None:
        return event
    return {**event, "detail": {**event["detail"], "signature": signature(key, metric.signed_message())}}
