"""Quotas a deploy breaks in CloudFormation (``LimitExceeded``, or Lambda refusing the
function's configuration), which neither moto nor cfn-lint shows.

- IAM User Guide, "IAM and AWS STS quotas": a role may have at most 10 managed policies
  attached (the default, adjustable to 20), the aggregate of a role's inline policies at most
  10,240 characters and a managed policy at most 6,144, whitespace not counted.
- Lambda Developer Guide, "Lambda quotas": a function's environment variables take at most
  4 KB in all (Lambda measures them as the JSON of the variables).

Each check resolves the transformed template for the stack that grants the most and names
the longest: both backends, the secrets prefix, the alarm topic, the longest stack name, and
every list parameter at its ``MaxLength``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.template_model import BACKENDS, Stack, template, transformed
from tests.unit.test_template import LONGEST_STACK_NAME

MANAGED_POLICIES_PER_ROLE = 10
ROLE_INLINE_CHARACTERS = 10_240
MANAGED_POLICY_CHARACTERS = 6_144
ENVIRONMENT_BYTES = 4 * 1024

ADMIN = "arn:aws:iam::123456789012:role/" + "platform/" * 4 + "hyperstep-administrators"
"""An administrator's role ARN with a path: AdminPrincipals has no length of its own."""

LONGEST_LISTS = {
    name: "x" * parameter["MaxLength"]
    for name, parameter in template()["Parameters"].items()
    if parameter["Type"] == "String" and "MaxLength" in parameter
}

WIDEST = Stack(
    parameters={
        **BACKENDS,
        **LONGEST_LISTS,
        "SecretsPrefix": "hyperstep/" + "team-0123456789abcdef/" * 3,
        "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:hyperstep-alarms",
        "ScheduleGroupName": "g" * 64,
        "AdminPrincipals": ",".join([ADMIN] * 3),
    },
    name=LONGEST_STACK_NAME,
)
"""The stack whose policies and environments are longest."""


def characters(document: Any) -> int:
    """A policy's size as IAM counts it: its JSON without whitespace."""
    return len(re.sub(r"\s", "", json.dumps(document)))


def resources_of(kind: str) -> dict[str, dict[str, Any]]:
    document = transformed()
    return {
        name: WIDEST.resolve(resource["Properties"], document)
        for name, resource in document["Resources"].items()
        if resource["Type"] == kind
    }


ROLES = resources_of("AWS::IAM::Role")
FUNCTIONS = resources_of("AWS::Lambda::Function")


def test_the_widest_stack_has_the_roles_functions_and_lists_the_checks_read() -> None:
    assert {"SuggestFunctionRole", "ApiFunctionRole", "ReaperFunctionRole", "TuningStateMachineRole"} <= ROLES.keys()
    assert {"ApiFunction", "StartFunction", "SuggestFunction"} <= FUNCTIONS.keys()
    lists = {"AllowedImagePrefixes", "AllowedS3Prefixes", "AllowedSubnets", "AllowedSecurityGroups"}
    assert lists <= LONGEST_LISTS.keys()
    variables = FUNCTIONS["ApiFunction"]["Environment"]["Variables"]
    assert variables["HYPERSTEP_ALLOWED_S3_PREFIXES"] == LONGEST_LISTS["AllowedS3Prefixes"]
    assert ADMIN in variables["HYPERSTEP_ADMIN_PRINCIPALS"]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_role_keeps_within_iams_quotas(role: str) -> None:
    properties = ROLES[role]
    assert len(properties.get("ManagedPolicyArns", [])) <= MANAGED_POLICIES_PER_ROLE
    inline = sum(characters(policy["PolicyDocument"]) for policy in properties.get("Policies", []))
    assert inline <= ROLE_INLINE_CHARACTERS, f"{role}'s inline policies are {inline} characters"


@pytest.mark.parametrize("policy", sorted(resources_of("AWS::IAM::ManagedPolicy")))
def test_a_managed_policy_keeps_within_iams_quota(policy: str) -> None:
    size = characters(resources_of("AWS::IAM::ManagedPolicy")[policy]["PolicyDocument"])
    assert size <= MANAGED_POLICY_CHARACTERS, f"{policy} is {size} characters"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_a_functions_environment_keeps_within_lambdas_4_kb(function: str) -> None:
    variables = FUNCTIONS[function].get("Environment", {}).get("Variables", {})
    size = len(json.dumps(variables, separators=(",", ":")).encode())
    assert size <= ENVIRONMENT_BYTES, f"{function}'s environment is {size} bytes"
