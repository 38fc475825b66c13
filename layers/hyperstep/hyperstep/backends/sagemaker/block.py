"""The spec's ``trial`` block that runs each trial as a SageMaker training job.

Every limit here is the one CreateTrainingJob enforces (botocore's service model), so a
spec that validates is a request AWS accepts, and a mistake shows at ``hyperstep submit``
rather than minutes later in a failed launch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, StringConstraints, ValidationInfo, field_validator, model_validator

from hyperstep.backends.naming import PUBLISHED_TAGS, RESERVED_ENV_PREFIX, TagKey, TagValue, check_user_tags
from hyperstep.pricing import Rate, sagemaker_rate, unlisted_type
from hyperstep.secrets import SecretRef, env_value
from hyperstep.spec_base import (
    MAX_JSON_INT,
    NAMED_KEYS_ONLY,
    SECRET,
    SpecModel,
    TrialBlockBase,
    at_most,
    names_refused,
    read_back,
)

if TYPE_CHECKING:
    from hyperstep.guardrails import Guardrails
    from hyperstep.messages import Usage

S3_URI_PATTERN = r"^(https|s3)://([^/]+)/?(.*)$"
S3Uri = Annotated[str, StringConstraints(pattern=S3_URI_PATTERN, max_length=1024)]
InputMode = Literal["File", "Pipe", "FastFile"]
ALGORITHM_PATTERN = (
    r"^(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*/)?[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
"""``AlgorithmName``: a name or ARN; AWS's pattern ``...(?<!-)`` without the look-behind."""
ROLE_ARN_PATTERN = r"^arn:aws[a-z\-]*:iam::[0-9]{12}:role/?[a-zA-Z_0-9+=,.@\-/]+$"
KmsKeyId = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9:/_-]+$", max_length=2048)]
"""A KMS key id, key ARN, alias (``alias/name``) or alias ARN, as CreateTrainingJob takes it."""

MAX_HYPERPARAMETERS = 100
MAX_HYPERPARAMETER_VALUE = 2500
"""CreateTrainingJob ``HyperParameters``: at most 100 entries, each value at most 2500 characters."""
MAX_USER_ENV = 95
"""CreateTrainingJob ``Environment``: at most 100 entries, of which hyperstep sets up to five
(``HYPERSTEP_JOB_ID``, ``_TRIAL_ID``, ``_HYPERPARAMETERS``, ``_EVENT_BUS``, ``_REPORT_KEY``)."""
SCRIPT_MODE_HYPERPARAMETERS = 5
"""``sagemaker_program``, ``_submit_directory``, ``_job_name``, ``_container_log_level``, ``_region``."""


class InputChannel(SpecModel):
    """One SageMaker input channel (``InputDataConfig`` entry) read from S3."""

    s3_uri: S3Uri
    content_type: str | None = Field(default=None, max_length=256)
    input_mode: InputMode | None = None
    """Overrides the job's input mode for this channel."""
    s3_data_type: Literal["S3Prefix", "ManifestFile", "AugmentedManifestFile"] = "S3Prefix"
    distribution: Literal["FullyReplicated", "ShardedByS3Key"] = "FullyReplicated"
    compression: Literal["None", "Gzip"] | None = None


def published_channels(schema: dict[str, Any]) -> None:
    """``input_channels``' JSON schema as the block reads it: a channel may be its S3 URI
    alone (``_uri_shorthand``), and a channel name outside the pattern is refused."""
    for pattern, channel in schema["patternProperties"].items():
        uri = {"type": "string", "pattern": S3_URI_PATTERN, "maxLength": 1024, "description": "the channel's s3_uri"}
        schema["patternProperties"][pattern] = {"anyOf": [channel, uri]}
    schema.update(NAMED_KEYS_ONLY)


class VpcSettings(SpecModel):
    """``VpcConfig``: the training containers' subnets and security groups."""

    subnets: list[Annotated[str, StringConstraints(pattern=r"^[-0-9a-zA-Z]+$", max_length=32)]] = Field(
        min_length=1, max_length=16
    )
    security_group_ids: list[Annotated[str, StringConstraints(pattern=r"^[-0-9a-zA-Z]+$", max_length=32)]] = Field(
        min_length=1, max_length=5
    )


class SageMakerTrial(TrialBlockBase):
    """Run each trial as one SageMaker training job (script mode or a built-in algorithm).

    ``timeout_seconds`` is the job's ``StoppingCondition.MaxRuntimeInSeconds`` (at most 28
    days); metrics are captured by ``metric_definitions`` exactly as SageMaker does (at most
    40 of them) and arrive as ``FinalMetricDataList``.
    """

    backend: Literal["sagemaker"]
    training_image: str | None = Field(default=None, min_length=1, max_length=255)
    algorithm_name: str | None = Field(
        default=None,
        max_length=170,
        pattern=ALGORITHM_PATTERN,
    )
    input_mode: InputMode = "File"
    instance_type: str = Field(pattern=r"^ml\.[a-z0-9-]+\.[a-z0-9-]+$")
    instance_count: Annotated[int, at_most(MAX_JSON_INT)] = Field(default=1, ge=1)
    volume_size_gb: Annotated[int, at_most(MAX_JSON_INT)] = Field(default=30, ge=1)
    role_arn: str = Field(min_length=20, max_length=2048, pattern=ROLE_ARN_PATTERN)
    input_channels: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.\-_]{1,64}$")], InputChannel] = Field(
        default_factory=dict, max_length=20, json_schema_extra=published_channels
    )
    output_path: S3Uri
    output_kms_key_id: KmsKeyId | None = None
    """``OutputDataConfig.KmsKeyId``: the key SageMaker encrypts the model artifacts with (else
    S3's default key). Its key policy must allow ``role_arn``, not hyperstep."""
    volume_kms_key_id: KmsKeyId | None = None
    """``ResourceConfig.VolumeKmsKeyId``: the key for the instances' ML storage volumes."""
    use_spot: bool = False
    max_wait_seconds: Annotated[int | None, at_most(MAX_JSON_INT)] = Field(default=None, ge=1)
    """Managed spot only: waiting for capacity plus running; at least ``timeout_seconds``."""
    checkpoint_s3_uri: S3Uri | None = None
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, json_schema_extra=PUBLISHED_TAGS)
    vpc: VpcSettings | None = None
    entry_point: str | None = Field(default=None, min_length=1, max_length=256)
    """Script mode in a SageMaker framework image (scikit-learn, PyTorch, ...): the script
    to run, as the SDK's ``entry_point`` (hyperparameter ``sagemaker_program``)."""
    source_dir: S3Uri | None = None
    """Script mode: the ``sourcedir.tar.gz`` holding ``entry_point`` (hyperparameter
    ``sagemaker_submit_directory``)."""
    environment: dict[
        Annotated[
            str,
            StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=512),
            names_refused(f"^{RESERVED_ENV_PREFIX}"),
        ],
        env_value(Annotated[str, StringConstraints(max_length=512)]),
    ] = Field(
        default_factory=dict,
        max_length=96,
        repr=False,
        json_schema_extra={**SECRET, **NAMED_KEYS_ONLY, "maxProperties": MAX_USER_ENV},
    )
    """Up to 100 variables in all; hyperstep sets up to five ``HYPERSTEP_*`` ones, so 95 here
    (96 as a job stored before the report key is read back, ``_own_variables``). A value may
    be a reference (``{resolve: "ssm:/path"}``, ``hyperstep.secrets``), resolved at launch.
    Secret: left out of the block's repr (which frameworks log) and redacted wherever a spec
    is shown (``hyperstep.redaction``)."""

    def check_hyperparameters(self, parameters: list[Any]) -> None:
        """Refuse a search space no training job could take (every trial would fail at launch)."""
        own = SCRIPT_MODE_HYPERPARAMETERS if self.entry_point else 0
        if len(parameters) + own > MAX_HYPERPARAMETERS:
            room = f" ({own} of them for script mode)" if own else ""
            raise ValueError(
                f"SageMaker takes at most {MAX_HYPERPARAMETERS} hyperparameters{room}, got {len(parameters)}"
            )
        for p in parameters:
            if own and p.name.startswith("sagemaker_"):  # script mode's own values would overwrite it
                raise ValueError(f"parameter {p.name!r}: sagemaker_* hyperparameters are set by script mode")
            long = [c for c in getattr(p, "choices", ()) if isinstance(c, str) and len(c) > MAX_HYPERPARAMETER_VALUE]
            if long:
                raise ValueError(
                    f"parameter {p.name!r}: SageMaker hyperparameter values are at most "
                    f"{MAX_HYPERPARAMETER_VALUE} characters, a choice has {len(long[0])}"
                )

    def rate(self, usage: Usage | None, region: str | None) -> Rate | None:
        """The instances' on-demand rate (managed spot too: its billable seconds are fewer),
        for the instance type and count the training job reports, else the block's."""
        instance_type = usage.instance_type if usage is not None and usage.instance_type else self.instance_type
        count = usage.instance_count if usage is not None else self.instance_count
        if self.cost_per_hour is not None:
            return Rate(self.cost_per_hour * count, f"{count} x ${self.cost_per_hour:g}/h (cost_per_hour)")
        return sagemaker_rate(instance_type, count, region)

    def check_priced(self) -> None:
        """A dollar budget needs the instance type's rate: one the table lacks needs ``cost_per_hour``."""
        if self.rate(None, None) is None:
            raise unlisted_type(self.instance_type, " per instance")

    def running_limit_seconds(self) -> int:
        """``MaxWaitTimeInSeconds`` with managed spot (waiting for capacity plus running),
        else ``MaxRuntimeInSeconds``."""
        return self.max_wait_seconds if self.use_spot and self.max_wait_seconds else self.timeout_seconds

    def billed_limit_seconds(self) -> int:
        """``MaxRuntimeInSeconds``: a managed spot job's wait for capacity is not billed."""
        return self.timeout_seconds

    def check_guardrails(self, guardrails: Guardrails) -> None:
        """The image (or algorithm), role, instances, volume, every S3 location and the VPC."""
        g = guardrails
        g.enabled("sagemaker", g.role_arns)  # no training role to pass: the template's TrainingRoleArn is empty
        g.starts_with("trial.training_image", self.training_image, g.image_prefixes)
        g.starts_with("trial.algorithm_name", self.algorithm_name, g.image_prefixes)
        g.one_of("trial.role_arn", self.role_arn, g.role_arns)
        g.one_of("trial.instance_type", self.instance_type, g.instance_types)
        g.at_most("trial.instance_count", self.instance_count, g.max_instance_count)
        g.at_most("trial.volume_size_gb", self.volume_size_gb, g.max_volume_size_gb)
        for name, channel in self.input_channels.items():
            g.starts_with(f"trial.input_channels.{name}.s3_uri", channel.s3_uri, g.s3_prefixes)
        g.starts_with("trial.output_path", self.output_path, g.s3_prefixes)
        g.starts_with("trial.checkpoint_s3_uri", self.checkpoint_s3_uri, g.s3_prefixes)
        g.starts_with("trial.source_dir", self.source_dir, g.s3_prefixes)
        if self.vpc is not None:
            g.each_one_of("trial.vpc.subnets", self.vpc.subnets, g.subnets)
            g.each_one_of("trial.vpc.security_group_ids", self.vpc.security_group_ids, g.security_groups)
        g.secret_references("trial.environment", self.environment)

    @field_validator("input_channels", mode="before")
    @classmethod
    def _uri_shorthand(cls, channels: Any) -> Any:
        """Allow ``train: s3://bucket/prefix`` for a channel with default settings."""
        if isinstance(channels, dict):
            return {k: {"s3_uri": v} if isinstance(v, str) else v for k, v in channels.items()}
        return channels

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        return check_user_tags(tags)

    @field_validator("environment")
    @classmethod
    def _own_variables(cls, env: dict[str, str | SecretRef], info: ValidationInfo) -> dict[str, str | SecretRef]:
        taken = [k for k in env if k.startswith(RESERVED_ENV_PREFIX)]
        if taken:
            raise ValueError(f"{taken[0]}: HYPERSTEP_* variables are set by hyperstep")
        if len(env) > MAX_USER_ENV and not read_back(info):  # the report key made hyperstep's five
            raise ValueError(f"at most {MAX_USER_ENV} variables (SageMaker takes 100; hyperstep sets 5)")
        return env

    @model_validator(mode="after")
    def _consistent(self) -> SageMakerTrial:
        if (self.training_image is None) == (self.algorithm_name is None):
            raise ValueError("give exactly one of training_image and algorithm_name")
        if (self.entry_point is None) != (self.source_dir is None):
            raise ValueError("script mode needs both entry_point and source_dir")
        if self.entry_point is not None and self.training_image is None:
            raise ValueError("script mode (entry_point) needs a framework training_image")
        if len(self.metric_definitions) > 40:
            raise ValueError("SageMaker accepts at most 40 metric_definitions")
        if self.use_spot:
            wait = self.max_wait_seconds
            if wait is None or wait < self.timeout_seconds:
                raise ValueError("use_spot needs max_wait_seconds >= timeout_seconds (MaxWaitTimeInSeconds)")
        elif self.max_wait_seconds is not None or self.checkpoint_s3_uri is not None:
            raise ValueError("max_wait_seconds and checkpoint_s3_uri apply to managed spot only (use_spot: true)")
        return self
