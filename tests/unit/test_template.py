"""Checks of the deployment: template.yaml lints, transforms and grants least privilege.

- cfn-lint reports nothing; aws-sam-translator transforms the template offline;
- the npm ``asl-validator`` accepts ``statemachine/tuning.asl.json`` (cfn-lint does not read
  a ``DefinitionUri`` file);
- structure: each function's role has exactly the actions its use cases call, no wildcard
  actions, ``"*"`` resources only where AWS has no resource type, PassRole conditioned,
  the table as the store defines it, IAM-authorized API routes equal to the resolver's,
  API Gateway invoking the function under its own permission (not the caller's credentials),
  substitutions covering the definition, ARNs in the stack's partition, names that fit for
  any stack name and differ between stacks, event rules matching real-shaped sample events.

Whether each call the functions make is allowed by their roles is checked from the calls
themselves: ``tests/integration/test_iam_from_calls.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from hyperstep.messages import MIN_ROUND_SECONDS
from tests.template_model import (
    ASL,
    BACKENDS,
    ROOT,
    TEMPLATE,
    Stack,
    as_list,
    resource_schema,
    resource_types,
    role_statements,
    template,
    transformed,
)

TABLE = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
]
"""The trial store's actions; not ConditionCheckItem, which only a trial's start (Suggest) makes."""
WAKE = ["states:SendTaskSuccess"]
STOP = ["sagemaker:StopTrainingJob", "batch:TerminateJob"]
SCHEDULES = ["scheduler:CreateSchedule", "scheduler:GetSchedule", "scheduler:DeleteSchedule", "scheduler:ListSchedules"]
START = ["states:StartExecution", "states:DescribeExecution"]
"""A start, and whether the execution a name answered ExecutionAlreadyExists for runs again
(redriven: ``StepFunctionsOrchestrator._redriven``)."""
EXPECTED_ACTIONS = {
    # PutEvents: the completion of a job it closes (a start that failed, before or after a stop
    # landed; a stop of one whose start failed).
    "ApiFunction": {*TABLE, *WAKE, *STOP, *START, "iam:PassRole", *SCHEDULES, "events:PutEvents"},
    # A tick reads its spec and earlier runs, creates the job, starts it or marks it failed
    # (which deletes its unfinished marker, and publishes its end), or, stopped meanwhile, stopped.
    "StartFunction": {*TABLE, *START, "events:PutEvents"},
    "SuggestFunction": {  # it launches the trials it plans
        *TABLE,
        "dynamodb:ConditionCheckItem",  # a trial's start checks its job is unfinished (store.start_trial)
        *STOP,
        *WAKE,
        *START,
        "sagemaker:CreateTrainingJob",
        "sagemaker:AddTags",
        "iam:PassRole",
        "batch:SubmitJob",
        "batch:TagResource",
        "batch:ListJobs",
        "ssm:GetParameter",  # secret references (hyperstep.secrets), under SecretsPrefix only
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
    },
    # STOP: early stopping; the Describe calls: final metrics and each ended trial's billable time (pricing)
    "CollectFunction": {*TABLE, *WAKE, *STOP, "sagemaker:DescribeTrainingJob", "batch:DescribeJobs"},
    "FinishFunction": {
        *TABLE,
        *WAKE,  # a trial settled as the job closes ends as any does: its end wakes the parked round
        "events:PutEvents",
        *STOP,
        "sagemaker:DescribeTrainingJob",
        "batch:DescribeJobs",
        "logs:GetLogEvents",
        "logs:DescribeLogStreams",  # a SageMaker trial's objective its record lacks, from its log
    },
    "ReaperFunction": {
        *TABLE,
        *WAKE,
        *STOP,
        "sagemaker:DescribeTrainingJob",
        "batch:DescribeJobs",
        "logs:GetLogEvents",
        "logs:DescribeLogStreams",  # a running SageMaker trial's steps from its log
        "states:DescribeExecution",  # a job whose execution's end event was lost...
        "events:PutEvents",  # ...closed as Finish closes it
    },
}
"""What each function's use cases call (service.py, the store, the backends, scheduling)."""


def resources(kind: str | None = None) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template()["Resources"].items() if kind is None or v["Type"] == kind}


def resolve_if(node: Any) -> Any:
    """The template as deployed with every condition true (SageMaker and Batch both on)."""
    if isinstance(node, list):
        return [x for x in (resolve_if(i) for i in node) if x != {"Ref": "AWS::NoValue"}]
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            return resolve_if(node["Fn::If"][1])
        return {k: resolve_if(v) for k, v in node.items()}
    return node


def statements(function: str) -> list[dict[str, Any]]:
    """The function's inline statements plus the shared managed policies it references."""
    found: list[dict[str, Any]] = []
    for policy in resolve_if(resources()[function]["Properties"]["Policies"]):
        if isinstance(policy, dict) and set(policy) == {"Ref"}:
            managed = resources()[policy["Ref"]]["Properties"]["PolicyDocument"]
            found += managed["Statement"]
        else:
            found += policy["Statement"]
    return found


# --- linters and the transform ---------------------------------------------------------


def test_cfn_lint_reports_nothing() -> None:
    """cfn-lint as its command line runs it: every error and warning rule."""
    from cfnlint.api import lint

    matches = lint(TEMPLATE.read_text())
    assert [str(m) for m in matches] == []


def test_template_transforms_offline_into_the_expected_resources() -> None:
    out = transformed()["Resources"]
    kinds = {name: r["Type"] for name, r in out.items()}
    assert sorted(k for k, v in kinds.items() if v == "AWS::Lambda::Function") == sorted(EXPECTED_ACTIONS)
    assert "AWS::Lambda::LayerVersion" in kinds.values()
    assert kinds["TuningStateMachine"] == "AWS::StepFunctions::StateMachine"
    assert out["TuningStateMachine"]["Properties"]["StateMachineType"] == "STANDARD"


def asl_validator_command() -> list[str] | None:
    """A local install (``.tools/node_modules``, e.g. in CI) or npx; None without either."""
    for candidate in (os.environ.get("ASL_VALIDATOR"), ROOT / ".tools/node_modules/.bin/asl-validator"):
        if candidate and Path(candidate).exists():
            return [str(candidate)]
    npx = shutil.which("npx")
    return [npx, "--yes", "asl-validator@4"] if npx else None


def test_asl_validator_accepts_the_state_machine(tmp_path: Path) -> None:
    """The definition as deployed in the ``aws`` partition: asl-validator takes a Resource that
    is one whole ``${Substitution}`` or a valid ARN, so ``arn:${Partition}:...`` is filled first."""
    command = asl_validator_command()
    if command is None:
        pytest.skip("asl-validator needs Node.js: install npx, or `npm install --prefix .tools asl-validator@4`")
    definition = tmp_path / ASL.name
    definition.write_text(ASL.read_text().replace("${Partition}", "aws"))
    run = subprocess.run([*command, "--json-path", str(definition)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


# --- IAM: least privilege ----------------------------------------------------------------


@pytest.mark.parametrize("function", sorted(EXPECTED_ACTIONS))
def test_each_function_has_exactly_the_actions_it_needs(function: str) -> None:
    granted = {action for s in statements(function) for action in as_list(s["Action"])}
    assert granted == EXPECTED_ACTIONS[function]


def all_statements(document: Any) -> list[dict[str, Any]]:
    """Every IAM statement anywhere in a (transformed) template."""
    if isinstance(document, dict):
        found = [document] if "Effect" in document and ("Action" in document or "NotAction" in document) else []
        return found + [s for v in document.values() for s in all_statements(v)]
    if isinstance(document, list):
        return [s for v in document for s in all_statements(v)]
    return []


def test_no_wildcard_actions_and_star_resources_only_where_aws_has_no_resource_type() -> None:
    found = all_statements(resolve_if(transformed()))
    assert len(found) > 20
    for statement in found:
        assert "NotAction" not in statement and "NotResource" not in statement
        for action in as_list(statement["Action"]):
            assert "*" not in action, statement
        if "*" in as_list(statement.get("Resource", [])):
            for action in as_list(statement["Action"]):
                assert resource_types(action) == [], f"{action} has resource types: scope it"


LONGEST_STACK_NAME = ("s" + "-0123456789abcdef" * 8)[:128]
"""128 characters, the most a stack name may have."""
assert len(LONGEST_STACK_NAME) == 128


@pytest.mark.parametrize("stack", [Stack(), Stack(name=LONGEST_STACK_NAME, partition="aws-cn", region="cn-north-1")])
def test_suggest_may_start_executions_of_its_own_state_machine_only(stack: Stack) -> None:
    """Suggest hands long jobs to a new execution: it builds the machine's ARN from the same
    name the machine gets (no reference to it: the definition references Suggest)."""
    document = transformed()
    machine_arn = stack.ref("TuningStateMachine", document)
    assert machine_arn.startswith(f"arn:{stack.partition}:states:{stack.region}:{stack.account}:stateMachine:")
    starts = [s for s in role_statements(stack, "SuggestFunction") if s["Action"] == "states:StartExecution"]
    assert [s["Resource"] for s in starts] == [machine_arn]
    environment = document["Resources"]["SuggestFunction"]["Properties"]["Environment"]["Variables"]
    assert stack.resolve(environment["HYPERSTEP_STATE_MACHINE_ARN"], document) == machine_arn
    assert "TuningStateMachine" not in json.dumps(resources()["SuggestFunction"])


def named_resources(stack: Stack) -> dict[tuple[str, str], str]:
    """Every name the template gives a resource (type's name property), resolved for ``stack``."""
    from tests.template_model import NAME_PROPERTY

    document = transformed()
    return {
        (logical, NAME_PROPERTY[r["Type"]]): stack.physical_name(logical, document)
        for logical, r in document["Resources"].items()
        if NAME_PROPERTY.get(r["Type"]) in r.get("Properties", {})
    }


def test_named_resources_fit_their_limits_for_the_longest_stack_name() -> None:
    """Stack names run to 128 characters; a state machine name to 80, a schedule group's to
    64, a layer's to 140 (CloudFormation's resource schemas, as cfn-lint ships them)."""
    document = transformed()
    names = named_resources(Stack(name=LONGEST_STACK_NAME))
    kinds = {document["Resources"][logical]["Type"] for logical, _ in names}
    named = ("StepFunctions::StateMachine", "Scheduler::ScheduleGroup", "Lambda::LayerVersion", "Logs::LogGroup")
    assert kinds >= {f"AWS::{kind}" for kind in named}
    for (logical, prop), name in names.items():
        schema = resource_schema(document["Resources"][logical]["Type"])["properties"][prop]
        assert len(name) <= schema.get("maxLength", 10**6), f"{logical}.{prop} is {len(name)} characters: {name}"
        assert re.search(schema.get("pattern", ""), name), f"{logical}.{prop} {name!r} breaks {schema['pattern']}"


def test_two_stacks_in_one_region_name_nothing_alike() -> None:
    """A second stack in the same account and region must not collide with the first."""
    first = named_resources(Stack(name="hyperstep", uuid="6f1d2c3b-4a5e-11f0-9c7d-0a1b2c3d4e5f"))
    second = named_resources(Stack(name="hyperstep-dev", uuid="0e9a8b7c-4a5e-11f0-8e6f-5a4b3c2d1e0f"))
    assert first.keys() == second.keys()
    assert not set(first.values()) & set(second.values())
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = config["default"]["deploy"]["parameters"]["parameter_overrides"]
    assert "ScheduleGroupName" not in overrides  # a fixed name there would clash again


def test_a_given_schedule_group_name_is_used_and_followed_by_the_api_permission() -> None:
    document = transformed()
    for stack, group in [
        (Stack(parameters={"ScheduleGroupName": "team-tuning"}), "team-tuning"),
        (Stack(), f"hyperstep-{Stack().uuid}"),
    ]:
        assert stack.physical_name("ScheduleGroup", document) == group
        environment = document["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
        assert stack.resolve(environment["HYPERSTEP_SCHEDULE_GROUP"], document) == group
        (create,) = [s for s in role_statements(stack, "ApiFunction") if "scheduler:CreateSchedule" in s["Action"]]
        assert set(create["Action"]) == {
            "scheduler:CreateSchedule",
            "scheduler:GetSchedule",
            "scheduler:DeleteSchedule",
        }
        assert create["Resource"] == f"arn:aws:scheduler:us-east-1:123456789012:schedule/{group}/*"


def test_pass_role_is_limited_to_one_role_and_one_service() -> None:
    passes = [s for s in all_statements(resolve_if(template())) if "iam:PassRole" in as_list(s["Action"])]
    assert {json.dumps(s["Resource"]) for s in passes} == {
        json.dumps({"Ref": "TrainingRoleArn"}),
        json.dumps({"Fn::GetAtt": ["SchedulerRole", "Arn"]}),
    }
    services = {s["Condition"]["StringEquals"]["iam:PassedToService"] for s in passes}
    assert services == {"sagemaker.amazonaws.com", "scheduler.amazonaws.com"}


def test_sagemaker_access_is_scoped_to_hyperstep_training_jobs() -> None:
    for function in EXPECTED_ACTIONS:
        for statement in statements(function):
            if any(a.startswith("sagemaker:") for a in as_list(statement["Action"])):
                assert statement["Resource"]["Fn::Sub"].endswith(":training-job/hs-*")


def test_scheduler_role_may_only_invoke_the_start_function() -> None:
    role = resources()["SchedulerRole"]["Properties"]
    principal = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "scheduler.amazonaws.com"}
    (statement,) = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert json.dumps(statement["Resource"]).count("StartFunction") == 2
    assert "Function.Arn" not in json.dumps(statement["Resource"]).replace("StartFunction.Arn", "")


def test_scheduler_role_is_assumed_only_for_this_stacks_schedule_group() -> None:
    """Confused deputy prevention (EventBridge Scheduler User Guide, "Confused deputy prevention"):
    ``aws:SourceAccount`` and ``aws:SourceArn`` in the execution role's trust policy, the
    latter "must be your EventBridge Scheduler schedule group ARN" (not a schedule or a name
    prefix): here the group the stack creates, so no other group's schedule (another stack's
    in the account) can have Scheduler assume the role."""
    (trust,) = resources()["SchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {
        "StringEquals": {
            "aws:SourceAccount": {"Ref": "AWS::AccountId"},
            "aws:SourceArn": {"Fn::GetAtt": ["ScheduleGroup", "Arn"]},
        }
    }
    assert resources()["ScheduleGroup"]["Type"] == "AWS::Scheduler::ScheduleGroup"


# --- the table, the API, the state machine, the rules -------------------------------------


def test_table_is_the_one_the_store_defines_with_pitr_sse_and_ttl() -> None:
    from hyperstep.stores.dynamodb import table_definition

    props = resources("AWS::DynamoDB::Table")["Table"]["Properties"]
    expected = table_definition()
    for key in ("BillingMode", "KeySchema", "GlobalSecondaryIndexes"):
        assert props[key] == expected[key]
    assert sorted(props["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_api_requires_iam_and_routes_equal_the_resolvers() -> None:
    from hyperstep_functions.api.app import app

    api = resources("AWS::Serverless::Api")["Api"]["Properties"]
    assert api["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    events = resources()["ApiFunction"]["Properties"]["Events"].values()
    routes = {(e["Properties"]["Method"].upper(), e["Properties"]["Path"]) for e in events}
    spec = json.loads(app.get_openapi_json_schema())
    resolver = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert routes == resolver
    assert all("Auth" not in e["Properties"] for e in events)  # nothing opts out of IAM


def test_state_machine_substitutions_cover_the_definition_and_invoke_only_its_functions() -> None:
    machine = resources("AWS::Serverless::StateMachine")["TuningStateMachine"]["Properties"]
    used = set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))
    substitutions = dict(machine["DefinitionSubstitutions"])
    assert set(substitutions) == used
    assert substitutions.pop("Partition") == {"Ref": "AWS::Partition"}
    invoked = {p["LambdaInvokePolicy"]["FunctionName"]["Ref"] for p in machine["Policies"] if "LambdaInvokePolicy" in p}
    assert invoked == {v["Fn::GetAtt"][0] for v in substitutions.values()}
    assert machine["Tracing"] == {"Enabled": True}
    assert machine["Logging"]["IncludeExecutionData"] is False


def test_a_failing_suggest_function_ends_in_finish_job_and_never_in_a_timeout_of_its_round() -> None:
    """Suggest Trials invokes its function with ``lambda:invoke.waitForTaskToken``. On AWS a
    function error fails the task at once ("If ... an exception is raised within the Lambda
    function, the task fails"), a heartbeat timeout would count only once the function has
    returned, and ``TimeoutSeconds`` counts from the task's start (Developer Guide, "Invoke
    Lambda with Step Functions"). So the function's own ``Timeout`` must end it well inside
    the state's ``TimeoutSeconds``: a function that runs too long then fails as a function
    error, retried and at last caught into Finish Job with its error, rather than timing the
    round out into No News, which plans again while the first Suggest still runs (and would
    loop so forever). Nothing sends heartbeats, so there is no ``HeartbeatSeconds``."""
    definition = json.loads(ASL.read_text())["States"]
    suggest, finish = definition["Suggest Trials"], definition["Finish Job"]
    function = resources()["SuggestFunction"]["Properties"]
    timeout = function.get("Timeout", template()["Globals"]["Function"]["Timeout"])
    assert suggest["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
    assert suggest["TimeoutSecondsPath"] == "$.plan.round_seconds"  # the round's length: Progress.round_seconds
    assert timeout * 2 <= MIN_ROUND_SECONDS and "HeartbeatSeconds" not in suggest
    [retry] = suggest["Retry"]
    assert "States.TaskFailed" in retry["ErrorEquals"]  # a function error, by any name but States.Timeout
    catches = [(c["ErrorEquals"], c["Next"], c.get("ResultPath", "$")) for c in suggest["Catch"]]
    assert catches == [(["States.Timeout"], "No News", None), (["States.ALL"], "Finish Job", "$.error")]
    assert finish.get("End") is True and "Catch" not in finish  # the execution-ended rule closes what fails here


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_every_arn_in_the_definition_is_in_the_stacks_partition(partition: str) -> None:
    """``arn:aws:`` written out breaks the China and GovCloud partitions: the definition gets
    the partition as a substitution and the template builds ARNs from ``AWS::Partition``."""
    assert "arn:aws:" not in ASL.read_text() and "arn:aws:" not in TEMPLATE.read_text()
    document = transformed()
    stack = Stack(partition=partition, region={"aws": "us-east-1"}.get(partition, f"{partition[4:]}-west-1"))
    machine = document["Resources"]["TuningStateMachine"]["Properties"]
    values = stack.resolve(machine["DefinitionSubstitutions"], document)
    definition = re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], ASL.read_text())
    arns = re.findall(r'"(arn:[^"]*)"', definition)
    assert len(arns) >= 3 and all(arn.startswith(f"arn:{partition}:") for arn in arns), arns


def test_api_gateway_invokes_the_function_under_its_permission_not_the_callers_credentials() -> None:
    """With SAM's default InvokeRole (CALLER_CREDENTIALS) every integration carries
    ``credentials: arn:aws:iam::*:user/*`` and a caller holding only execute-api:Invoke gets
    a 500; without credentials, API Gateway needs a Lambda permission for each route."""
    document = transformed()
    (api,) = [r for r in document["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    paths = api["Properties"]["Body"]["paths"]
    operations = [(path, method, op) for path, item in paths.items() for method, op in item.items()]
    assert len(operations) == 8
    permissions = [
        r["Properties"]
        for r in document["Resources"].values()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    for path, method, op in operations:
        integration = op["x-amazon-apigateway-integration"]
        assert "credentials" not in integration, (method, path, integration)
        assert "${ApiFunction.Arn}" in json.dumps(integration["uri"])
        route = re.sub(r"\{[^}]+\}", "*", path)
        allowed = [p for p in permissions if p["SourceArn"]["Fn::Sub"][0].endswith(f"/{method.upper()}{route}")]
        assert [p["FunctionName"] for p in allowed] == [{"Ref": "ApiFunction"}], (method, path)
        assert allowed[0]["Action"] == "lambda:InvokeFunction"


def test_tagging_batch_jobs_requires_hyperstep_tags_in_the_request() -> None:
    """Suggest (which launches) may tag only the jobs it submits (their request carries
    hyperstep's tags, this stack's among them), not any job in the account: TerminateJob
    trusts the ``hyperstep:stack`` tag."""
    stack = Stack(parameters=BACKENDS)
    launch = role_statements(stack, "SuggestFunction")
    (tagging,) = [s for s in launch if s["Action"] == "batch:TagResource"]
    assert tagging["Condition"] == {
        "Null": {"aws:RequestTag/hyperstep:job-id": "false", "aws:RequestTag/hyperstep:trial-id": "false"},
        "StringEquals": {"aws:RequestTag/hyperstep:stack": stack.stack_id.split("/")[2]},
    }


def test_every_function_folder_has_its_handler() -> None:
    for name, function in resources("AWS::Serverless::Function").items():
        folder = ROOT / function["Properties"]["CodeUri"]
        assert "def lambda_handler(" in (folder / "app.py").read_text(), name
    assert template()["Globals"]["Function"]["Handler"] == "app.lambda_handler"


def test_no_function_copies_its_answers_into_its_traces() -> None:
    """Powertools' Tracer records a handler's answer as X-Ray metadata unless
    ``POWERTOOLS_TRACER_CAPTURE_RESPONSE`` says not to: the API's answers are callers' jobs,
    trials and hyperparameters, which X-Ray's readers are not meant to see."""
    from aws_lambda_powertools.shared.constants import TRACER_CAPTURE_RESPONSE_ENV
    from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

    def captures(variables: dict[str, Any]) -> bool:
        return resolve_truthy_env_var_choice(env=str(variables.get(TRACER_CAPTURE_RESPONSE_ENV, "true")))

    assert not captures(template()["Globals"]["Function"]["Environment"]["Variables"])
    for name, function in resources("AWS::Serverless::Function").items():
        own = function["Properties"].get("Environment", {}).get("Variables", {})
        assert TRACER_CAPTURE_RESPONSE_ENV not in own or not captures(own), name


def test_every_event_rule_has_a_dead_letter_queue_that_may_receive_and_is_alarmed() -> None:
    rules = resources("AWS::Events::Rule")
    assert len(rules) == 4
    for rule in rules.values():
        for target in rule["Properties"]["Targets"]:
            assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}}
            assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    policy = resources("AWS::SQS::QueuePolicy")["EventsDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]
    sources = policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert {s["Fn::GetAtt"][0] for s in sources} == set(rules)
    assert resources("AWS::SQS::Queue")["EventsDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    alarm = resources("AWS::CloudWatch::Alarm")["EventsDeadLetterAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    refused = resources("AWS::CloudWatch::Alarm")["RefusedTicksAlarm"]["Properties"]  # ticks no longer reach the queue
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    namespace = variables["POWERTOOLS_METRICS_NAMESPACE"]
    assert (refused["Namespace"], refused["MetricName"]) == (namespace, "ScheduledTicksRefused")
    assert refused["Dimensions"] == [{"Name": "service", "Value": variables["POWERTOOLS_SERVICE_NAME"]}]


def sample(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / name).read_text())


def routed(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether EventBridge (moto's) routes ``event`` through a rule with ``pattern``."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        events, sqs = boto3.client("events", "us-east-1"), boto3.client("sqs", "us-east-1")
        url = sqs.create_queue(QueueName="target")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="rule", EventPattern=json.dumps(pattern))
        events.put_targets(Rule="rule", Targets=[{"Id": "q", "Arn": arn}])
        entry = {"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"])}
        events.put_events(Entries=[entry])
        return bool(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages"))


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.mark.parametrize(
    ("rule", "event", "name_field"),
    [
        ("SageMakerStateChangeRule", "sagemaker-training-job-state-change-completed.json", "TrainingJobName"),
        ("BatchStateChangeRule", "batch-job-state-change-succeeded.json", "jobName"),
    ],
)
def test_state_change_rules_take_only_hyperstep_jobs_that_ended(
    rule: str, event: str, name_field: str, fake_credentials: None
) -> None:
    pattern = resources()[rule]["Properties"]["EventPattern"]
    ended = sample(event)
    assert routed(pattern, ended)
    assert not routed(pattern, {**ended, "detail": {**ended["detail"], name_field: "someone-elses-job"}})
    running = "sagemaker-training-job-state-change-in-progress.json" if "SageMaker" in rule else None
    if running:
        assert not routed(pattern, sample(running))
    else:
        assert not routed(pattern, sample("batch-job-state-change-running.json"))


def test_metric_rule_takes_trial_metric_events(fake_credentials: None) -> None:
    pattern = resources()["TrialMetricRule"]["Properties"]["EventPattern"]
    assert routed(pattern, sample("trial-metric-reported.json"))
    assert not routed(pattern, sample("scheduled-event.json"))


def test_execution_rule_takes_only_this_stacks_executions_that_ended_outside_finish(fake_credentials: None) -> None:
    pattern = resources()["ExecutionEndedRule"]["Properties"]["EventPattern"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": "TuningStateMachine"}]
    ended = sample("step-functions-execution-status-change-aborted.json")
    arn = ended["detail"]["stateMachineArn"]
    deployed = {**pattern, "detail": {**pattern["detail"], "stateMachineArn": [arn]}}
    for status in ("ABORTED", "FAILED", "TIMED_OUT"):
        assert routed(deployed, {**ended, "detail": {**ended["detail"], "status": status}})
    for status in ("SUCCEEDED", "RUNNING"):  # Finish Job closed it; it runs on
        assert not routed(deployed, {**ended, "detail": {**ended["detail"], "status": status}})
    other = arn.replace("hyperstep-tuning-", "someone-elses-")
    assert not routed(deployed, {**ended, "detail": {**ended["detail"], "stateMachineArn": other}})
    target = resources()["ExecutionEndedRule"]["Properties"]["Targets"][0]
    assert target["Arn"] == {"Fn::GetAtt": ["FinishFunction", "Arn"]}


def test_the_api_admits_the_deploying_account_and_named_accounts_only() -> None:
    """The resource policy denies every principal outside the deploying account and
    ``ApiCallerAccounts``; it allows nothing in the deploying account (IAM policies decide
    there: a caller needs execute-api:Invoke), and allows the named accounts (cross-account
    calls need both sides)."""
    document = template()
    policy = document["Resources"]["Api"]["Properties"]["Auth"]["ResourcePolicy"]["CustomStatements"]
    for accounts, allowed in [("", None), ("111122223333,444455556666", ["111122223333", "444455556666"])]:
        stack = Stack(parameters={"ApiCallerAccounts": accounts})
        statements = [s for s in stack.resolve(policy, document) if s is not None]
        deny, *allows = statements
        assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "execute-api:Invoke")
        assert deny["Condition"]["StringNotEquals"]["aws:PrincipalAccount"] == [stack.account, *(allowed or [])]
        assert [a["Principal"]["AWS"] for a in allows] == ([allowed] if allowed else [])
        assert all(a["Effect"] == "Allow" for a in allows)
    translated = [r for r in transformed()["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert translated[0]["Properties"]["Body"]["x-amazon-apigateway-policy"]["Statement"][0]["Effect"] == "Deny"


def parameter_accepts(name: str, value: str) -> bool:
    """Whether CloudFormation takes ``value`` for parameter ``name`` by its AllowedPattern
    (a CommaDelimitedList's pattern is matched against each element)."""
    parameter = template()["Parameters"][name]
    values = value.split(",") if parameter["Type"] == "CommaDelimitedList" else [value]
    pattern = parameter.get("AllowedPattern", "(?s).*")  # none: CloudFormation takes any value
    return all(re.fullmatch(pattern, item) for item in values)


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("AdminPrincipals", "", True),
        ("AdminPrincipals", "arn:aws:iam::111122223333:role/ops", True),
        ("AdminPrincipals", "arn:aws:iam::111122223333:role/team/ops, arn:aws:iam::111122223333:user/carol", True),
        ("AdminPrincipals", "arn:aws-cn:iam::111122223333:root", True),
        ("AdminPrincipals", "carol", False),
        ("AdminPrincipals", "arn:aws:iam::111122223333:role/ops,*", False),
        ("AdminPrincipals", "arn:aws:iam::1111:role/ops", False),
        ("AdminPrincipals", "arn:aws:s3:::bucket", False),
        ("MaxBatchVcpus", "8", True),
        ("MaxBatchVcpus", "0.25", True),
        ("MaxBatchVcpus", "*", True),
        ("MaxBatchVcpus", "0", False),
        ("MaxBatchVcpus", "0.0", False),
        ("MaxBatchVcpus", "-1", False),
        ("EventBusName", "default", True),
        ("EventBusName", "hyperstep-bus", True),
        ("EventBusName", "team.ml_events-1", True),
        ("EventBusName", "arn:aws:events:us-east-1:123456789012:event-bus/hyperstep-bus", False),
        ("EventBusName", "", False),
    ],
)
def test_parameters_refuse_what_hyperstep_cannot_use(name: str, value: str, accepted: bool) -> None:
    """An admin list of anything but IAM ARNs (a typo would silently make nobody an admin), a
    Batch vCPU limit of 0 (every Batch trial refused) and an event bus given by its ARN fail at
    deploy time. The bus: Finish's ``events:PutEvents`` grant is built as
    ``event-bus/${EventBusName}``, so an ARN there (which the rule and PutEvents would take)
    grants ``event-bus/arn:...`` and every completion event is denied on AWS. A bus name is 1
    to 256 of ``/ . - _ A-Z a-z 0-9`` (EventBridge API Reference, CreateEventBus ``Name``)."""
    assert parameter_accepts(name, value) is accepted


def test_suggest_reads_secrets_under_the_prefix_only_and_decrypts_only_through_ssm_and_secrets_manager() -> None:
    """``SecretsPrefix`` bounds what Suggest (which launches trials) may read; empty (the default), it may read none."""
    secret_actions = {"ssm:GetParameter", "secretsmanager:GetSecretValue", "kms:Decrypt"}
    stack = Stack(parameters={**BACKENDS, "SecretsPrefix": "team-a/"})
    granted = {s["Action"]: s for s in role_statements(stack, "SuggestFunction") if str(s["Action"]) in secret_actions}
    base = f"arn:aws:{{}}:{stack.region}:{stack.account}"
    assert granted["ssm:GetParameter"]["Resource"] == base.format("ssm") + ":parameter/team-a/*"
    assert granted["secretsmanager:GetSecretValue"]["Resource"] == base.format("secretsmanager") + ":secret:team-a/*"
    assert granted["kms:Decrypt"]["Condition"] == {
        "StringEquals": {
            "kms:ViaService": [f"ssm.{stack.region}.amazonaws.com", f"secretsmanager.{stack.region}.amazonaws.com"]
        }
    }
    default = Stack(parameters=BACKENDS)
    assert not [s for s in role_statements(default, "SuggestFunction") if str(s["Action"]) in secret_actions]
    for function in ("ApiFunction", "StartFunction", "SuggestFunction"):
        variables = transformed()["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert stack.resolve(variables["HYPERSTEP_SECRETS_PREFIX"], transformed()) == "team-a/", function
        # a secret named by its ARN: the account and region of the grant above (hyperstep.secrets)
        assert (
            stack.resolve(variables["HYPERSTEP_SECRETS_ARN"], transformed())
            == base.format("secretsmanager") + ":secret:"
        )


def test_the_state_machine_uses_only_integrations_its_role_can_run() -> None:
    """Every Task is a Lambda function the role may invoke, directly or through
    ``lambda:invoke.waitForTaskToken`` (which needs nothing more). A ``.sync`` integration
    would also need ``events:PutTargets``, ``events:PutRule`` and ``events:DescribeRule`` on
    the managed rule ``StepFunctionsGetEventsFor...`` (the Step Functions Developer Guide's
    IAM policies for its Batch and SageMaker integrations), which the role lacks: moto's
    engine cannot run ``.sync`` at all (FIELD-NOTES), so only this check would say so before
    a deploy."""
    definition = json.loads(ASL.read_text())
    tasks: list[str] = []

    def walk(states: dict[str, Any]) -> None:
        for state in states.values():
            if state["Type"] == "Task":
                tasks.append(state["Resource"])
            for branch in state.get("Branches", []):
                walk(branch["States"])
            if "ItemProcessor" in state or "Iterator" in state:
                walk(state.get("ItemProcessor", state.get("Iterator"))["States"])

    walk(definition["States"])
    substitutions = resources("AWS::Serverless::StateMachine")["TuningStateMachine"]["Properties"]
    functions = {f"${{{name}}}" for name in substitutions["DefinitionSubstitutions"] if name != "Partition"}
    for resource in tasks:
        assert ".sync" not in resource, f"{resource}: the role has no managed-rule permissions for .sync"
        assert resource in functions or resource == "arn:${Partition}:states:::lambda:invoke.waitForTaskToken", resource
    assert len(tasks) == 2


def test_events_a_function_fails_on_land_in_the_dead_letter_queue_too() -> None:
    """EventBridge's dead-letter queue takes only the events it could not deliver. Once Lambda
    has accepted one (an asynchronous invoke), a function error is run twice more and then the
    event is discarded, unless the function has an on-failure destination (Lambda Developer
    Guide, "How Lambda handles errors and retries with asynchronous invocation"): a Collect
    that fails three times on a result, or a Finish on an execution's end, would lose it with
    no alarm. moto retries nothing, so only the template can say. Each function an event rule
    targets sends what it failed on to the alarmed queue, and its role may. So does Start:
    EventBridge Scheduler invokes a Lambda target asynchronously too (Lambda Developer Guide,
    "Invoke a Lambda function on a schedule"), so a tick it failed on three times (a spec now
    outside the guardrails, a table or Step Functions error) was dropped without a trace;
    the schedule's own dead-letter queue would see only a tick Lambda did not accept."""
    document = transformed()
    targeted = {
        target["Arn"]["Fn::GetAtt"][0]
        for rule in resources("AWS::Events::Rule").values()
        for target in rule["Properties"]["Targets"]
    }
    assert targeted == {"CollectFunction", "FinishFunction"}
    (scheduled,) = resources()["SchedulerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    targeted |= {arn["Fn::GetAtt"][0] for arn in scheduled["Resource"] if "Fn::GetAtt" in arn}
    assert targeted == {"CollectFunction", "FinishFunction", "StartFunction"}
    configs = {
        r["Properties"]["FunctionName"]["Ref"]: r["Properties"]
        for r in document["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
    }
    stack = Stack(parameters=BACKENDS)
    queue = stack.arn("EventsDeadLetterQueue", document)
    for function in targeted:
        assert function in configs, f"{function} has no on-failure destination"
        on_failure = stack.resolve(configs[function]["DestinationConfig"]["OnFailure"]["Destination"], document)
        assert on_failure == queue, function
        sends = [s for s in role_statements(stack, function) if "sqs:SendMessage" in as_list(s["Action"])]
        assert [s["Resource"] for s in sends] == [queue], function


def test_api_gateways_own_refusals_answer_in_the_documented_shapes() -> None:
    """API Gateway refuses some requests itself, before the function: an unsigned one or a path
    or method no route takes (403 "Missing Authentication Token"), a body over 10 MB, its own
    throttle. They answered ``{"message": ...}``, where ``openapi.json`` documents every 4xx as
    ``Problem`` and the 500 as ``ServerError``. Each default gateway response, filled as API
    Gateway fills it, validates against the documented schema."""
    import jsonschema

    document = json.loads((ROOT / "functions" / "api" / "openapi.json").read_text())
    (api,) = [r for r in transformed()["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    responses = api["Properties"]["Body"].get("x-amazon-apigateway-gateway-responses", {})
    for kind, model in (("DEFAULT_4XX", "Problem"), ("DEFAULT_5XX", "ServerError")):
        template = responses.get(kind, {}).get("responseTemplates", {}).get("application/json", "{}")
        filled = template.replace("$context.error.messageString", json.dumps('Missing "Authentication" Token'))
        body = json.loads(filled.replace("$context.requestId", "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"))
        schema = {**document["components"]["schemas"][model], "components": document["components"]}
        jsonschema.validate(body, schema)
        assert body["reason"] == 'Missing "Authentication" Token', (kind, body)
