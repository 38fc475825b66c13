"""Wait For Results: park the execution's task token until a result wakes it."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperstep.service import WaitRequest
from hyperstep.wiring import service_factory

logger = Logger()
service = service_factory(os.environ)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = WaitRequest.model_validate(event)
    logger.append_keys(job_id=request.job_id)
    service().wait(request)
    return {"job_id": request.job_id}
