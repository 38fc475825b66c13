"""Wiring: build the service a handler uses from the configuration it was given.

Handlers pass in their environment (they are the only readers of ``os.environ``).
``HYPERSTEP_RUNTIME=local`` means "inside a local run": the handler uses the service of
the active ``LocalRuntime``. Otherwise the AWS adapters are built from:

- ``HYPERSTEP_TABLE``: the DynamoDB table;
- ``HYPERSTEP_STATE_MACHINE_ARN``: the tuning state machine (for starting executions);
- ``HYPERSTEP_EVENT_BUS``: where completion events go (default ``default``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache

from hyperstep.service import TuningService


def service_factory(env: Mapping[str, str]) -> Callable[[], TuningService]:
    """A function that returns the service for this environment, built on first use."""
    if env.get("HYPERSTEP_RUNTIME") == "local":
        from hyperstep.local.runtime import active_runtime

        return lambda: active_runtime().service
    settings = dict(env)
    return cache(lambda: build_aws_service(settings))


def build_aws_service(env: Mapping[str, str]) -> TuningService:
    """The service wired to DynamoDB, Step Functions, EventBridge, SageMaker and Batch."""
    import boto3

    from hyperstep.aws import EventBridgePublisher, StepFunctionsOrchestrator
    from hyperstep.backends.batch import BatchBackend
    from hyperstep.backends.sagemaker import SageMakerBackend
    from hyperstep.stores.dynamodb import DynamoDBStore

    bus = env.get("HYPERSTEP_EVENT_BUS", "default")
    return TuningService(
        store=DynamoDBStore(env["HYPERSTEP_TABLE"]),
        backends={
            "sagemaker": SageMakerBackend(boto3.client("sagemaker"), event_bus=bus),
            "batch": BatchBackend(boto3.client("batch"), event_bus=bus),
        },
        orchestrator=StepFunctionsOrchestrator(
            boto3.client("stepfunctions"), env.get("HYPERSTEP_STATE_MACHINE_ARN", "")
        ),
        publisher=EventBridgePublisher(boto3.client("events"), bus),
    )
