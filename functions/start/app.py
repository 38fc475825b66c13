"""Start Scheduled Job: one tick of a recurring schedule starts a fresh job from its spec.

EventBridge Scheduler invokes this function with the ``ScheduleInput`` the API stored in
the schedule (``{"schedule_name": ..., "owner": ...}``); the spec is the one the API kept in
the table for that schedule (a schedule made before specs were kept apart still carries it
in its input). The spec is validated again
(a stored spec may predate a change of the spec model) and checked against the
deployment's guardrails (``hyperstep.guardrails``, from this function's environment);
a spec that cannot start a job (invalid, outside the guardrails, a dollar budget without
prices) skips the tick, logged and counted (``ScheduledTicksRefused``): every retry would
fail alike. Any other failure fails the invocation: Scheduler invokes asynchronously, so
Lambda retries it twice and then sends it to the events dead-letter queue (the template's
``EventInvokeConfig``), which is alarmed. Each retry carries on the job the first attempt
created (``hyperstep.recurring.tick_job_id``): a tick starts one job at most.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperstep.guardrails import Guardrails
from hyperstep.handlers import Telemetry, handle_start
from hyperstep.wiring import aws_service_factory

logger = Logger()
tracer = Tracer()
metrics = Metrics()
telemetry = Telemetry(logger, metrics)
service = aws_service_factory(os.environ)
guardrails = Guardrails.from_env(os.environ)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle_start(service(), event, telemetry, guardrails=guardrails, request_id=context.aws_request_id)
