"""Launch Trial: start one trial on its backend (one Map iteration)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperstep.handlers import Telemetry, handle_launch
from hyperstep.wiring import aws_service_factory

logger = Logger()
tracer = Tracer()
telemetry = Telemetry(log=logger)
service = aws_service_factory(os.environ)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle_launch(service(), event, telemetry)
