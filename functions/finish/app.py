"""Finish Job: store the job's final status and best trial; emit the completion event."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperstep.handlers import Telemetry, handle_finish
from hyperstep.wiring import aws_service_factory

logger = Logger()
tracer = Tracer()
metrics = Metrics()
telemetry = Telemetry(logger, metrics)
service = aws_service_factory(os.environ)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # responses hold hyperparameter values
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle_finish(service(), event, telemetry)
