"""Collect: record a trial's end (or intermediate metrics) from an event, exactly once."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperstep.backends.base import TrialResult
from hyperstep.config import service_factory

logger = Logger()
tracer = Tracer()
service = service_factory(os.environ)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    result = TrialResult.model_validate(event["detail"])
    logger.append_keys(job_id=result.job_id, trial_id=result.trial_id)
    recorded = service().collect(result)
    logger.info("collected", extra={"state": result.state, "recorded": recorded})
    return {"recorded": recorded}
