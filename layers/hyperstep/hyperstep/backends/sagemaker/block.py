"""The ``trial`` blocks of a spec that run a trial on AWS: SageMaker and Batch.

Every limit here is the one the AWS API enforces (CreateTrainingJob and SubmitJob in
botocore's service models), so a spec that validates is a request AWS accepts, and a
mistake shows at ``hyperstep submit`` rather than minutes later in a failed launch.

``spec.py`` imports this module after defining ``_TrialBlock`` and ``MetricDefinition``
(``hyperstep/__init__`` always imports ``spec`` first, so there is no import cycle).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from hyperstep.spec import _Model, _TrialBlock

S3Uri = Annotated[str, StringConstraints(pattern=r"^(https|s3)://([^/]+)/?(.*)$", max_length=1024)]
TagKey = Annotated[str, StringConstraints(pattern=r"^[\w .:/=+\-@]*$", min_length=1, max_length=128)]
TagValue = Annotated[str, StringConstraints(pattern=r"^[\w .:/=+\-@]*$", max_length=256)]
InputMode = Literal["File", "Pipe", "FastFile"]
ALGORITHM_PATTERN = (
    r"^(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*/)?[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
"""``AlgorithmName``: a name or ARN; AWS's pattern ``...(?<!-)`` without the look-behind."""
ROLE_ARN_PATTERN = r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-/]+$"

MAX_HYPERPARAMETERS = 100
MAX_HYPERPARAMETER_VALUE = 2500
"""CreateTrainingJob ``HyperParameters``: at most 100 entries, each value at most 2500 characters."""
SCRIPT_MODE_HYPERPARAMETERS = 5
"""``sagemaker_program``, ``_submit_directory``, ``_job_name``, ``_container_log_level``, ``_region``."""

MAX_TAGS = 50
"""Both services allow 50 tags per job; hyperstep adds two of its own."""
_OWN_TAGS = 2


def _check_tags(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS - _OWN_TAGS:
        raise ValueError(f"at most {MAX_TAGS - _OWN_TAGS} tags (hyperstep adds 2 of the {MAX_TAGS})")
    for key in tags:
        if key.lower().startswith("aws:"):
            raise ValueError(f"tag key {key!r}: the aws: prefix is reserved for AWS")
        if key.startswith("hyperstep:"):
            raise ValueError(f"tag key {key!r}: the hyperstep: prefix is reserved for hyperstep")
    return tags


class InputChannel(_Model):
    """One SageMaker input channel (``InputDataConfig`` entry) read from S3."""

    s3_uri: S3Uri
    content_type: str | None = Field(default=None, max_length=256)
    input_mode: InputMode | None = None
    """Overrides the job's input mode for this channel."""
    s3_data_type: Literal["S3Prefix", "ManifestFile", "AugmentedManifestFile"] = "S3Prefix"
    distribution: Literal["FullyReplicated", "ShardedByS3Key"] = "FullyReplicated"
    compression: Literal["None", "Gzip"] | None = None


class VpcSettings(_Model):
    """``VpcConfig``: the training containers' subnets and security groups."""

    subnets: list[Annotated[str, StringConstraints(pattern=r"^[-0-9a-zA-Z]+$", max_length=32)]] = Field(
        min_length=1, max_length=16
    )
    security_group_ids: list[Annotated[str, StringConstraints(pattern=r"^[-0-9a-zA-Z]+$", max_length=32)]] = Field(
        min_length=1, max_length=5
    )


class SageMakerTrial(_TrialBlock):
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
    instance_count: int = Field(default=1, ge=1)
    volume_size_gb: int = Field(default=30, ge=1)
    role_arn: str = Field(min_length=20, max_length=2048, pattern=ROLE_ARN_PATTERN)
    input_channels: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.\-_]{1,64}$")], InputChannel] = Field(
        default_factory=dict, max_length=20
    )
    output_path: S3Uri
    use_spot: bool = False
    max_wait_seconds: int | None = Field(default=None, ge=1)
    """Managed spot only: waiting for capacity plus running; at least ``timeout_seconds``."""
    checkpoint_s3_uri: S3Uri | None = None
    tags: dict[TagKey, TagValue] = Field(default_factory=dict)
    vpc: VpcSettings | None = None
    entry_point: str | None = Field(default=None, min_length=1, max_length=256)
    """Script mode in a SageMaker framework image (scikit-learn, PyTorch, ...): the script
    to run, as the SDK's ``entry_point`` (hyperparameter ``sagemaker_program``)."""
    source_dir: S3Uri | None = None
    """Script mode: the ``sourcedir.tar.gz`` holding ``entry_point`` (hyperparameter
    ``sagemaker_submit_directory``)."""
    environment: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", max_length=512)],
        Annotated[str, StringConstraints(max_length=512)],
    ] = Field(default_factory=dict, max_length=96)
    """Up to 100 variables in all; hyperstep sets up to four ``HYPERSTEP_*`` ones."""

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
        return _check_tags(tags)

    @field_validator("environment")
    @classmethod
    def _own_variables(cls, env: dict[str, str]) -> dict[str, str]:
        taken = [k for k in env if k.startswith("HYPERSTEP_")]
        if taken:
            raise ValueError(f"{taken[0]}: HYPERSTEP_* variables are set by hyperstep")
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


class BatchTrial(_TrialBlock):
    """Run each trial as one AWS Batch job on a job queue and job definition you own.

    The command gets the hyperparameters appended as ``--name value``; the script reports
    its metrics with ``hyperstep.reporting.report`` (Batch has no log-scraping of its own), so
    ``metric_definitions`` name those metrics; their regexes serve local runs and read the
    final values from the job's CloudWatch log when the final report never arrived.
    ``timeout_seconds`` becomes the job's ``attemptDurationSeconds`` (at least 60).
    """

    backend: Literal["batch"]
    job_queue: str = Field(min_length=1)
    """The queue's name or ARN."""
    job_definition: str = Field(min_length=1)
    """``name``, ``name:revision`` or the ARN of a container job definition."""
    command: list[Annotated[str, StringConstraints(min_length=1)]] = Field(min_length=1)
    environment: dict[Annotated[str, StringConstraints(min_length=1)], str] = Field(default_factory=dict)
    vcpus: float | None = Field(default=None, gt=0)
    memory_mib: int | None = Field(default=None, ge=4)
    """MEMORY in MiB; Batch requires at least 4 (Fargate accepts only listed sizes)."""
    gpus: int | None = Field(default=None, ge=1)
    retry_attempts: int = Field(default=1, ge=1, le=10)
    tags: dict[TagKey, TagValue] = Field(default_factory=dict)
    propagate_tags: bool = False

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        return _check_tags(tags)

    @field_validator("environment")
    @classmethod
    def _allowed_variables(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if key.startswith("AWS_BATCH"):
                raise ValueError(f"{key}: variables starting with AWS_BATCH are reserved by Batch")
            if key.startswith("HYPERSTEP_"):
                raise ValueError(f"{key}: HYPERSTEP_* variables are set by hyperstep")
        return env

    @model_validator(mode="after")
    def _timeout(self) -> BatchTrial:
        if self.timeout_seconds < 60:
            raise ValueError("timeout_seconds must be at least 60 for Batch (attemptDurationSeconds)")
        return self
