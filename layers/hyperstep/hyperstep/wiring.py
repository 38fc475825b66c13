"""Wiring: build the service a handler uses from the configuration it was given.

Handlers pass in their environment (they are the only readers of ``os.environ``).
``HYPERSTEP_RUNTIME=local`` means "inside a local run": the handler uses the service of
the active ``LocalRuntime``. Otherwise the AWS adapters are built from:

- ``HYPERSTEP_TABLE``: the DynamoDB table;
- ``HYPERSTEP_STATE_MACHINE_ARN``: the tuning state machine (for starting executions);
- ``HYPERSTEP_EVENT_BUS``: where completion events and training scripts' metrics go
  (default ``default``);
- ``HYPERSTEP_RETENTION_DAYS``: how long DynamoDB keeps items (TTL; default 90).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache

from hyperstep.service import TuningService


def service_factory(env: Mapping[str, str]) -> Callable[[], TuningService]:
    """A function that returns the service for this environment.

    ``env`` is read on every call (handlers pass ``os.environ`` itself), so a process can
    host a local run and AWS-mode handlers one after the other; the AWS service is built
    once, on first use.
    """
    aws = cache(lambda: build_aws_service(dict(env)))

    def service() -> TuningService:
        if env.get("HYPERSTEP_RUNTIME") == "local":
            from hyperstep.local.runtime import active_runtime

            return active_runtime().service
        return aws()

    service.cache_clear = aws.cache_clear  # type: ignore[attr-defined]
    return service


def build_aws_service(env: Mapping[str, str]) -> TuningService:
    """The service wired to DynamoDB, Step Functions, EventBridge, SageMaker and Batch
    (with CloudWatch Logs, where the reaper reads a Batch job's final metrics)."""
    import boto3

    from hyperstep.aws import EventBridgePublisher, StepFunctionsOrchestrator
    from hyperstep.backends.batch import BatchBackend
    from hyperstep.backends.sagemaker import SageMakerBackend
    from hyperstep.stores.dynamodb import DynamoDBStore

    bus = env.get("HYPERSTEP_EVENT_BUS", "default")
    return TuningService(
        store=DynamoDBStore(env["HYPERSTEP_TABLE"], retention_days=int(env.get("HYPERSTEP_RETENTION_DAYS", "90"))),
        backends={
            "sagemaker": SageMakerBackend(boto3.client("sagemaker"), event_bus=bus),
            "batch": BatchBackend(boto3.client("batch"), event_bus=bus, logs=boto3.client("logs")),
        },
        orchestrator=StepFunctionsOrchestrator(
            boto3.client("stepfunctions"), env.get("HYPERSTEP_STATE_MACHINE_ARN", "")
        ),
        publisher=EventBridgePublisher(boto3.client("events"), bus),
    )
