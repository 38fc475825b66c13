"""hyperstep deployed inside moto: the real state machine, real handlers, DynamoDB, SageMaker, Batch.

``moto_stack()`` builds what the SAM template deploys, in moto: the DynamoDB table
(``table_definition``), an IAM role, one Lambda function per handler (a dummy zip, so
the ARNs exist), and the state machine (``machine_name``; the IAM check passes the
template's) from ``statemachine/tuning.asl.json`` with its ``${...FunctionArn}``
substitutions filled with those ARNs and ``${Partition}`` with ``aws``. moto's Step Functions engine
runs the definition in a background thread; without Docker moto's Lambda only echoes
its payload, so ``LambdaSimpleBackend.invoke`` is routed to the function's plain handler
(``MotoStack.run``: ``hyperstep.handlers.handle_<name>``, the API's ``handle_api``) with
a JSON round trip, a Lambda context (``tests/lambda_context.py``), and an unhandled
exception reported the way the Python runtime reports it. This is moto's wiring point:
each function gets its own AWS service (``hyperstep.wiring.build_aws_service``) built
from the stack's environment on moto's clients, once per stack, so no test reuses
clients from a finished mock. The Powertools decorators of ``functions/<name>/app.py``
do not run here (the built-layer test runs those modules as Lambda does).

``Invocation`` records (function, seconds, error) go to the ``on_invoke`` callback;
``current_function()`` tells a call recorder which handler is making a call (a handler
invoked from inside another's call is attributed to itself, then to its caller again).
"""

from __future__ import annotations

import copy
import io
import json
import os
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

for _name, _value in {
    # read when the API's module is first imported (Logger, Tracer); POWERTOOLS_METRICS_DISABLED,
    # read at each flush, is set inside moto_stack only
    "POWERTOOLS_SERVICE_NAME": "hyperstep",
    "POWERTOOLS_METRICS_NAMESPACE": "hyperstep-tests",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}.items():
    os.environ.setdefault(_name, _value)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.awslambda.models import LambdaBackend  # noqa: E402
from moto.awslambda_simple.models import LambdaSimpleBackend  # noqa: E402
from moto.core.responses import EmptyResult  # noqa: E402
from moto.dynamodb import models as dynamodb_models  # noqa: E402
from moto.dynamodb.models import DynamoDBBackend  # noqa: E402
from moto.dynamodb.models.dynamo_type import DynamoType, Item  # noqa: E402
from moto.dynamodb.models.table import Table  # noqa: E402
from moto.dynamodb.responses import DynamoHandler  # noqa: E402
from moto.sagemaker.responses import SageMakerResponse  # noqa: E402
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils  # noqa: E402
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for as _boto_client_for  # noqa: E402

from hyperstep.handlers import LOOP_HANDLERS, QUIET, REAPER_GRACE_SECONDS, handle_reaper, handle_start  # noqa: E402
from hyperstep.local.runtime import substitutions  # noqa: E402
from hyperstep.recurring import RecurringSchedules  # noqa: E402
from hyperstep.service import TuningService  # noqa: E402
from hyperstep.stores.dynamodb import create_table  # noqa: E402
from hyperstep.throttling import CallerThrottle  # noqa: E402
from hyperstep.wiring import build_aws_service, schedules_factory, throttle_factory  # noqa: E402
from hyperstep_functions.api.app import handle_api  # noqa: E402
from tests.lambda_context import LambdaContext  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", "us-east-1"
TABLE = "hyperstep"
MOTO_CONFIG: dict[str, Any] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
    "batch": {"use_docker": False},
}
HANDLERS = ("api", "suggest", "finish", "collect", "reaper", "start")
"""The functions a job runs through: the API submits it, the state machine runs the loop,
``collect`` is the EventBridge rules' target; ``reaper`` and ``start`` run on schedules."""

_local = threading.local()


def function_name(handler: str) -> str:
    return f"hyperstep-{handler}"


def function_arn(handler: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name(handler)}"


def current_function() -> str | None:
    """The handler running on this thread (inside a routed invocation), else None."""
    return getattr(_local, "function", None)


@dataclass(frozen=True)
class Invocation:
    """One routed Lambda invocation: which handler, how long it ran, what it raised."""

    function: str
    seconds: float
    error: str | None = None


def _routed_invoke(stack: MotoStack, on_invoke: Callable[[Invocation], None]) -> Callable[..., bytes]:
    """A stand-in for the Lambda backend's ``invoke`` that runs the function in-process."""
    by_name = {function_name(h): h for h in HANDLERS}

    def invoke(self: Any, name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
        fn = self.get_function(name, qualifier)  # an unknown function fails as on AWS
        handler = by_name[fn.function_name]
        event = json.loads(body or "{}")
        context = LambdaContext(fn.function_name, fn.function_arn, int(fn.memory_size or 128), str(uuid.uuid4()))
        caller, _local.function = current_function(), handler
        started = time.perf_counter()
        try:
            result = stack.run(handler, event, context)
        except Exception as exc:
            on_invoke(Invocation(handler, time.perf_counter() - started, type(exc).__name__))
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            error["stackTrace"] = traceback.format_tb(exc.__traceback__)  # type: ignore[assignment]
            return json.dumps(error).encode()
        finally:
            _local.function = caller
        on_invoke(Invocation(handler, time.perf_counter() - started))
        return json.dumps(result).encode()

    return invoke


_dynamodb_lock = threading.Lock()
_dynamodb_call_action = DynamoHandler.call_action


def _serialized_call_action(self: DynamoHandler) -> Any:
    """moto's DynamoDB is not thread-safe (``TransactWriteItems`` deep-copies a table while
    another thread writes to it: "dictionary changed size during iteration"); DynamoDB
    itself is, so requests from concurrent handlers are served one at a time."""
    with _dynamodb_lock:
        return _dynamodb_call_action(self)


_moto_transact_write_items = DynamoDBBackend.transact_write_items
_ItemBackup = tuple[Table, DynamoType, DynamoType | None, Item | None]


def _keep_tables(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy`` as moto's DynamoDB backend module sees it: a table is not copied
    (``_transact_write_items`` backs up the items a transaction names instead)."""
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _backup(backend: DynamoDBBackend, op: dict[str, Any]) -> _ItemBackup | None:
    """A deep copy of the item one operation of a transaction names (None: there is none yet)."""
    table = backend.tables.get(op.get("TableName", ""))
    key = op.get("Item", op.get("Key")) or {}
    if table is None or table.hash_key_attr not in key:
        return None  # the operation fails validation before it writes anything
    if table.range_key_attr is not None and table.range_key_attr not in key:
        return None
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))


def _restore(backup: _ItemBackup) -> None:
    table, hash_value, range_value, item = backup
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
    elif item is not None:
        table.items[hash_value][range_value] = item
    elif hash_value in table.items:
        table.items[hash_value].pop(range_value, None)


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's ``TransactWriteItems`` with the same all-or-nothing outcome, backing up only the
    items it names. moto backs up each table it writes to with a deep copy of the whole table,
    so every transaction costs time in proportion to the table: a 10,000-trial job (two
    transactions a trial) ran quadratically, 1.6 s a trial by its 600th. Here each named
    item is copied before the original runs (its table copy made a no-op by
    ``_keep_tables``), and restored if the transaction fails in any way."""
    backups = [b for item in transact_items for op in item.values() if (b := _backup(self, op)) is not None]
    try:
        _moto_transact_write_items(self, transact_items)
    except Exception:
        for backup in reversed(backups):
            _restore(backup)
        raise


def _engine_clients() -> Callable[..., Any]:
    """moto's Step Functions engine makes a boto3 client from the default session for every
    Lambda task, from many threads at once; a boto3 session is not thread-safe ("'dict' object
    has no attribute 'region'" fails a task now and then), and a client costs milliseconds.
    Step Functions never fails that way: the engine gets one client per service, made under a lock."""
    made: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        with lock:
            if (region, service) not in made:
                made[region, service] = _boto_client_for(region, service, state_credentials)
            return made[region, service]

    return client_for


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return event\n")
    return buffer.getvalue()


def tuning_definition() -> str:
    """``tuning.asl.json`` with the partition and function ARNs filled in, as SAM's DefinitionSubstitutions do."""
    text = (REPO / "statemachine" / "tuning.asl.json").read_text()
    for variable, value in substitutions(function_arn).items():
        text = text.replace(f"${{{variable}}}", value)
    assert "${" not in text, "a substitution of tuning.asl.json is not filled"
    return text


class MotoStack:
    """Clients of the deployment inside moto, and the ways a test drives it."""

    def __init__(self, state_machine_arn: str, memory: dict[str, int]) -> None:
        self.session = boto3.DEFAULT_SESSION
        """The default session inside the mock; register botocore hooks on ``session.events``."""
        self.state_machine_arn = state_machine_arn
        self.memory = memory
        self.environment = {"HYPERSTEP_TABLE": TABLE, "HYPERSTEP_STATE_MACHINE_ARN": state_machine_arn}
        """The functions' settings (``hyperstep.wiring``); no recurring tuning: see ``schedules``."""
        self.schedules: Callable[[], RecurringSchedules] = schedules_factory(self.environment)
        """The API's Scheduler adapter (unavailable; a test may stand in the template's)."""
        self.throttle: Callable[[], CallerThrottle | None] = throttle_factory(self.environment)
        """The API's per-caller throttle (none: the stack's ``environment`` sets no
        ``HYPERSTEP_CALLER_RATE``; a test may stand in the template's)."""
        self.reaper_grace_seconds = REAPER_GRACE_SECONDS
        """The reaper function's grace (``HYPERSTEP_REAPER_GRACE_SECONDS``; a test may change it)."""
        self._services: dict[str, TuningService] = {}
        self._lock = threading.Lock()
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.awslambda = boto3.client("lambda", region_name=REGION)
        self.sagemaker = boto3.client("sagemaker", region_name=REGION)
        self.batch = boto3.client("batch", region_name=REGION)
        self.service: TuningService = build_aws_service(self.environment)
        """The service as the API and start functions build it (for ``submit``)."""

    def function_service(self, handler: str) -> TuningService:
        """The service of one deployed function, built on its first invocation."""
        with self._lock:
            if handler not in self._services:
                self._services[handler] = build_aws_service(self.environment)
            return self._services[handler]

    def run(self, handler: str, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """What function ``handler`` does with ``event``: its plain handler, this stack's wiring."""
        service = self.function_service(handler)
        if handler == "api":
            return handle_api(
                service, event, context, schedules=self.schedules, idempotency_table=TABLE, throttle=self.throttle()
            )
        if handler == "reaper":
            return handle_reaper(service, event, grace_seconds=self.reaper_grace_seconds)
        if handler == "start":
            return handle_start(service, event, request_id=context.aws_request_id)
        return LOOP_HANDLERS[handler](service, event, QUIET)  # looked up now: a test may stand one in

    def invoke(self, handler: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke a function through moto's Lambda API (as an EventBridge target would)."""
        response = self.awslambda.invoke(FunctionName=function_name(handler), Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise AssertionError(f"{handler} failed: {payload}")
        return payload

    def status(self, execution_arn: str) -> dict[str, Any]:
        return self.sfn.describe_execution(executionArn=execution_arn)

    def wait_until_done(self, execution_arn: str, seconds: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            description = self.status(execution_arn)
            if description["status"] != "RUNNING":
                return description
            time.sleep(0.05)
        raise AssertionError(f"execution {execution_arn} still running after {seconds} s")

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        pages = self.sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        return [event for page in pages for event in page["events"]]


def state_path(history: list[dict[str, Any]]) -> list[str]:
    """Names of the states entered, in order (``stateEnteredEventDetails.name``)."""
    return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]


def _deploy(memory: dict[str, int], machine_name: str) -> str:
    iam = boto3.client("iam", region_name=REGION)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="hyperstep", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    awslambda, code = boto3.client("lambda", region_name=REGION), _dummy_zip()
    for handler in HANDLERS:
        awslambda.create_function(
            FunctionName=function_name(handler),
            Runtime="python3.12",
            Role=role,
            Handler="app.lambda_handler",
            Code={"ZipFile": code},
            Architectures=["arm64"],
            MemorySize=memory.get(handler, 512),
        )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    return sfn.create_state_machine(name=machine_name, definition=tuning_definition(), roleArn=role)["stateMachineArn"]


def stop_training_job(self: SageMakerResponse) -> EmptyResult:
    """moto has no StopTrainingJob: the job goes to Stopping, as on AWS."""
    self.sagemaker_backend.training_jobs[self._get_param("TrainingJobName")].training_job_status = "Stopping"
    return EmptyResult()


@contextmanager
def moto_stack(
    on_invoke: Callable[[Invocation], None] | None = None,
    memory: dict[str, int] | None = None,
    machine_name: str = "hyperstep-tuning",
) -> Iterator[MotoStack]:
    """hyperstep deployed in moto for the duration of the block (see the module docstring)."""
    memory = memory or {}
    record = on_invoke or (lambda _: None)
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        # Within the block only: disabled, Powertools' Metrics never flush, so never clear the
        # dimensions its instances share; set for the whole process (as when this module was
        # imported), every later test's function kept its JobId ("Dimension 'JobId' has already
        # been added") and test_reaper_metrics had to enable them again.
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    with ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, env))
        stack.enter_context(mock_aws(config=MOTO_CONFIG))  # type: ignore[arg-type]
        boto3.setup_default_session()  # handlers' clients come from it: hooks on its events reach them
        deployed = MotoStack(_deploy(memory, machine_name), memory)
        invoke = _routed_invoke(deployed, record)
        stack.enter_context(mock.patch.object(LambdaSimpleBackend, "invoke", invoke))
        stack.enter_context(mock.patch.object(LambdaBackend, "invoke", invoke))
        stack.enter_context(mock.patch.object(DynamoHandler, "call_action", _serialized_call_action))
        stack.enter_context(mock.patch.object(DynamoDBBackend, "transact_write_items", _transact_write_items))
        stack.enter_context(mock.patch.object(dynamodb_models, "copy", SimpleNamespace(deepcopy=_keep_tables)))
        stack.enter_context(mock.patch.object(lambda_eval_utils, "boto_client_for", _engine_clients()))
        # Suggest launches trials itself, so stopping a job stops SageMaker trials at once.
        stack.enter_context(mock.patch.object(SageMakerResponse, "stop_training_job", stop_training_job, create=True))
        yield deployed
