"""Launch Trial: start one trial on its backend (one Map iteration)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperstep.service import LaunchRequest
from hyperstep.wiring import service_factory

logger = Logger()
tracer = Tracer()
service = service_factory(os.environ)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = LaunchRequest.model_validate(event)
    logger.append_keys(job_id=request.job_id, trial_id=request.trial_id)
    return service().launch(request)
