"""The AWS wiring: the service and the recurring-schedule adapter, built from a function's environment.

The handlers (``functions/<name>/app.py``) are the only readers of ``os.environ``: they
pass it here as a plain ``Mapping``. The variables, as ``template.yaml`` sets them:

- ``HYPERSTEP_TABLE``: the DynamoDB table;
- ``HYPERSTEP_STATE_MACHINE_ARN``: the tuning state machine (for starting executions);
- ``HYPERSTEP_EVENT_BUS``: where completion events and training scripts' metrics go
  (default ``default``);
- ``HYPERSTEP_RETENTION_DAYS``: how long DynamoDB keeps items (TTL; default 90);
- ``HYPERSTEP_STACK_ID``: the deployment's id, tagged on every training job and Batch job
  (``hyperstep:stack``): the functions' grants on them hold only with it (unset: no tag);
- ``HYPERSTEP_SECRETS_PREFIX``: the only SSM parameters and secrets a trial's secret references
  may name (``hyperstep.secrets``; unset: not checked here, Launch's IAM role decides);
- ``HYPERSTEP_START_FUNCTION_ARN``, ``HYPERSTEP_SCHEDULER_ROLE_ARN``,
  ``HYPERSTEP_SCHEDULE_GROUP`` (default ``hyperstep``): recurring tuning (the API only);
- ``HYPERSTEP_CALLER_RATE``, ``HYPERSTEP_CALLER_BURST``: each caller's request rate (per
  second) and burst (``hyperstep.throttling``; the API only; unset: no limit per caller).

A laptop's wiring is ``hyperstep.local.runtime``; moto's is ``tests/integration/moto_harness.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from hyperstep.service import TuningService

if TYPE_CHECKING:
    from hyperstep.recurring import RecurringSchedules
    from hyperstep.throttling import CallerThrottle


class LazyClient:
    """A boto3 client made on first use: making one loads its service's model (SageMaker's
    takes tens of milliseconds), so a cold start builds only the clients its call uses
    (Suggest launching on SageMaker needs neither Batch's, Logs', EventBridge's nor Step
    Functions'). Any attribute is the real client's."""

    _making = threading.Lock()
    """One client made at a time: boto3's default session is not thread-safe."""

    def __init__(self, make: Callable[[str], Any], service: str) -> None:
        self._make, self._service = make, service
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            with LazyClient._making:
                if self._client is None:
                    self._client = self._make(self._service)
        return getattr(self._client, name)


def lazy_clients(make: Callable[[str], Any]) -> Callable[[str], LazyClient]:
    """``make`` (``boto3.client``), each client made on first use (``LazyClient``)."""
    return lambda service: LazyClient(make, service)


def aws_service_factory(env: Mapping[str, str]) -> Callable[[], TuningService]:
    """A function that builds the AWS service on its first call and returns it after.

    Handlers make it at module level and call it per invocation: building the service
    creates boto3 clients, which need a region, so it waits until a handler runs (a
    module that only imports the handler, as the tests do, needs none). ``env`` is read
    then, not now.
    """
    return cache(lambda: build_aws_service(env))


def build_aws_service(env: Mapping[str, str]) -> TuningService:
    """The service wired to DynamoDB, Step Functions, EventBridge, SageMaker and Batch
    (with CloudWatch Logs, where the reaper reads a Batch job's final metrics, and SSM
    Parameter Store and Secrets Manager, where Launch reads secret references)."""
    import boto3

    from hyperstep.aws import AwsSecrets, EventBridgePublisher, StepFunctionsOrchestrator
    from hyperstep.backends.descriptor import BackendContext
    from hyperstep.backends.registry import aws_backends
    from hyperstep.stores.dynamodb import DynamoDBStore

    bus = env.get("HYPERSTEP_EVENT_BUS", "default")
    client = lazy_clients(boto3.client)
    secrets = AwsSecrets(boto3.client, env.get("HYPERSTEP_SECRETS_PREFIX"), env.get("HYPERSTEP_SECRETS_ARN"))
    return TuningService(
        store=DynamoDBStore(env["HYPERSTEP_TABLE"], retention_days=int(env.get("HYPERSTEP_RETENTION_DAYS", "90"))),
        backends=aws_backends(
            BackendContext(client=client, event_bus=bus, secrets=secrets, stack=env.get("HYPERSTEP_STACK_ID"))
        ),
        orchestrator=StepFunctionsOrchestrator(client("stepfunctions"), env.get("HYPERSTEP_STATE_MACHINE_ARN", "")),
        publisher=EventBridgePublisher(client("events"), bus),
    )


def schedules_factory(env: Mapping[str, str]) -> Callable[[], RecurringSchedules]:
    """A function returning the EventBridge Scheduler adapter configured by ``env``.

    ``HYPERSTEP_START_FUNCTION_ARN`` and ``HYPERSTEP_SCHEDULER_ROLE_ARN`` are required;
    ``HYPERSTEP_SCHEDULE_GROUP`` defaults to ``hyperstep``. Missing settings raise
    ``SchedulingUnavailable`` when a schedule is asked for, not at import. The adapter is
    built once and kept, as the AWS service is.
    """
    settings = dict(env)

    def build() -> RecurringSchedules:
        function_arn = settings.get("HYPERSTEP_START_FUNCTION_ARN")
        role_arn = settings.get("HYPERSTEP_SCHEDULER_ROLE_ARN")
        from hyperstep.recurring import DEFAULT_GROUP, RecurringSchedules, SchedulingUnavailable

        if not function_arn or not role_arn:
            raise SchedulingUnavailable("recurring tuning needs the deployment's scheduler settings")
        import boto3

        group = settings.get("HYPERSTEP_SCHEDULE_GROUP", DEFAULT_GROUP)
        return RecurringSchedules(boto3.client("scheduler"), group, function_arn, role_arn)

    return cache(build)  # one client per warm Lambda; a refusal (not cached) is raised each time


def throttle_factory(env: Mapping[str, str]) -> Callable[[], CallerThrottle | None]:
    """A function returning the API's per-caller throttle (``hyperstep.throttling``), built
    on first use and kept; None when ``HYPERSTEP_CALLER_RATE`` is unset (no limit per caller)."""
    settings = dict(env)

    def build() -> CallerThrottle | None:
        rate = settings.get("HYPERSTEP_CALLER_RATE")
        if not rate:
            return None
        import boto3

        from hyperstep.throttling import DynamoDBThrottle, Limit

        limit = Limit(rate=float(rate), burst=float(settings.get("HYPERSTEP_CALLER_BURST", rate)))
        return DynamoDBThrottle(boto3.client("dynamodb"), settings["HYPERSTEP_TABLE"], limit)

    return cache(build)
