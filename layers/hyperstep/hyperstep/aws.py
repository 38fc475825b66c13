"""AWS adapters of the small ports: Step Functions as orchestrator, EventBridge as publisher,
SSM Parameter Store and Secrets Manager as the resolver of secret references."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from botocore.exceptions import ClientError

from hyperstep.errors import ExecutionClosedError, LaunchError
from hyperstep.execution_events import ExecutionStatusChange
from hyperstep.ports import EventPublisher, Orchestrator, execution_arn
from hyperstep.secrets import SSM, SecretRef, SecretResolver


class StepFunctionsOrchestrator(Orchestrator):
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self.client = client
        self.state_machine_arn = state_machine_arn

    def start_execution(self, job_id: str, name: str) -> str:
        try:
            response = self.client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name[:80], input=json.dumps({"job_id": job_id})
            )
        except self.client.exceptions.ExecutionAlreadyExists:
            # Names are unique per job and attempt: this is the execution an earlier try of
            # the same call started, and it has already closed (a running one is returned).
            raise ExecutionClosedError(execution_arn(self.state_machine_arn, name[:80])) from None
        return response["executionArn"]

    def started_nothing(self, error: Exception) -> bool:
        """StartExecution's own errors (those of its service model: ``ExecutionLimitExceeded``,
        ``InvalidName``, ``StateMachineDoesNotExist``, ``KmsThrottlingException``, ...; Step
        Functions API reference, StartExecution, Errors) are its answer refusing the start;
        any other (a 5xx, a read timeout, a dropped connection) leaves it unknown."""
        if not isinstance(error, ClientError):
            return False
        operation = self.client.meta.service_model.operation_model("StartExecution")
        return error.response.get("Error", {}).get("Code") in {shape.name for shape in operation.error_shapes}

    def send_task_success(self, token: str, output: dict[str, Any]) -> bool:
        errors = self.client.exceptions
        try:
            self.client.send_task_success(taskToken=token, output=json.dumps(output))
        except (errors.TaskTimedOut, errors.TaskDoesNotExist, errors.InvalidToken):
            return False
        return True

    def describe_execution(self, execution_id: str) -> ExecutionStatusChange | None:
        """DescribeExecution's ``executionArn``, ``stateMachineArn``, ``name``, ``status``,
        ``input``, ``error`` and ``cause`` are the status-change event's fields of the same
        names (Step Functions API reference, DescribeExecution)."""
        try:
            described = self.client.describe_execution(executionArn=execution_id)
        except self.client.exceptions.ExecutionDoesNotExist:
            return None
        return ExecutionStatusChange.model_validate(described)


class EventBridgePublisher(EventPublisher):
    def __init__(self, client: Any, bus_name: str = "default") -> None:
        self.client = client
        self.bus_name = bus_name

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        """Raises when PutEvents did not accept the entry: it answers 200 with
        ``FailedEntryCount`` for a throttled or failed entry, which would be lost silently
        (and Finish would mark the completion event published)."""
        response = self.client.put_events(
            Entries=[
                {
                    "Source": "hyperstep",
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": self.bus_name,
                }
            ]
        )
        if response.get("FailedEntryCount", 0):
            failed = (response.get("Entries") or [{}])[0]
            reason = f"{failed.get('ErrorCode')}: {failed.get('ErrorMessage')}"
            raise RuntimeError(f"EventBridge did not accept the {detail_type!r} event ({reason})")


class AwsSecrets(SecretResolver):
    """Secret references resolved from SSM Parameter Store (``GetParameter`` with decryption)
    and Secrets Manager (``GetSecretValue``), only under the deployment's ``prefix`` and, by
    ARN, its ``arn_base`` (None: no check here, IAM decides). Clients are made on first use (only Launch resolves).

    A reference refused, missing, not readable or not text raises ``LaunchError`` (the trial
    fails saying which reference and why); throttling and other transient errors propagate
    (Step Functions retries the Launch task)."""

    FINAL = frozenset(
        {
            "AccessDenied",
            "AccessDeniedException",
            "ParameterNotFound",
            "ResourceNotFoundException",
            "ValidationException",
            "InvalidParameterException",
            "InvalidRequestException",
            "DecryptionFailure",
            "InvalidKeyId",
        }
    )

    def __init__(self, client: Callable[[str], Any], prefix: str | None, arn_base: str | None = None) -> None:
        self.client = cache(client)
        self.prefix = prefix
        self.arn_base = arn_base
        """The deployment's ``arn:...:secret:`` (``SecretRef.within``); None: any."""

    def resolve(self, reference: SecretRef) -> str:
        if self.prefix is not None and not reference.within(self.prefix, self.arn_base):
            shown = self.prefix or "none: this deployment allows no secret references"
            raise LaunchError(f"secret reference {reference.resolve!r} is outside this deployment's prefix ({shown})")
        try:
            if reference.source == SSM:
                found = self.client("ssm").get_parameter(Name=reference.target, WithDecryption=True)
                return found["Parameter"]["Value"]
            secret = self.client("secretsmanager").get_secret_value(SecretId=reference.target)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in self.FINAL:
                raise LaunchError(f"secret reference {reference.resolve!r} could not be read: {code}") from None
            raise
        if "SecretString" not in secret:
            raise LaunchError(f"secret reference {reference.resolve!r} holds binary data; only text can be passed")
        return secret["SecretString"]
