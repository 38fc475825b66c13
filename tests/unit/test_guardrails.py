"""Guardrails: a spec inside the deployment's limits passes, one outside is refused naming the
field and the values allowed, at the API (422) and at a scheduled start."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from hyperstep.guardrails import NO_GUARDRAILS, VARIABLES, GuardrailError, Guardrails
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from tests.template_model import BACKENDS, Stack, transformed
from tests.unit.test_api import LOSS, Context, call, sagemaker_spec
from tests.unit.test_api import api as api_module
from tests.unit.test_api import service as service
from tests.unit.test_api import start as start_module
from tests.unit.test_template import TEMPLATE


def sagemaker(**trial: Any) -> dict[str, Any]:
    document = sagemaker_spec()
    return {**document, "trial": {**document["trial"], **trial}}


def batch(**trial: Any) -> dict[str, Any]:
    block = {
        "backend": "batch",
        "job_queue": "queue",
        "job_definition": "definition",
        "command": ["python", "train.py"],
        "metric_definitions": LOSS,
        "timeout_seconds": 600,
    }
    return {**sagemaker_spec(), "trial": {**block, **trial}}


QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/queue"
DEFINITION = "arn:aws:batch:us-east-1:123456789012:job-definition/definition"
BATCH_OK = {"batch_job_queues": (QUEUE,), "batch_job_definitions": (DEFINITION,)}
VPC_OK = {"subnets": ["subnet-1"], "security_group_ids": ["sg-1"]}
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/"
ALGORITHM = "arn:aws:sagemaker:us-east-1:123456789012:algorithm/"

# (guardrails, a spec inside them, a spec outside them, the field named, the allowed values named)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any], str, str]] = {
    "image": (
        {"image_prefixes": (ECR,)},
        sagemaker(),
        sagemaker(training_image="999999999999.dkr.ecr.us-east-1.amazonaws.com/miner:1"),
        "trial.training_image",
        ECR,
    ),
    "algorithm": (
        {"image_prefixes": (ECR, ALGORITHM)},
        sagemaker(training_image=None, algorithm_name=f"{ALGORITHM}mine"),
        sagemaker(training_image=None, algorithm_name="arn:aws:sagemaker:us-east-1:999999999999:algorithm/x"),
        "trial.algorithm_name",
        ALGORITHM,
    ),
    "role": (
        {"role_arns": ("arn:aws:iam::123456789012:role/training",)},
        sagemaker(),
        sagemaker(role_arn="arn:aws:iam::123456789012:role/admin"),
        "trial.role_arn",
        "arn:aws:iam::123456789012:role/training",
    ),
    "instance type": (
        {"instance_types": ("ml.m5.large", "ml.m5.xlarge")},
        sagemaker(instance_type="ml.m5.xlarge"),
        sagemaker(instance_type="ml.p4d.24xlarge"),
        "trial.instance_type",
        "ml.m5.large, ml.m5.xlarge",
    ),
    "instance count": (
        {"max_instance_count": 2},
        sagemaker(instance_count=2),
        sagemaker(instance_count=3),
        "trial.instance_count",
        "limit of 2",
    ),
    "volume": (
        {"max_volume_size_gb": 100},
        sagemaker(volume_size_gb=100),
        sagemaker(volume_size_gb=16384),
        "trial.volume_size_gb",
        "limit of 100",
    ),
    "input channel": (
        {"s3_prefixes": ("s3://bucket/",)},
        sagemaker(input_channels={"train": "s3://bucket/train"}),
        sagemaker(input_channels={"train": "s3://bucket/train", "test": "s3://secrets/hr"}),
        "trial.input_channels.test.s3_uri",
        "s3://bucket/",
    ),
    "output": (
        {"s3_prefixes": ("s3://bucket/out/",)},
        sagemaker(output_path="s3://bucket/out/mine"),
        sagemaker(output_path="s3://bucket/elsewhere"),
        "trial.output_path",
        "s3://bucket/out/",
    ),
    "checkpoints": (
        {"s3_prefixes": ("s3://bucket/",)},
        sagemaker(use_spot=True, max_wait_seconds=7200, checkpoint_s3_uri="s3://bucket/ckpt"),
        sagemaker(use_spot=True, max_wait_seconds=7200, checkpoint_s3_uri="s3://other/ckpt"),
        "trial.checkpoint_s3_uri",
        "s3://bucket/",
    ),
    "source": (
        {"s3_prefixes": ("s3://bucket/",)},
        sagemaker(entry_point="train.py", source_dir="s3://bucket/code.tar.gz"),
        sagemaker(entry_point="train.py", source_dir="s3://other/code.tar.gz"),
        "trial.source_dir",
        "s3://bucket/",
    ),
    "no s3 at all": ({"s3_prefixes": ()}, batch(), sagemaker(), "trial.output_path", "none"),
    "subnets": (
        {"subnets": ("subnet-1",), "security_groups": ("sg-1",)},
        sagemaker(vpc=VPC_OK),
        sagemaker(vpc={**VPC_OK, "subnets": ["subnet-1", "subnet-9"]}),
        "trial.vpc.subnets.1",
        "subnet-1",
    ),
    "security groups": (
        {"subnets": ("subnet-1",), "security_groups": ("sg-1",)},
        sagemaker(vpc=VPC_OK),
        sagemaker(vpc={**VPC_OK, "security_group_ids": ["sg-9"]}),
        "trial.vpc.security_group_ids.0",
        "sg-1",
    ),
    "vcpus": ({"max_vcpus": 4}, batch(vcpus=4), batch(vcpus=4.5), "trial.vcpus", "limit of 4"),
    "memory": ({"max_memory_mib": 8192}, batch(memory_mib=8192), batch(memory_mib=8193), "trial.memory_mib", "8192"),
    "gpus": ({"max_gpus": 1}, batch(gpus=1), batch(gpus=8), "trial.gpus", "limit of 1"),
    "batch job queue": (BATCH_OK, batch(), batch(job_queue="gpu-queue"), "trial.job_queue", QUEUE),
    "batch job definition": (
        BATCH_OK,
        batch(job_definition=f"{DEFINITION}:7"),
        batch(job_definition="definition-admin:1"),
        "trial.job_definition",
        DEFINITION,
    ),
    "batch not enabled": (
        {"batch_job_queues": (), "batch_job_definitions": ()},
        sagemaker(),
        batch(),
        "trial.backend",
        "'batch' is not enabled in this deployment",
    ),
    "sagemaker not enabled": (  # the template's TrainingRoleArn left empty: no role to pass
        {"role_arns": ()},
        batch(),
        sagemaker(),
        "trial.backend",
        "'sagemaker' is not enabled in this deployment",
    ),
    "max_parallel": (
        {"max_parallel": 2},
        sagemaker_spec(budget={"max_trials": 4, "max_parallel": 2}),
        sagemaker_spec(budget={"max_trials": 4, "max_parallel": 3}),
        "budget.max_parallel",
        "limit of 2",
    ),
    "max_trials": (
        {"max_trials": 10},
        sagemaker_spec(budget={"max_trials": 10}),
        sagemaker_spec(budget={"max_trials": 11}),
        "budget.max_trials",
        "limit of 10",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_inside_passes_and_outside_is_refused_naming_the_field_and_what_is_allowed(case: str) -> None:
    limits, inside, outside, field, allowed = CASES[case]
    guardrails = Guardrails(**limits)
    guardrails.check(parse_spec(inside))
    NO_GUARDRAILS.check(parse_spec(outside))  # valid, and refused only by the guardrail
    with pytest.raises(GuardrailError) as refused:
        guardrails.check(parse_spec(outside))
    named, _, reason = str(refused.value).partition(": ")
    assert named == field and allowed in reason and "\n" not in reason


@pytest.mark.parametrize(
    ("queue", "definition", "allowed"),
    [
        ("queue", "definition", True),
        (QUEUE, DEFINITION, True),
        ("queue", "definition:3", True),  # every revision, as the IAM policy's definition/*:*
        ("queue", f"{DEFINITION}:12", True),
        ("arn:aws:batch:us-east-1:999999999999:job-queue/queue", "definition", False),  # same name, not the ARN
        ("queue-2", "definition", False),
        ("queue", "definition-2", False),
        ("queue", "arn:aws:batch:us-east-1:123456789012:job-definition/other:1", False),
        ("queue", "definition:latest", False),  # not a revision: a name SubmitJob would not find
    ],
)
def test_a_batch_queue_and_definition_are_allowed_by_arn_or_name_and_any_revision(
    queue: str, definition: str, allowed: bool
) -> None:
    spec = parse_spec(batch(job_queue=queue, job_definition=definition))
    if allowed:
        Guardrails(**BATCH_OK).check(spec)
    else:
        with pytest.raises(GuardrailError, match=r"^trial\.job_(queue|definition): .* is not allowed"):
            Guardrails(**BATCH_OK).check(spec)


def test_the_environment_sets_them_star_opens_one_and_empty_allows_nothing() -> None:
    guardrails = Guardrails.from_env(
        {
            "HYPERSTEP_ALLOWED_INSTANCE_TYPES": " ml.m5.large, ml.g5.xlarge ,",
            "HYPERSTEP_ALLOWED_S3_PREFIXES": "",
            "HYPERSTEP_ALLOWED_IMAGE_PREFIXES": f"{ECR},*",
            "HYPERSTEP_MAX_INSTANCE_COUNT": "*",
            "HYPERSTEP_MAX_BATCH_VCPUS": "2.5",
            "HYPERSTEP_MAX_TRIALS_PER_JOB": "500",
            "HYPERSTEP_ALLOWED_BATCH_JOB_QUEUES": QUEUE,
            "HYPERSTEP_ALLOWED_BATCH_JOB_DEFINITIONS": "",
        }
    )
    assert guardrails.batch_job_queues == (QUEUE,) and guardrails.batch_job_definitions == ()
    assert guardrails.instance_types == ("ml.m5.large", "ml.g5.xlarge")
    assert guardrails.s3_prefixes == ()
    assert guardrails.image_prefixes is None and guardrails.max_instance_count is None
    assert guardrails.max_vcpus == 2.5 and guardrails.max_trials == 500
    assert guardrails.subnets is None  # not set: open
    with pytest.raises(ValueError):
        Guardrails.from_env({"HYPERSTEP_MAX_PARALLEL_PER_JOB": "ten"})


def test_the_api_answers_422_with_the_field_and_the_allowed_values_and_stores_nothing(
    service: TuningService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(api_module, "guardrails", Guardrails(instance_types=("ml.m5.large",)))
    status, body = call("POST", "/jobs", sagemaker(instance_type="ml.p4d.24xlarge"))
    assert status == 422
    assert body["field"] == "trial.instance_type"
    assert "'ml.p4d.24xlarge' is not allowed" in body["reason"] and "allowed: ml.m5.large" in body["reason"]
    assert service.store.list_jobs() == []
    status, _ = call("POST", "/jobs", sagemaker(instance_type="ml.p4d.24xlarge", schedule="rate(1 day)"))
    assert status == 422  # a recurring spec too, before any schedule exists
    assert call("POST", "/jobs", sagemaker())[0] == 202


def test_the_api_refuses_a_batch_queue_the_deployment_does_not_allow_with_422_and_stores_nothing(
    service: TuningService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On AWS another queue is AccessDenied at SubmitJob, which Suggest retries and then fails the job."""
    monkeypatch.setattr(api_module, "guardrails", Guardrails(**BATCH_OK))
    status, body = call("POST", "/jobs", batch(job_queue="arn:aws:batch:us-east-1:123456789012:job-queue/big"))
    assert status == 422 and body["field"] == "trial.job_queue" and f"allowed: {QUEUE}" in body["reason"]
    monkeypatch.setattr(api_module, "guardrails", Guardrails(batch_job_queues=(), batch_job_definitions=()))
    assert call("POST", "/jobs", batch()) == (
        422,
        {"field": "trial.backend", "reason": "'batch' is not enabled in this deployment"},
    )
    assert service.store.list_jobs() == []
    monkeypatch.setattr(api_module, "guardrails", Guardrails(**BATCH_OK))
    assert call("POST", "/jobs", batch())[0] == 202


@pytest.mark.parametrize(
    ("parameters", "refused"),
    [
        (BACKENDS, None),
        ({**BACKENDS, "BatchJobQueueArn": ""}, "trial.backend"),  # no queue: no Batch statement at all
        ({**BACKENDS, "BatchJobDefinitionArn": ""}, "trial.backend"),
        ({}, "trial.backend"),
    ],
)
def test_the_template_allows_the_batch_queue_and_definition_its_iam_policy_allows_and_only_them(
    parameters: dict[str, str], refused: str | None
) -> None:
    """The API and Start functions' environment, resolved for a stack, as Guardrails reads it."""
    document = transformed()
    queue, definition = BACKENDS["BatchJobQueueArn"], BACKENDS["BatchJobDefinitionArn"]
    for function in ("ApiFunction", "StartFunction"):
        variables = document["Resources"][function]["Properties"]["Environment"]["Variables"]
        guardrails = Guardrails.from_env(Stack(parameters=parameters).resolve(variables, document))
        spec = parse_spec(batch(job_queue="hyperstep-queue", job_definition="train:2", memory_mib=2048))
        if refused is None:
            guardrails.check(spec)
            guardrails.check(parse_spec(batch(job_queue=queue, job_definition=definition)))
            with pytest.raises(GuardrailError, match=r"^trial\.job_queue: 'other' is not allowed"):
                guardrails.check(parse_spec(batch(job_queue="other", job_definition="train")))
        else:
            with pytest.raises(GuardrailError, match=rf"^{refused}: 'batch' is not enabled in this deployment$"):
                guardrails.check(spec)


def test_a_scheduled_start_outside_the_guardrails_is_skipped_and_starts_nothing(
    service: TuningService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guardrails tightened after the schedule was made: the tick is refused, naming the
    field, and skipped rather than raised (every retry would be refused alike)."""
    monkeypatch.setattr(start_module, "guardrails", Guardrails(max_parallel=1))
    tick = {"schedule_name": "mnist", "spec": sagemaker_spec(schedule="rate(1 day)")}
    answer = start_module.lambda_handler(tick, Context(function_name="hyperstep-start"))
    reason = "budget.max_parallel: 2 is over this deployment's limit of 1"
    assert answer == {"skipped": f"its spec cannot start a job: {reason}"}
    assert service.store.list_jobs() == []


def test_the_template_sets_every_guardrail_on_the_api_and_start_functions_with_safe_defaults() -> None:
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    for function in ("ApiFunction", "StartFunction"):
        variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert set(VARIABLES.values()) <= set(variables), function
    parameters = template["Parameters"]
    defaults = {name: str(p.get("Default")) for name, p in parameters.items()}
    assert defaults["AllowedS3Prefixes"] == "" and defaults["AllowedSubnets"] == ""
    assert defaults["AllowedInstanceTypes"] == "ml.m5.large,ml.m5.xlarge,ml.g5.xlarge"
    assert "*" not in defaults.values()  # nothing is left open unless the deployer says so


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (``!Ref``, ``!Sub``...) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)
