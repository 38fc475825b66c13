"""Reaper (every few minutes): reconcile what events missed and wake waiting executions.

Fetches results of running trials whose end event never arrived (Describe* calls), fails
trials past their timeout plus a grace period, settles trials that ended without their
final objective and waited the grace for it (from SageMaker's Describe or the Batch job's
CloudWatch log, else failed), and wakes every unfinished job's execution.
``HYPERSTEP_REAPER_GRACE_SECONDS`` sets the grace (default 300).
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperstep.handlers import REAPER_GRACE_SECONDS, Telemetry, handle_reaper
from hyperstep.wiring import aws_service_factory

logger = Logger()
tracer = Tracer()
metrics = Metrics()
telemetry = Telemetry(logger, metrics)
service = aws_service_factory(os.environ)
GRACE_SECONDS = float(os.environ.get("HYPERSTEP_REAPER_GRACE_SECONDS", str(REAPER_GRACE_SECONDS)))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle_reaper(service(), event, telemetry, grace_seconds=GRACE_SECONDS)
