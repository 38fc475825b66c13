"""Collect: record a trial's end, or metrics it reported, from an EventBridge event.

Each result is recorded exactly once (the store's conditional write): events that
arrive twice, late or out of order change nothing. A malformed event is logged and
dropped rather than retried, since a retry cannot mend it (``handlers.handle_collect``).
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperstep.handlers import Telemetry, handle_collect
from hyperstep.wiring import aws_service_factory

logger = Logger()
tracer = Tracer()
metrics = Metrics()
telemetry = Telemetry(logger, metrics)
service = aws_service_factory(os.environ)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict | list, context: LambdaContext) -> dict:
    return handle_collect(service(), event, telemetry)
