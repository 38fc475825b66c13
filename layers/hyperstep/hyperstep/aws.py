"""AWS adapters of the small ports: Step Functions as orchestrator, EventBridge as publisher,
SSM Parameter Store and Secrets Manager as the resolver of secret references."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from botocore.exceptions import ClientError

from hyperstep.errors import ExecutionClosedError, LaunchError
from hyperstep.execution_events import ExecutionStatusChange
from hyperstep.ports import EventPublisher, Orchestrator, execution_arn
from hyperstep.secrets import SSM, SecretRef, SecretResolver

REFUSALS = frozenset(
    {
        "AccessDeniedException",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "MissingAuthenticationToken",
        "NotAuthorized",
        "OptInRequired",
        "RequestExpired",
        "ThrottlingException",
        "UnrecognizedClientException",
        "ValidationError",
    }
)
"""The errors common to every AWS API ("Common Errors", API references) that deny a request
before it is acted on (access, signature, credentials, ``ThrottlingException``: "The request
was denied due to request throttling"); not ``InternalFailure`` (500), ``ServiceUnavailable``
(503), ``RequestTimeoutException`` (408) nor ``RequestAbortedException``, after which the
action may have run."""


class StepFunctionsOrchestrator(Orchestrator):
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self.client = client
        self.state_machine_arn = state_machine_arn
        self._answers = threading.local()
        """The error code each attempt of this thread's StartExecution call was answered
        (None: no answer, a timeout or lost connection): botocore retries a call, and the
        error it raises is only the last attempt's."""
        self._attempts: WeakKeyDictionary[ClientError, tuple[str | None, ...]] = WeakKeyDictionary()
        """Those codes, of each StartExecution error this adapter raised."""

    def _heard(self, parsed_response: dict[str, Any] | None = None, **_: Any) -> None:
        """botocore's ``response-received`` event, emitted for each attempt of a call."""
        codes = getattr(self._answers, "codes", None)
        if codes is not None:
            codes.append(None if parsed_response is None else parsed_response.get("Error", {}).get("Code"))

    def start_execution(self, job_id: str, name: str) -> str:
        # Registered at the first start, not when the service is built: ``meta`` makes the
        # client, which a cold start that starts nothing must not pay (``wiring.LazyClient``).
        # The unique id keeps it registered once.
        self.client.meta.events.register(
            "response-received.sfn.StartExecution", self._heard, unique_id=f"hyperstep-attempts-{id(self)}"
        )
        self._answers.codes = codes = []
        try:
            response = self.client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name[:80], input=json.dumps({"job_id": job_id})
            )
        except self.client.exceptions.ExecutionAlreadyExists:
            # Names are unique per job and attempt: this is the execution an earlier try of
            # the same call started, closed (a running one is returned), unless redriven.
            return self._redriven(execution_arn(self.state_machine_arn, name[:80]))
        except ClientError as exc:
            self._attempts[exc] = tuple(codes)
            raise
        finally:
            self._answers.codes = None
        return response["executionArn"]

    def _redriven(self, arn: str) -> str:
        """The execution ``arn`` StartExecution answered ``ExecutionAlreadyExists`` for, if it
        is open again (``RUNNING``, or ``PENDING_REDRIVE``: DescribeExecution's statuses in
        Step Functions' service model), else ``ExecutionClosedError``. StartExecution answers
        Success for the same name and input "when the original execution is open", and
        ExecutionAlreadyExists "when the original execution is closed" (API reference); a
        redriven execution keeps its ARN and runs again ("Redriving executions", Developer
        Guide), and neither page says which answer it gets. Taken for closed, a redriven
        execution would have its job closed (``TuningService._claimed``) or a second loop
        started beside it (``_live_execution``'s next name). Not found, the name's answer
        stands (closed); a failed describe leaves unknown whether anything runs under the
        name (``started_nothing``: False).

        DescribeExecution "is eventually consistent" and "may not reflect very recent updates"
        (API reference): one redriven just now may still read closed. Its callers hold no
        answer "closed" as final: Suggest keeps the job, launching nothing that round, for
        the reaper's later describe (``_claimed``); a start's next name is recorded, and the
        redriven execution, not the job's recorded one, ends at its next Suggest
        (``_run_by_another``). A just-closed one reading running is recorded, and the
        reaper's pass closes its job (``_close_if_ended``)."""
        try:
            status = self.client.describe_execution(executionArn=arn)["status"]
        except self.client.exceptions.ExecutionDoesNotExist:
            raise ExecutionClosedError(arn) from None
        except ClientError as exc:
            self._attempts[exc] = (None,)
            raise
        if status in ("RUNNING", "PENDING_REDRIVE"):
            return arn
        raise ExecutionClosedError(arn)

    def started_nothing(self, error: Exception) -> bool:
        """Whether every attempt of the StartExecution call that raised ``error`` was answered
        refusing the start: with one of StartExecution's own errors (its service model's:
        ``ExecutionLimitExceeded``, ``InvalidName``, ``StateMachineDoesNotExist``,
        ``KmsThrottlingException``, ...; Step Functions API reference, StartExecution, Errors)
        or a common error denying the request (``REFUSALS``: throttled, access denied). Any
        other answer (a 5xx) or none (a read timeout, a dropped connection), on the last
        attempt or on an earlier one botocore retried (a timeout, then ``ThrottlingException``),
        leaves it unknown. An error this adapter did not see attempted (a Stubber's) is judged
        by its own code."""
        if not isinstance(error, ClientError):
            return False
        codes = self._attempts.get(error) or (error.response.get("Error", {}).get("Code"),)
        operation = self.client.meta.service_model.operation_model("StartExecution")
        refusals = REFUSALS | {shape.name for shape in operation.error_shapes}
        return all(code in refusals for code in codes)

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
            "AccessDeniedException",
            "ParameterNotFound",
            "InvalidKeyId",
            "ValidationException",
            "ResourceNotFoundException",
            "InvalidParameterException",
            "InvalidRequestException",
            "DecryptionFailure",
        }
    )
    """The errors after which reading again cannot help: GetParameter's and GetSecretValue's
    own client errors (their service models and API references; not their 500s,
    ``InternalServerError`` / ``InternalServiceError``, nor ``ParameterVersionNotFound``: a
    reference names no version), ``AccessDeniedException`` (Common Errors, both APIs) and
    ``ValidationException`` (GetParameter: a name its checks refuse "fails with a
    ValidationException error"). Not S3's ``AccessDenied``, which neither API answers."""

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
