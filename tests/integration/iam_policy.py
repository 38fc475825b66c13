"""IAM as AWS evaluates it, for the calls hyperstep's functions make (moto evaluates none).

- ``CallRecorder`` records every AWS API call made inside a routed Lambda invocation
  (``moto_harness.current_function()`` names the handler): function, service, operation,
  request parameters and response. It wraps ``BaseClient._make_api_call``, the one path
  every botocore client takes whatever session made it: hooks on the default session's
  events (``before-call``) would miss the clients of other sessions, such as the one
  Powertools' idempotency layer creates.
- ``authorizations(call, arns, tags)`` turns one call into the IAM requests AWS evaluates
  for it, per the Service Authorization Reference: the action (service prefix + operation;
  DynamoDB's ``TransactWriteItems`` is authorized per item action; tags on create also need
  the service's tagging action; a role in the request is an implied ``iam:PassRole`` with
  ``iam:PassedToService``), the resource ARN built from the request (or the response, for a
  job whose id the service chose), and the condition keys the request or resource supplies
  (``aws:RequestTag/*``, ``aws:TagKeys``, ``iam:PassedToService``, ``aws:ResourceTag/*``).
  An operation without a mapping raises ``Unmapped``: a new call needs a line here, it is
  never waved through.
- ``Policy.allows(request)`` evaluates identity-based statements as IAM does: an explicit
  Deny wins, else an Allow whose Action, Resource and every Condition match (a condition
  operator this module does not implement raises rather than guessing).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from botocore.client import BaseClient

from tests.integration.moto_harness import current_function
from tests.template_model import as_list, iam_reference, resource_types

ContextValue = str | tuple[str, ...]
Tags = Callable[[str], Mapping[str, str]]
"""The tags a resource (by ARN) has now: what ``aws:ResourceTag/...`` is evaluated against."""


class Unmapped(Exception):
    """A call this module cannot translate into IAM requests yet."""


@dataclass(frozen=True)
class Call:
    """One AWS API call a function made."""

    function: str
    service: str
    """The IAM service prefix (the client's signing name: ``states`` for Step Functions)."""
    operation: str
    params: dict[str, Any]
    region: str
    response: dict[str, Any] | None = None
    """None when the call raised (IAM was evaluated all the same)."""


@dataclass(frozen=True)
class Request:
    """One authorization: an action on a resource, with the condition keys known for it."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def __str__(self) -> str:
        keys = f" with {dict(self.context)}" if self.context else ""
        return f"{self.action} on {self.resource}{keys}"


# --- recording --------------------------------------------------------------------------


def _snapshot(value: Any) -> Any:
    """A JSON copy (datetimes and bytes as strings) that later mutation cannot change."""
    return None if value is None else json.loads(json.dumps(value, default=str))


class CallRecorder:
    """Collects the ``Call`` s made from inside routed invocations while ``recording()``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    @contextmanager
    def recording(self) -> Iterator[CallRecorder]:
        original = BaseClient._make_api_call
        recorder = self

        def record(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            function = current_function()
            if function is None:  # the test itself, or the engine invoking a function
                return original(client, operation, params)
            response = None
            try:
                response = original(client, operation, params)
                return response
            finally:
                model = client.meta.service_model
                call = Call(
                    function, model.signing_name, operation, _snapshot(params), client.meta.region_name,
                    _snapshot(response),
                )  # fmt: skip
                with recorder._lock:
                    recorder.calls.append(call)

        with mock.patch.object(BaseClient, "_make_api_call", record):
            yield self


# --- calls -> IAM requests ----------------------------------------------------------------


@dataclass(frozen=True)
class Arns:
    """Builds resource ARNs in one account and partition (the call's region)."""

    account: str
    partition: str = "aws"

    def of(self, service: str, region: str, resource: str) -> str:
        """``resource`` (a name-style path such as ``table/x``) as an ARN; an ARN as it is."""
        if resource.startswith("arn:"):
            return resource
        return f"arn:{self.partition}:{service}:{region}:{self.account}:{resource}"

    def named(self, service: str, region: str, kind: str, name: str) -> str:
        """The ARN of the ``kind`` resource a request names by ``name``, which may be its ARN
        already (a Batch queue or job definition, an event bus, a secret): ``job-queue/<ARN>``
        is no resource at all, and the reference's ``job-queue/.*`` format would not say so."""
        return name if name.startswith("arn:") else self.of(service, region, f"{kind}{name}")


def _tag_context(tags: Mapping[str, str]) -> dict[str, ContextValue]:
    """``aws:RequestTag/<key>`` for each tag the request sets, and ``aws:TagKeys``."""
    if not tags:
        return {}
    return {**{f"aws:RequestTag/{k}": v for k, v in tags.items()}, "aws:TagKeys": tuple(tags)}


def _resource_tag_context(tags: Mapping[str, str]) -> dict[str, ContextValue]:
    return {f"aws:ResourceTag/{k}": v for k, v in tags.items()}


def _pass_role(role_arn: str, service: str) -> Request:
    return Request("iam:PassRole", role_arn, {"iam:PassedToService": service})


Mapper = Callable[[Call, Arns, Tags], list[Request]]
MAPPERS: dict[tuple[str, str], Mapper] = {}


def _maps(service: str, *operations: str) -> Callable[[Mapper], Mapper]:
    def register(mapper: Mapper) -> Mapper:
        for operation in operations:
            MAPPERS[(service, operation)] = mapper
        return mapper

    return register


@_maps("dynamodb", "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan")
def _dynamodb_item(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    resource = arns.of("dynamodb", call.region, f"table/{call.params['TableName']}")
    if index := call.params.get("IndexName"):
        resource += f"/index/{index}"
    return [Request(f"dynamodb:{call.operation}", resource)]


_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


@_maps("dynamodb", "TransactWriteItems", "TransactGetItems")
def _dynamodb_transaction(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    """A transaction is authorized per item: each Put, Update, Delete, ConditionCheck (Get)
    as its own item action on its table; there is no ``dynamodb:TransactWriteItems``."""
    requests = []
    for item in call.params["TransactItems"]:
        ((kind, body),) = item.items()
        table = arns.of("dynamodb", call.region, f"table/{body['TableName']}")
        requests.append(Request(f"dynamodb:{_ITEM_ACTIONS[kind]}", table))
    return requests


@_maps("states", "StartExecution")
def _start_execution(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    return [Request("states:StartExecution", call.params["stateMachineArn"])]


@_maps("states", "DescribeExecution")
def _describe_execution(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    return [Request("states:DescribeExecution", call.params["executionArn"])]  # resource type: execution


@_maps("states", "SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")
def _task_token(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    return [Request(f"states:{call.operation}", "*")]  # the token names the task: no resource type


def _training_job(call: Call, arns: Arns) -> str:
    return arns.of("sagemaker", call.region, f"training-job/{call.params['TrainingJobName']}")


@_maps("sagemaker", "CreateTrainingJob")
def _create_training_job(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    """Creating with tags is also ``sagemaker:AddTags``; the role is passed to SageMaker."""
    job = _training_job(call, arns)
    request_tags = _tag_context({t["Key"]: t["Value"] for t in call.params.get("Tags", [])})
    requests = [Request("sagemaker:CreateTrainingJob", job, request_tags)]
    if request_tags:
        requests.append(Request("sagemaker:AddTags", job, request_tags))
    return [*requests, _pass_role(call.params["RoleArn"], "sagemaker.amazonaws.com")]


@_maps("sagemaker", "DescribeTrainingJob", "StopTrainingJob")
def _training_job_action(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    job = _training_job(call, arns)
    return [Request(f"sagemaker:{call.operation}", job, _resource_tag_context(tags(job)))]


def _batch_definition(call: Call, arns: Arns) -> str:
    """``name``, ``name:revision`` or an ARN; without a revision Batch uses the latest."""
    return arns.named("batch", call.region, "job-definition/", call.params["jobDefinition"])


@_maps("batch", "SubmitJob")
def _submit_job(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    """Authorized on the queue, the job definition and the new job; tags on submit are
    also ``batch:TagResource`` on the new job (its id comes with the response)."""
    queue = arns.named("batch", call.region, "job-queue/", call.params["jobQueue"])
    job = (call.response or {}).get("jobArn") or arns.of("batch", call.region, "job/(not created)")
    request_tags = _tag_context(call.params.get("tags", {}))
    resources = (queue, _batch_definition(call, arns), job)
    requests = [Request("batch:SubmitJob", resource, request_tags) for resource in resources]
    return requests + ([Request("batch:TagResource", job, request_tags)] if request_tags else [])


@_maps("batch", "TerminateJob")
def _terminate_job(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    job = arns.of("batch", call.region, f"job/{call.params['jobId']}")
    return [Request("batch:TerminateJob", job, _resource_tag_context(tags(job)))]


@_maps("batch", "ListJobs", "DescribeJobs")
def _batch_read(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    return [Request(f"batch:{call.operation}", "*")]  # no resource type


@_maps("logs", "GetLogEvents")
def _get_log_events(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    """Authorized on the log stream (``log-group:<group>:log-stream:<stream>``). hyperstep
    names the group by ``logGroupName``; a call by ``logGroupIdentifier`` needs mapping here."""
    if "logGroupName" not in call.params:
        raise Unmapped(f"{call.function} calls logs:GetLogEvents without logGroupName: map logGroupIdentifier")
    group, stream = call.params["logGroupName"], call.params["logStreamName"]
    return [Request("logs:GetLogEvents", arns.of("logs", call.region, f"log-group:{group}:log-stream:{stream}"))]


@_maps("ssm", "GetParameter")
def _get_parameter(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    """A parameter ``/a/b`` is ``parameter/a/b`` (its leading ``/`` is the ARN's separator).
    Decrypting a SecureString is SSM's own ``kms:Decrypt`` call on the caller's behalf
    (``kms:ViaService``), which no recorder sees: ``test_template`` checks that statement."""
    name = call.params["Name"]
    resource = name if name.startswith("arn:") else f"parameter/{name.removeprefix('/')}"
    return [Request("ssm:GetParameter", arns.of("ssm", call.region, resource))]


@_maps("secretsmanager", "GetSecretValue")
def _get_secret_value(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    """Authorized on the secret's full ARN (its name and a 6-character suffix), which the
    answer names; a call that failed is judged by the name it asked for."""
    secret = (call.response or {}).get("ARN") or arns.named(
        "secretsmanager", call.region, "secret:", call.params["SecretId"]
    )
    return [Request("secretsmanager:GetSecretValue", secret, _resource_tag_context(tags(secret)))]


@_maps("logs", "DescribeLogStreams")
def _describe_log_streams(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    """Authorized on the log group, in its ARN form with the trailing ``:*`` (CloudWatch
    Logs' access-control overview: that form for every action but the tagging ones)."""
    if "logGroupName" not in call.params:
        raise Unmapped(f"{call.function} calls logs:DescribeLogStreams without logGroupName: map logGroupIdentifier")
    group = call.params["logGroupName"]
    return [Request("logs:DescribeLogStreams", arns.of("logs", call.region, f"log-group:{group}:*"))]


@_maps("events", "PutEvents")
def _put_events(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    """One request per bus, with ``events:source`` and ``events:detail-type`` (ArrayOfString:
    the values of that bus's entries)."""
    by_bus: dict[str, list[dict[str, Any]]] = {}
    for entry in call.params["Entries"]:
        bus = arns.named("events", call.region, "event-bus/", entry.get("EventBusName", "default"))
        by_bus.setdefault(bus, []).append(entry)
    return [
        Request(
            "events:PutEvents",
            bus,
            {
                "events:source": tuple(sorted({e["Source"] for e in entries})),
                "events:detail-type": tuple(sorted({e["DetailType"] for e in entries})),
            },
        )
        for bus, entries in sorted(by_bus.items())
    ]


@_maps("scheduler", "CreateSchedule")
def _create_schedule(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    """The schedule in its group (``default`` when none is named); its target's role is
    passed to EventBridge Scheduler."""
    group = call.params.get("GroupName", "default")
    schedule = arns.of("scheduler", call.region, f"schedule/{group}/{call.params['Name']}")
    return [
        Request("scheduler:CreateSchedule", schedule),
        _pass_role(call.params["Target"]["RoleArn"], "scheduler.amazonaws.com"),
    ]


@_maps("scheduler", "GetSchedule", "DeleteSchedule")
def _one_schedule(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    """Authorized on the schedule in its group (``default`` when none is named)."""
    group = call.params.get("GroupName", "default")
    return [
        Request(
            f"scheduler:{call.operation}", arns.of("scheduler", call.region, f"schedule/{group}/{call.params['Name']}")
        )
    ]


@_maps("scheduler", "ListSchedules")
def _list_schedules(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    return [Request("scheduler:ListSchedules", "*")]  # no resource type


def authorizations(call: Call, arns: Arns, tags: Tags) -> list[Request]:
    """The IAM requests AWS evaluates for ``call``; each checked against the reference's
    resource types and ARN formats for its action."""
    mapper = MAPPERS.get((call.service, call.operation))
    if mapper is None:
        raise Unmapped(f"{call.function} calls {call.service}:{call.operation}: map it to IAM in iam_policy.py")
    requests = mapper(call, arns, tags)
    for request in requests:
        check_shape(request)
    return requests


def check_shape(request: Request) -> None:
    """The action exists, and the resource is ``*`` exactly when the action has no resource
    type, else an ARN of one of its types (the reference's ARN formats)."""
    service = request.action.split(":")[0].lower()
    if request.resource.count("arn:") > 1:  # a name that was an ARN already (the reference's ".*" takes it)
        raise Unmapped(f"{request.action} was mapped to an ARN inside an ARN: {request.resource}")
    types = resource_types(request.action)
    if not types:
        if request.resource != "*":
            raise Unmapped(f"{request.action} has no resource type, yet was mapped to {request.resource}")
        return
    known = {name.lower(): kind for name, kind in iam_reference()[service]["Resources"].items()}
    formats = [f for t in types for f in known[t.lower()]["ARNFormats"]]  # the reference spells "Secret", "secret"
    patterns = [re.sub(r"\\\$\\\{\w+\\\}", "[^:]*", re.escape(f).replace(r"\.\*", ".*")) for f in formats]
    if not any(re.fullmatch(p, request.resource) for p in patterns):
        raise Unmapped(f"{request.resource} is not an ARN of {request.action}'s resource types {types}")


# --- policy evaluation ----------------------------------------------------------------------


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcard matching: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one."""
    if "${" in pattern:
        raise NotImplementedError(f"policy variables in {pattern!r}")
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


_MATCHERS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda actual, expected: actual == expected,
    "StringEqualsIgnoreCase": lambda actual, expected: actual.lower() == expected.lower(),
    "StringLike": lambda actual, expected: _glob(expected, actual),
    "ArnEquals": lambda actual, expected: _glob(expected, actual),
    "ArnLike": lambda actual, expected: _glob(expected, actual),
    "Bool": lambda actual, expected: actual.lower() == expected.lower(),
}


def _lookup(context: Mapping[str, ContextValue], key: str) -> ContextValue | None:
    """Condition key names are case-insensitive (their values are not)."""
    folded = {k.lower(): v for k, v in context.items()}
    return folded.get(key.lower())


def condition_holds(operator: str, key: str, expected: Sequence[Any], context: Mapping[str, ContextValue]) -> bool:
    """One ``operator: {key: values}`` entry, with IAM's rules for absent and multivalued keys."""
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    values = [str(v) for v in expected]
    actual = _lookup(context, key)
    if name == "Null":
        return (actual is None) == (values[0].lower() == "true")
    if name not in _MATCHERS or qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise NotImplementedError(f"condition operator {operator}")
    if actual is None:
        return if_exists or qualifier == "ForAllValues"
    match = _MATCHERS[name]
    items = list(actual) if isinstance(actual, tuple) else [actual]
    if qualifier == "ForAllValues":
        return all(any(match(item, v) for v in values) for item in items)
    if qualifier == "ForAnyValue":
        return any(match(item, v) for item in items for v in values)
    if isinstance(actual, tuple):
        raise NotImplementedError(f"{operator} on the multivalued key {key}: use ForAllValues/ForAnyValue")
    return any(match(actual, v) for v in values)


def covers(action: str, resource: str, request: Request) -> bool:
    """Whether one grant (an action and a resource, wildcards as IAM reads them) is what
    ``request`` asks for, conditions aside."""
    return _glob(action, request.action, ignore_case=True) and _glob(resource, request.resource)


def statement_matches(statement: Mapping[str, Any], request: Request) -> bool:
    for unsupported in ("NotAction", "NotResource", "Principal", "NotPrincipal"):
        if unsupported in statement:
            raise NotImplementedError(f"{unsupported} in {statement}")
    if not any(_glob(a, request.action, ignore_case=True) for a in as_list(statement["Action"])):
        return False
    if not any(_glob(r, request.resource) for r in as_list(statement["Resource"])):
        return False
    conditions = statement.get("Condition", {})
    return all(
        condition_holds(operator, key, as_list(values), request.context)
        for operator, entries in conditions.items()
        for key, values in entries.items()
    )


@dataclass(frozen=True)
class Policy:
    """A principal's identity-based statements (already resolved: no intrinsic functions)."""

    statements: tuple[Mapping[str, Any], ...]

    def allows(self, request: Request) -> bool:
        matched = [s for s in self.statements if statement_matches(s, request)]
        return not any(s["Effect"] == "Deny" for s in matched) and any(s["Effect"] == "Allow" for s in matched)
