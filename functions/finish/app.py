"""Finish Job: store the job's final status and best trial; emit the completion event."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from hyperstep.service import FinishRequest
from hyperstep.wiring import service_factory

logger = Logger()
tracer = Tracer()
metrics = Metrics()
service = service_factory(os.environ)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # responses hold hyperparameter values
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = FinishRequest.model_validate(event)
    logger.append_keys(job_id=request.job_id)
    summary = service().finish(request)
    metrics.add_dimension(name="JobId", value=request.job_id)
    metrics.add_metric(name=f"Jobs{summary['status'].capitalize()}", unit=MetricUnit.Count, value=1)
    if summary["best_value"] is not None:
        metrics.add_metric(name="BestValue", unit=MetricUnit.NoUnit, value=summary["best_value"])
    logger.info("finished", extra={"status": summary["status"], "trials": summary["trials"]})
    return summary
