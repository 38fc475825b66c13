"""Reaper (every few minutes): reconcile what events missed and wake waiting executions.

Fetches results of running trials whose end event never arrived (Describe* calls), fails
trials past their timeout plus a grace period, settles trials that ended without their
final objective and waited the grace for it (from SageMaker's Describe or the Batch job's
CloudWatch log, else failed), and wakes every unfinished job's execution; a job no round
waits on whose execution ended with its status-change event lost (DescribeExecution) is
closed as Finish closes it.
``HYPERSTEP_REAPER_GRACE_SECONDS`` sets the grace (default 300). A pass starts no job in
its last ``MARGIN_SECONDS`` (a fifth of its time, when shorter) before the function's
timeout: a job's trials take seconds; a pass cut short logs the jobs it left, which the next
pass, in a new order, takes.
"""

from __future__ import annotations

import os
import time

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
MARGIN_SECONDS = 60.0


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    remaining = context.get_remaining_time_in_millis() / 1000
    until = time.time() + remaining - min(MARGIN_SECONDS, remaining / 5)
    return handle_reaper(service(), event, telemetry, grace_seconds=GRACE_SECONDS, until=until)
