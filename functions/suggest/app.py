"""Suggest Trials: fill the job's free parallel slots with new trials, or say it is done.

No Powertools Tracer here, unlike the other handlers: importing the X-Ray SDK builds an
X-Ray client for sampling rules and costs about half a second of every cold start (see
scripts/cold_import.py), on the one function whose latency the loop waits for. Lambda's
active tracing (``Tracing: Active``) still records each invocation in the trace.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperstep.handlers import Telemetry, handle_suggest
from hyperstep.wiring import aws_service_factory

logger = Logger()
metrics = Metrics()
telemetry = Telemetry(logger, metrics)
service = aws_service_factory(os.environ)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle_suggest(service(), event, telemetry)
