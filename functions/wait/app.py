"""Wait For Results: park the execution's task token until a result wakes it."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperstep.handlers import Telemetry, handle_wait
from hyperstep.wiring import aws_service_factory

logger = Logger()
telemetry = Telemetry(log=logger)
service = aws_service_factory(os.environ)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle_wait(service(), event, telemetry)
