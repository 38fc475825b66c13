"""Suggest Trials: fill the job's free parallel slots with new trials, or say it is done.

No Powertools Tracer here, unlike the other handlers: importing the X-Ray SDK builds an
X-Ray client for sampling rules and costs about half a second of every cold start (see
scripts/cold_import.py), on the one function whose latency the loop waits for. Lambda's
active tracing (``Tracing: Active``) still records each invocation in the trace.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperstep.service import SuggestRequest
from hyperstep.wiring import service_factory

logger = Logger()
metrics = Metrics()
service = service_factory(os.environ)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = SuggestRequest.model_validate(event)
    logger.append_keys(job_id=request.job_id)
    plan = service().suggest(request)
    metrics.add_dimension(name="JobId", value=request.job_id)
    metrics.add_metric(name="TrialsStarted", unit=MetricUnit.Count, value=len(plan.trial_ids))
    logger.info("planned", extra={"trials": len(plan.trial_ids), "done": plan.done, "reason": plan.reason})
    return plan.model_dump(mode="json")
