"""template.yaml as CloudFormation deploys it, for tests that check the deployment offline.

- ``template()``: the SAM template as written (cfn-lint's YAML loader: short-form tags become
  ``Ref`` / ``Fn::*`` objects);
- ``transformed()``: the same after the SAM transform, run offline by aws-sam-translator
  (local ``CodeUri`` / ``ContentUri`` / ``DefinitionUri`` replaced by S3 locations);
- ``Stack``: one concrete deployment (account, region, partition, stack name and id,
  parameters, physical names). ``Stack.resolve(node, document)`` evaluates the intrinsic
  functions CloudFormation would: ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``,
  ``Fn::Select``, ``Fn::Split``, ``Fn::If`` and the condition functions; ``AWS::NoValue``
  drops the list item or property. Anything else raises ``Unresolvable``: a template that
  uses more must teach this module, never be skipped silently.
- ``iam_reference()`` / ``resource_types(action)``: cfn-lint's copy of the IAM Service
  Authorization Reference (each action's resource types).
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
ASL = ROOT / "statemachine" / "tuning.asl.json"


@functools.cache
def template() -> dict[str, Any]:
    from cfnlint.decode import cfn_yaml

    return json.loads(json.dumps(cfn_yaml.loads(TEMPLATE.read_text())))


@functools.cache
def transformed() -> dict[str, Any]:
    """The template after the SAM transform, run offline (local URIs replaced by S3 ones)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from samtranslator.translator.transform import transform

    document = json.loads(json.dumps(template()))
    for name, resource in document["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = {"Bucket": "artifacts", "Key": f"{name}/{key}"}

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    return transform(document, {}, NoManagedPolicies())


@functools.cache
def iam_reference() -> dict[str, Any]:
    """cfn-lint's copy of the IAM Service Authorization Reference (actions, resource types)."""
    import cfnlint

    path = Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "Policies.json"
    data = json.loads(path.read_text())
    return data.get("serviceMap", data)


def resource_types(action: str) -> list[str]:
    """The resource types an IAM action takes (empty: only ``"*"``); KeyError for an unknown action."""
    service, name = action.lower().split(":")
    return iam_reference()[service]["Actions"][name].get("Resources", [])


@functools.cache
def resource_schema(kind: str) -> dict[str, Any]:
    """cfn-lint's CloudFormation resource schema of a type (property types, lengths, patterns)."""
    import cfnlint

    schemas = Path(cfnlint.__file__).parent / "data" / "schemas"
    index = json.loads((schemas / "providers" / "us-east-1.json").read_text())
    return json.loads((schemas / "resources" / f"{index[kind]}.json").read_text())


class Unresolvable(Exception):
    """The template uses an intrinsic function or attribute this module does not evaluate."""


NO_VALUE = object()
"""What ``Ref: AWS::NoValue`` resolves to; dropped from the list or object holding it."""

NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Events::Rule": "Name",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::SQS::Queue": "QueueName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
}
"""The property that names a resource of each type (CloudFormation generates a name without it)."""

ARN_FORMAT = {
    "AWS::DynamoDB::Table": "arn:{partition}:dynamodb:{region}:{account}:table/{name}",
    "AWS::Events::Rule": "arn:{partition}:events:{region}:{account}:rule/{name}",
    "AWS::IAM::ManagedPolicy": "arn:{partition}:iam::{account}:policy/{name}",
    "AWS::IAM::Role": "arn:{partition}:iam::{account}:role/{name}",
    "AWS::Lambda::Function": "arn:{partition}:lambda:{region}:{account}:function:{name}",
    "AWS::Lambda::LayerVersion": "arn:{partition}:lambda:{region}:{account}:layer:{name}:1",
    "AWS::Logs::LogGroup": "arn:{partition}:logs:{region}:{account}:log-group:{name}:*",
    "AWS::Scheduler::ScheduleGroup": "arn:{partition}:scheduler:{region}:{account}:schedule-group/{name}",
    "AWS::SQS::Queue": "arn:{partition}:sqs:{region}:{account}:{name}",
    "AWS::StepFunctions::StateMachine": "arn:{partition}:states:{region}:{account}:stateMachine:{name}",
}
REF_IS_ARN = {"AWS::IAM::ManagedPolicy", "AWS::Lambda::LayerVersion", "AWS::StepFunctions::StateMachine"}
"""Types whose ``Ref`` is the ARN (for the others in ``ARN_FORMAT`` it is the name)."""

_SUB = re.compile(r"\$\{([^}]*)\}")

BACKENDS = {
    "TrainingRoleArn": "arn:aws:iam::123456789012:role/HyperstepSageMakerRole",
    "BatchJobQueueArn": "arn:aws:batch:us-east-1:123456789012:job-queue/hyperstep-queue",
    "BatchJobDefinitionArn": "arn:aws:batch:us-east-1:123456789012:job-definition/train",
}
"""Parameters of a stack with SageMaker and Batch enabled (the role, queue and definition the
moto tests use)."""


@dataclass(frozen=True)
class Stack:
    """One deployment of the template: what the intrinsic functions resolve against."""

    parameters: Mapping[str, str] = field(default_factory=dict)
    """Parameter values; the template's defaults fill the rest."""
    account: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"
    name: str = "hyperstep"
    uuid: str = "6f1d2c3b-4a5e-11f0-9c7d-0a1b2c3d4e5f"
    physical_names: Mapping[str, str] = field(default_factory=dict)
    """Names of resources the template leaves to CloudFormation (logical id -> name)."""

    @property
    def stack_id(self) -> str:
        return f"arn:{self.partition}:cloudformation:{self.region}:{self.account}:stack/{self.name}/{self.uuid}"

    def pseudo(self, name: str) -> str:
        values = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.name,
            "AWS::StackId": self.stack_id,
            "AWS::URLSuffix": "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com",
        }
        if name not in values:
            raise Unresolvable(f"pseudo parameter {name}")
        return values[name]

    # --- intrinsic functions ------------------------------------------------------------

    def resolve(self, node: Any, document: Mapping[str, Any]) -> Any:
        """``node`` with every intrinsic function evaluated (``NO_VALUE`` items dropped)."""
        if isinstance(node, list):
            return [v for v in (self.resolve(i, document) for i in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg, document)
            if key == "Fn::GetAtt":
                logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(logical, attribute, document)
            if key == "Condition":
                return self.condition(arg, document)
            if key.startswith("Fn::"):
                return self._function(key, arg, document)
        resolved = {k: self.resolve(v, document) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _function(self, key: str, arg: Any, document: Mapping[str, Any]) -> Any:
        if key == "Fn::If":
            condition, then, otherwise = arg
            return self.resolve(then if self.condition(condition, document) else otherwise, document)
        if key == "Fn::Sub":
            return self.sub(arg, document)
        if key == "Fn::Join":
            separator, items = arg
            return separator.join(self.resolve(items, document))
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items, document)[int(self.resolve(index, document))]
        if key == "Fn::Split":
            separator, text = arg
            return self.resolve(text, document).split(separator)
        if key == "Fn::Equals":
            left, right = self.resolve(arg, document)
            return left == right
        if key == "Fn::Not":
            return not self.resolve(arg[0], document)
        if key == "Fn::And":
            return all(self.resolve(arg, document))
        if key == "Fn::Or":
            return any(self.resolve(arg, document))
        raise Unresolvable(key)

    def condition(self, name: str, document: Mapping[str, Any]) -> bool:
        return bool(self.resolve(document["Conditions"][name], document))

    def parameter(self, name: str, document: Mapping[str, Any]) -> str:
        declared = document.get("Parameters", {})
        if name not in declared:
            raise Unresolvable(f"parameter {name}")
        value = self.parameters.get(name, declared[name].get("Default"))
        if value is None:
            raise Unresolvable(f"parameter {name} has no value and no default")
        return str(value)

    def ref(self, name: str, document: Mapping[str, Any]) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in document.get("Parameters", {}):
            value = self.parameter(name, document)
            return value.split(",") if document["Parameters"][name]["Type"] == "CommaDelimitedList" else value
        kind = self._resource(name, document)["Type"]
        return self.arn(name, document) if kind in REF_IS_ARN else self.physical_name(name, document)

    def get_att(self, logical: str, attribute: str, document: Mapping[str, Any]) -> str:
        if attribute == "Arn":
            return self.arn(logical, document)
        if attribute in ("Name", "QueueName"):
            return self.physical_name(logical, document)
        raise Unresolvable(f"Fn::GetAtt {logical}.{attribute}")

    def sub(self, arg: Any, document: Mapping[str, Any]) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        values = {k: self.resolve(v, document) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if "." in name and not name.startswith("AWS::"):
                return self.get_att(*name.split(".", 1), document)
            return str(self.ref(name, document))

        return _SUB.sub(replace, text)

    # --- resources ------------------------------------------------------------------------

    @staticmethod
    def _resource(logical: str, document: Mapping[str, Any]) -> dict[str, Any]:
        if logical not in document.get("Resources", {}):
            raise Unresolvable(f"no resource or parameter {logical}")
        return document["Resources"][logical]

    def physical_name(self, logical: str, document: Mapping[str, Any]) -> str:
        """The name the template gives the resource, the test's name for it, or one like
        CloudFormation generates (``<stack>-<logical id>-<suffix>``)."""
        resource = self._resource(logical, document)
        name_property = NAME_PROPERTY.get(resource["Type"])
        given = resource.get("Properties", {}).get(name_property) if name_property else None
        if given is not None:
            return str(self.resolve(given, document))
        if logical in self.physical_names:
            return self.physical_names[logical]
        return f"{self.name}-{logical}-1A2B3C4D5E6F"

    def arn(self, logical: str, document: Mapping[str, Any]) -> str:
        kind = self._resource(logical, document)["Type"]
        if kind not in ARN_FORMAT:
            raise Unresolvable(f"the ARN of a {kind}")
        return ARN_FORMAT[kind].format(
            partition=self.partition,
            region=self.region,
            account=self.account,
            name=self.physical_name(logical, document),
        )


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


AWS_MANAGED_POLICIES = {"service-role/AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}
"""The AWS managed policies SAM attaches to every function (logs, X-Ray): nothing hyperstep calls."""


def role_statements(stack: Stack, function: str) -> list[dict[str, Any]]:
    """Every statement of the function's execution role in the transformed template, resolved
    for ``stack``: its inline policies and the template's own managed policies. Any other
    managed policy must be one of ``AWS_MANAGED_POLICIES``."""
    document = transformed()
    role = document["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    properties = stack.resolve(document["Resources"][role]["Properties"], document)
    found = [s for policy in properties.get("Policies", []) for s in as_list(policy["PolicyDocument"]["Statement"])]
    own = {
        stack.arn(name, document): name
        for name, resource in document["Resources"].items()
        if resource["Type"] == "AWS::IAM::ManagedPolicy"
    }
    for arn in properties.get("ManagedPolicyArns", []):
        if arn in own:
            policy = stack.resolve(document["Resources"][own[arn]]["Properties"]["PolicyDocument"], document)
            found += as_list(policy["Statement"])
        elif arn.split(":policy/", 1)[-1] not in AWS_MANAGED_POLICIES:
            raise Unresolvable(f"{function}'s role has a managed policy this check does not know: {arn}")
    return found
