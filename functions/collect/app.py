"""Collect: record a trial's end, or metrics it reported, from an EventBridge event.

Each result is recorded exactly once (the store's conditional write): events that
arrive twice, late or out of order change nothing. A malformed event is logged and
dropped rather than retried, since a retry cannot mend it.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperstep.backends.base import TrialResult
from hyperstep.events import EventError, parse_event
from hyperstep.wiring import service_factory

logger = Logger()
tracer = Tracer()
metrics = Metrics()
service = service_factory(os.environ)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    try:
        parsed = parse_event(event)
    except EventError as exc:
        logger.error("dropped event", extra={"reason": str(exc), "event_id": event.get("id")})
        return {"recorded": False, "reason": str(exc)}
    if parsed is None:
        return {"recorded": False, "reason": "no action needed"}
    logger.append_keys(job_id=parsed.job_id, trial_id=parsed.trial_id)
    recorded = service().record(parsed)
    logger.info("collected", extra={"kind": type(parsed).__name__, "recorded": recorded})
    if recorded and isinstance(parsed, TrialResult):
        count_result(parsed)
    return {"recorded": recorded}


def count_result(result: TrialResult) -> None:
    """Per job: one more completed, failed or stopped trial, and the best value so far."""
    store = service().store
    trial, job = store.get_trial(result.job_id, result.trial_id), store.get_job(result.job_id)
    metrics.add_dimension(name="JobId", value=job.id)
    metrics.add_metric(name=f"Trials{trial.state.value.capitalize()}", unit=MetricUnit.Count, value=1)
    if job.best_value is not None:
        metrics.add_metric(name="BestValue", unit=MetricUnit.NoUnit, value=job.best_value)
