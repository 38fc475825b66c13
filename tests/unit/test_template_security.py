"""What the deployment lets principals read and send, from the template as CloudFormation
deploys it (``tests.template_model``): the dead-letter queue's readers."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest

from tests.template_model import BACKENDS, Stack, as_list, role_statements, transformed

OPS = "arn:aws:iam::123456789012:role/team/ops"
CAROL = "arn:aws:iam::123456789012:user/carol"


def denied(policy: dict[str, Any], action: str, principal: str) -> bool:
    """Whether a statement of the resource policy denies ``action`` to ``principal`` (its
    ``aws:PrincipalArn``: a role session's is the role's ARN). Only the conditions this
    template uses are understood; any other fails the test, to be taught here."""
    for statement in as_list(policy["Statement"]):
        if statement["Effect"] != "Deny" or action not in as_list(statement["Action"]):
            continue
        assert statement["Principal"] in ("*", {"AWS": "*"}), statement
        condition = statement.get("Condition")
        if condition is None:
            return True
        ((operator, test),) = condition.items()
        ((key, patterns),) = test.items()
        assert (operator, key) == ("ArnNotLike", "aws:PrincipalArn"), condition
        if not any(fnmatchcase(principal, p) for p in as_list(patterns)):
            return True
    return False


def queue_policy(stack: Stack) -> dict[str, Any]:
    document = transformed()
    return stack.resolve(document["Resources"]["EventsDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"], document)


@pytest.mark.parametrize("admins", ["", OPS, f"{OPS},{CAROL}"])
def test_only_the_admins_may_read_the_dead_letter_queue(admins: str) -> None:
    """A Batch job's end event carries its container's environment (the trial's report key and
    every environment value, secrets resolved at launch included), and the dead-letter queue
    keeps the events Collect failed on (EventBridge's undelivered ones and Lambda's on-failure
    records, whose requestPayload is the event) for 14 days. Any principal whose own IAM policy
    allowed sqs:ReceiveMessage on it (``sqs:*`` on ``*``) could read them. The queue's policy
    denies ReceiveMessage to every principal but ``AdminPrincipals`` (nobody when empty); the
    stack's own roles never read it, and sending is untouched."""
    stack = Stack(parameters={**BACKENDS, "AdminPrincipals": admins})
    policy = queue_policy(stack)
    named = [a for a in admins.split(",") if a]
    others = [
        "arn:aws:iam::123456789012:role/developer",
        "arn:aws:iam::123456789012:root",
        "arn:aws:iam::123456789012:role/team/ops-and-more",
        *({OPS, CAROL} - set(named)),
    ]
    document = transformed()
    functions = [n for n, r in document["Resources"].items() if r["Type"] == "AWS::Lambda::Function"]
    roles = [stack.arn(document["Resources"][f]["Properties"]["Role"]["Fn::GetAtt"][0], document) for f in functions]
    for principal in [*others, *roles]:
        assert denied(policy, "sqs:ReceiveMessage", principal), principal
    for principal in named:
        assert not denied(policy, "sqs:ReceiveMessage", principal), principal
    for function in functions:  # no function of the stack needs to read it
        for statement in role_statements(stack, function):
            assert "sqs:ReceiveMessage" not in as_list(statement["Action"]), function
    assert not denied(policy, "sqs:SendMessage", "events.amazonaws.com")


CLOSERS = ["FinishFunction", "ReaperFunction", "ApiFunction", "StartFunction"]
"""The functions that close jobs and publish their completion (the reaper: a job whose
execution's end event was lost; the API and the start function: a start that failed, and the
API a stop of such a job). Suggest no longer closes a job its execution reads as closed: it
launches nothing and leaves the job to the reaper, so it may put no event at all."""


def may_put(function: str, *entries: tuple[str, str]) -> bool:
    """Whether the function's role may send these (source, detail-type) entries to the stack's
    bus in one PutEvents call, as IAM evaluates it (``tests.integration.iam_policy``)."""
    from tests.integration.iam_policy import Arns, Call, Policy, authorizations

    stack = Stack(parameters=BACKENDS)
    sent = [{"Source": s, "DetailType": d, "Detail": "{}", "EventBusName": "default"} for s, d in entries]
    made = Call(function.removesuffix("Function").lower(), "events", "PutEvents", {"Entries": sent}, stack.region)
    policy = Policy(tuple(role_statements(stack, function)))
    return all(policy.allows(r) for r in authorizations(made, Arns(stack.account), dict))


@pytest.mark.parametrize("function", CLOSERS)
def test_finish_may_send_its_completion_event_and_nothing_else(function: str) -> None:
    """Finish's events:PutEvents held for any event on the bus: code running as Finish could
    send a trial's "Trial Metric Reported" (source hyperstep.trial; signed, but a keyless trial
    from before signing takes it unsigned) or any event another consumer of the bus trusts.
    AWS's Service Authorization Reference lists events:source and events:detail-type as
    condition keys of PutEvents ("Filters access by the AWS service or AWS partner event
    source that generated the event to PutEvents and PutRule actions. Matches the literal
    string of the source field of the event", ArrayOfString), so the grant names the one
    source and detail-type the publisher sends."""
    from unittest import mock

    from hyperstep.aws import EventBridgePublisher

    client = mock.Mock()
    client.put_events.return_value = {"FailedEntryCount": 0}
    EventBridgePublisher(client).publish("Tuning Job Completed", {})
    (sent,) = client.put_events.call_args.kwargs["Entries"]
    completion = (sent["Source"], sent["DetailType"])
    assert may_put(function, completion)
    assert not may_put(function, ("hyperstep.trial", "Trial Metric Reported"))
    assert not may_put(function, (sent["Source"], "Trial Metric Reported"))
    assert not may_put(function, ("hyperstep.trial", sent["DetailType"]))
    assert not may_put(function, completion, ("hyperstep.trial", "Trial Metric Reported"))


def test_suggest_may_put_no_event() -> None:
    assert not may_put("SuggestFunction", ("hyperstep", "Tuning Job Completed"))
    assert not may_put("SuggestFunction", ("hyperstep.trial", "Trial Metric Reported"))


@pytest.mark.parametrize("function", CLOSERS)
def test_finish_may_not_put_a_request_that_names_no_source_or_detail_type(function: str) -> None:
    """``ForAllValues`` holds when the request has no value for its key at all (IAM: it "also
    returns true if there are no context keys in the request"), so the two ``ForAllValues``
    conditions alone would allow a PutEvents whose context lacks ``events:source`` or
    ``events:detail-type``; the ``Null: false`` conditions refuse it."""
    from tests.integration.iam_policy import Policy, Request

    stack = Stack(parameters=BACKENDS)
    policy = Policy(tuple(role_statements(stack, function)))
    bus = f"arn:{stack.partition}:events:{stack.region}:{stack.account}:event-bus/default"
    source, detail_type = {"events:source": ("hyperstep",)}, {"events:detail-type": ("Tuning Job Completed",)}
    assert policy.allows(Request("events:PutEvents", bus, {**source, **detail_type}))
    assert not policy.allows(Request("events:PutEvents", bus, {}))
    assert not policy.allows(Request("events:PutEvents", bus, source))
    assert not policy.allows(Request("events:PutEvents", bus, detail_type))


@pytest.mark.parametrize("function", ["ReaperFunction", "ApiFunction", "StartFunction", "SuggestFunction"])
def test_a_function_may_describe_this_stacks_executions_only(function: str) -> None:
    """DescribeExecution's resource type is execution, ``arn:${Partition}:states:${Region}:
    ${Account}:execution:${StateMachineName}:${ExecutionId}`` (Service Authorization
    Reference, Step Functions): the grant names this stack's state machine, so the reaper
    and the functions that start executions read no other stack's executions (their input
    holds job ids)."""
    from tests.integration.iam_policy import Policy, Request

    stack = Stack(parameters=BACKENDS)
    document = transformed()
    machine = stack.physical_name("TuningStateMachine", document)
    policy = Policy(tuple(role_statements(stack, function)))
    executions = f"arn:{stack.partition}:states:{stack.region}:{stack.account}:execution"
    assert policy.allows(Request("states:DescribeExecution", f"{executions}:{machine}:job-1-abc", {}))
    assert not policy.allows(Request("states:DescribeExecution", f"{executions}:other-machine:job-1-abc", {}))
    assert not policy.allows(Request("states:DescribeExecution", f"{executions}:{machine}-2:job-1-abc", {}))


TRIAL_GRANTS = {
    "ApiFunction": ["sagemaker:StopTrainingJob", "batch:TerminateJob"],
    "SuggestFunction": ["sagemaker:StopTrainingJob", "batch:TerminateJob"],
    "FinishFunction": ["sagemaker:StopTrainingJob", "sagemaker:DescribeTrainingJob", "batch:TerminateJob"],
    "CollectFunction": ["sagemaker:StopTrainingJob", "sagemaker:DescribeTrainingJob", "batch:TerminateJob"],
    "ReaperFunction": ["sagemaker:StopTrainingJob", "sagemaker:DescribeTrainingJob", "batch:TerminateJob"],
}
"""Every function's grants on trials that exist: what must not reach another stack's."""


@pytest.mark.parametrize("function", sorted(TRIAL_GRANTS))
def test_a_function_reaches_only_its_own_stacks_trials(function: str) -> None:
    """Two hyperstep stacks in one account: before, ``training-job/hs-*`` and Batch's ``job/*``
    tagged ``hyperstep:job-id`` let each stack's functions stop and describe the other's trials.
    Now each grant needs the trial's ``hyperstep:stack`` tag to be its own stack's. SageMaker's
    ``training-job`` and Batch's ``job`` resources take ``aws:ResourceTag/${TagKey}`` (Service
    Authorization Reference; cfn-lint's copy, ``tests.template_model.iam_reference``)."""
    from tests.integration.iam_policy import Policy, Request

    stack = Stack(parameters=BACKENDS)
    own, other = stack.stack_id.split("/")[2], "0b7c1a2e-0000-11f0-9c7d-0a1b2c3d4e5f"
    policy = Policy(tuple(role_statements(stack, function)))
    prefix = f"arn:{stack.partition}"
    for action in TRIAL_GRANTS[function]:
        arn = (
            f"{prefix}:sagemaker:{stack.region}:{stack.account}:training-job/hs-job-t0001-1"
            if action.startswith("sagemaker:")
            else f"{prefix}:batch:{stack.region}:{stack.account}:job/0123abcd"
        )
        tagged = {"aws:ResourceTag/hyperstep:job-id": "job", "aws:ResourceTag/hyperstep:trial-id": "t0001"}
        assert policy.allows(Request(action, arn, {**tagged, "aws:ResourceTag/hyperstep:stack": own})), action
        assert not policy.allows(Request(action, arn, {**tagged, "aws:ResourceTag/hyperstep:stack": other})), action
        assert not policy.allows(Request(action, arn, tagged)), action


def test_suggest_creates_training_jobs_tagged_with_its_own_stack_only() -> None:
    """``CreateTrainingJob`` and its dependent ``AddTags`` take ``aws:RequestTag/${TagKey}``
    (Service Authorization Reference, SageMaker): a training job Suggest creates carries its
    stack's tag, or is refused, so no job escapes the grants above."""
    from tests.integration.iam_policy import Policy, Request

    stack = Stack(parameters=BACKENDS)
    own = stack.stack_id.split("/")[2]
    policy = Policy(tuple(role_statements(stack, "SuggestFunction")))
    arn = f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:training-job/hs-job-t0001-1"
    for action in ("sagemaker:CreateTrainingJob", "sagemaker:AddTags"):
        assert policy.allows(Request(action, arn, {"aws:RequestTag/hyperstep:stack": own}))
        assert not policy.allows(Request(action, arn, {"aws:RequestTag/hyperstep:stack": "another"}))
        assert not policy.allows(Request(action, arn, {}))
