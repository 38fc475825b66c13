"""Start Scheduled Job: one tick of a recurring schedule starts a fresh job from its spec.

EventBridge Scheduler invokes this function with the ``ScheduleInput`` the API stored in
the schedule (``{"schedule_name": ..., "spec": {...}}``). The spec is validated again
(a stored spec may predate a change of the spec model); an invalid one fails the
invocation, which Scheduler retries and then drops.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperstep.recurring import ScheduleInput, start_scheduled_job
from hyperstep.spec import parse_spec
from hyperstep.wiring import service_factory

logger = Logger()
tracer = Tracer()
metrics = Metrics()
service = service_factory(os.environ)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    tick = ScheduleInput.model_validate(event)
    logger.append_keys(schedule=tick.schedule_name)
    job = start_scheduled_job(service(), parse_spec(tick.spec))
    if job is None:
        logger.info("tick skipped: the previous run is still going")
        return {"skipped": "the previous run is still going"}
    metrics.add_metric(name="ScheduledJobsStarted", unit=MetricUnit.Count, value=1)
    logger.info("scheduled job started", extra={"job_id": job.id})
    return {"job_id": job.id, "status": job.status.value, "execution_id": job.execution_id}
