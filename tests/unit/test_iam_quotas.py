"""IAM's quotas on the roles the template creates: a deploy that breaks one fails in
CloudFormation (``LimitExceeded``), which neither moto nor cfn-lint shows.

IAM User Guide, "IAM and AWS STS quotas": a role may have at most 10 managed policies
attached (the default, adjustable to 20), the aggregate of a role's inline policies at most
10,240 characters and a managed policy at most 6,144, whitespace not counted. Each check
resolves the transformed template for the stack that grants the most: both backends, the
secrets prefix, the alarm topic, the longest stack name.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.template_model import BACKENDS, Stack, transformed
from tests.unit.test_template import LONGEST_STACK_NAME

MANAGED_POLICIES_PER_ROLE = 10
ROLE_INLINE_CHARACTERS = 10_240
MANAGED_POLICY_CHARACTERS = 6_144

WIDEST = Stack(
    parameters={
        **BACKENDS,
        "SecretsPrefix": "hyperstep/" + "team-0123456789abcdef/" * 3,
        "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:hyperstep-alarms",
        "ScheduleGroupName": "g" * 64,
    },
    name=LONGEST_STACK_NAME,
)
"""The stack whose policies are longest: every optional grant on, the longest names."""


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


def test_the_widest_stack_has_every_function_role() -> None:
    """The checks below read the roles SAM makes for each function, and a role the template
    names itself (the state machine's): none may be missing from what they read."""
    assert {"SuggestFunctionRole", "ApiFunctionRole", "ReaperFunctionRole", "TuningStateMachineRole"} <= ROLES.keys()


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
