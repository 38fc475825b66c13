"""Trials as SageMaker training jobs.

One trial attempt is one ``CreateTrainingJob`` call named ``hs-<job id>-<trial id>-<n>``
(see ``backends.naming``; at most ``SAGEMAKER_NAME_MAX`` characters), tagged with the job
and trial ids and given the trial's hyperparameters as strings (SageMaker accepts only
strings; script mode hands them to the entry point as ``--name value``). The job's end
arrives as a "SageMaker Training Job State Change" event (``sagemaker.events``);
``describe`` is the reaper's way to fetch it, with ``FinalMetricDataList`` as metrics,
through the same status mapping. A launch SageMaker refuses is a ``LaunchError`` (the trial
fails), one over an instance quota a ``CapacityError`` (it may wait for a running trial's
end); anything else (a throttle botocore's retries did not outlast) propagates, for the
round's retry.

While a trial runs in a job that stops early, ``step_reports`` reads its CloudWatch log
(group ``/aws/sagemaker/TrainingJobs``, stream ``<training job name>/algo-1-<epoch>``,
found once with ``DescribeLogStreams`` by prefix) forward from the ``nextForwardToken``
kept on the trial, through the spec's regex of the objective metric: each matching line
is one step, as locally. The reaper calls it on its schedule, so a trial is judged (and
stopped) within one reaper period of printing its rung's line.

The end event may lack ``FinalMetricDataList`` (AWS's own sample event has none): then
``final_metrics`` asks ``DescribeTrainingJob`` for it, and collect calls it every time the
event lacks the objective, so the value never depends on which event came first. A
script may also report by event (``late_reports``), which can arrive after the end.

IAM for the caller: ``sagemaker:CreateTrainingJob``, ``sagemaker:AddTags`` (tagging on
create), ``sagemaker:DescribeTrainingJob``, ``sagemaker:StopTrainingJob`` and
``iam:PassRole`` on the spec's ``role_arn``; to resolve secret references, what
``hyperstep.aws.AwsSecrets`` needs; for ``step_reports`` (the reaper)
``logs:DescribeLogStreams`` on ``...:log-group:/aws/sagemaker/TrainingJobs:*`` and
``logs:GetLogEvents`` on its streams ``...:log-group:/aws/sagemaker/TrainingJobs:log-stream:hs-*``;
the same for ``recover_metrics`` (the reaper, and Finish as a job closes).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from hyperstep.backends.base import JobView, TrialView
from hyperstep.backends.cloud import NO_SECRETS, CloudBackend
from hyperstep.backends.logs import final_metrics_in_log, find_stream, follow_log
from hyperstep.backends.naming import (
    ENV_HYPERPARAMETERS,
    hyperparameter_strings,
    trial_environment,
    trial_job_name,
    trial_tags,
)
from hyperstep.backends.sagemaker.block import MAX_HYPERPARAMETER_VALUE, MAX_HYPERPARAMETERS, SageMakerTrial
from hyperstep.backends.sagemaker.events import sagemaker_result, sagemaker_usage
from hyperstep.errors import CapacityError, LaunchError, UnreadMetricError
from hyperstep.messages import LogCursor, TrialResult, Usage
from hyperstep.secrets import SecretResolver, resolved_environment, scrubbed, secret_variables

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
"""Where SageMaker sends a training job's stdout and stderr; one stream per instance,
``<training job name>/algo-<instance number>-<epoch seconds>``."""
SAGEMAKER_NAME_MAX = 63
"""CreateTrainingJob ``TrainingJobName``: 1-63 characters, ``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``."""
MAX_ENV_VALUE = 512
_NOT_RETRYABLE = ("ValidationException", "AccessDeniedException", "ResourceNotFound")


def _block(job: JobView) -> SageMakerTrial:
    block = job.spec.trial
    if not isinstance(block, SageMakerTrial):
        raise LaunchError(f"job {job.id} does not run on SageMaker (trial backend: {getattr(block, 'backend', None)})")
    return block


def _error(exc: ClientError) -> tuple[str, str]:
    err = exc.response.get("Error", {})
    return err.get("Code", ""), err.get("Message", "")


def _channel(name: str, channel: Any) -> dict[str, Any]:
    s3: dict[str, Any] = {
        "S3DataType": channel.s3_data_type,
        "S3Uri": channel.s3_uri,
        "S3DataDistributionType": channel.distribution,
    }
    out: dict[str, Any] = {"ChannelName": name, "DataSource": {"S3DataSource": s3}}
    if channel.content_type:
        out["ContentType"] = channel.content_type
    if channel.compression:
        out["CompressionType"] = channel.compression
    if channel.input_mode:
        out["InputMode"] = channel.input_mode
    return out


def _algorithm(block: SageMakerTrial) -> dict[str, Any]:
    spec: dict[str, Any] = {"TrainingInputMode": block.input_mode}
    if block.training_image:
        spec["TrainingImage"] = block.training_image
    else:
        spec["AlgorithmName"] = block.algorithm_name
    if block.metric_definitions:
        spec["MetricDefinitions"] = [{"Name": m.name, "Regex": m.regex} for m in block.metric_definitions]
    return spec


def _hyperparameters(params: dict[str, Any], extra: dict[str, str]) -> dict[str, str]:
    values = {**hyperparameter_strings(params), **extra}
    if len(values) > MAX_HYPERPARAMETERS:
        raise LaunchError(f"SageMaker takes at most {MAX_HYPERPARAMETERS} hyperparameters, the trial has {len(values)}")
    for name, value in values.items():
        if len(name) > 256 or len(value) > MAX_HYPERPARAMETER_VALUE:
            raise LaunchError(f"hyperparameter {name!r} is too long for SageMaker (name 256, value 2500 characters)")
    return values


def script_mode_hyperparameters(block: SageMakerTrial, name: str, region: str | None) -> dict[str, str]:
    """What the SageMaker training toolkit in a framework image reads to run a script
    (the same keys the SageMaker Python SDK sets for a framework estimator)."""
    if block.entry_point is None or block.source_dir is None:
        return {}
    values = {
        "sagemaker_program": block.entry_point,
        "sagemaker_submit_directory": block.source_dir,
        "sagemaker_job_name": name,
        "sagemaker_container_log_level": "20",
    }
    if region:
        values["sagemaker_region"] = region
    return {
        key: json.dumps(value) if key != "sagemaker_container_log_level" else value for key, value in values.items()
    }


def build_request(
    job: JobView,
    trial: TrialView,
    name: str,
    event_bus: str | None = None,
    region: str | None = None,
    secrets: SecretResolver = NO_SECRETS,
    *,
    stack: str | None = None,
) -> dict[str, Any]:
    """The ``CreateTrainingJob`` request for one attempt of a trial, its environment's secret
    references resolved by ``secrets`` (the request then holds their values: send it, never show
    it), tagged with the deployment's ``stack`` when it has one."""
    block = _block(job)
    user_env = resolved_environment(block.environment, secrets)
    for key, value in user_env.items():
        if len(value) > MAX_ENV_VALUE:  # only a resolved secret can be (the spec's values are bounded)
            raise LaunchError(
                f"trial.environment.{key}: the secret's value is over SageMaker's {MAX_ENV_VALUE} characters"
            )
    env = trial_environment(job.id, trial.id, trial.params, user_env, event_bus, trial.report_key)
    if len(env[ENV_HYPERPARAMETERS]) > MAX_ENV_VALUE:
        del env[ENV_HYPERPARAMETERS]  # scripts still read /opt/ml/input/config/hyperparameters.json
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": block.timeout_seconds}
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "HyperParameters": _hyperparameters(trial.params, script_mode_hyperparameters(block, name, region)),
        "AlgorithmSpecification": _algorithm(block),
        "RoleArn": block.role_arn,
        "OutputDataConfig": {"S3OutputPath": block.output_path},
        "ResourceConfig": {
            "InstanceType": block.instance_type,
            "InstanceCount": block.instance_count,
            "VolumeSizeInGB": block.volume_size_gb,
        },
        "StoppingCondition": stopping,
        "Tags": [{"Key": k, "Value": v} for k, v in trial_tags(job.id, trial.id, block.tags, stack).items()],
        "Environment": env,
    }
    if block.output_kms_key_id is not None:
        request["OutputDataConfig"]["KmsKeyId"] = block.output_kms_key_id
    if block.volume_kms_key_id is not None:
        request["ResourceConfig"]["VolumeKmsKeyId"] = block.volume_kms_key_id
    if block.input_channels:
        request["InputDataConfig"] = [_channel(n, c) for n, c in block.input_channels.items()]
    if block.vpc is not None:
        request["VpcConfig"] = {"SecurityGroupIds": block.vpc.security_group_ids, "Subnets": block.vpc.subnets}
    if block.use_spot:
        request["EnableManagedSpotTraining"] = True
        stopping["MaxWaitTimeInSeconds"] = block.max_wait_seconds or block.timeout_seconds
        if block.checkpoint_s3_uri:
            request["CheckpointConfig"] = {"S3Uri": block.checkpoint_s3_uri}
    return request


class SageMakerBackend(CloudBackend):
    """Launches, stops and describes trials through a boto3 ``sagemaker`` client."""

    late_reports: ClassVar[bool] = True

    @staticmethod
    def job_name(job: JobView, trial: TrialView, attempt: int = 1) -> str:
        """The training job name of one attempt of the trial."""
        return trial_job_name(job.id, trial.id, attempt, SAGEMAKER_NAME_MAX)

    def _name(self, job: JobView, trial: TrialView) -> str:
        return trial.backend_ref or self.job_name(job, trial)

    def launch(self, job: JobView, trial: TrialView, attempt: int = 1) -> str:
        """Create the training job; a job of the same name means an earlier call made it."""
        name = self.job_name(job, trial, attempt)
        region = getattr(self.client.meta, "region_name", None)
        request = build_request(job, trial, name, self.event_bus, region, self.secrets, stack=self.stack)
        try:
            self.client.create_training_job(**request)
        except ClientError as exc:
            code, message = _error(exc)
            if code == "ResourceInUse" or (code == "ValidationException" and "already exists" in message):
                return name
            reason = scrubbed(message, secret_variables(request["Environment"]))  # a message may echo a value
            if code == "ResourceLimitExceeded":  # an instance quota in use: later, or never (a quota of 0)
                raise CapacityError(f"SageMaker could not start training job {name}: {code}: {reason}") from None
            if code in _NOT_RETRYABLE:
                raise LaunchError(f"SageMaker rejected training job {name}: {code}: {reason}") from None
            raise
        return name

    def stop(self, job: JobView, trial: TrialView) -> None:
        """Ask SageMaker to stop the job; one that has already ended is left as it is."""
        try:
            self.client.stop_training_job(TrainingJobName=self._name(job, trial))
        except ClientError as exc:
            if _error(exc)[0] not in ("ValidationException", "ResourceNotFound"):
                raise

    def _described(self, job: JobView, trial: TrialView) -> dict[str, Any] | None:
        """``DescribeTrainingJob`` of the trial's job; None for a job SageMaker does not know."""
        try:
            return self.client.describe_training_job(TrainingJobName=self._name(job, trial))
        except ClientError as exc:
            if _error(exc)[0] in ("ValidationException", "ResourceNotFound"):
                return None  # AWS answers "Requested resource not found" as a ValidationException
            raise

    def describe(self, job: JobView, trial: TrialView) -> TrialResult | None:
        """The trial's result (with its billable time) once the training job has ended; None
        while it runs or if unknown."""
        found = self._described(job, trial)
        if found is None:
            return None
        metrics = {m["MetricName"]: float(m["Value"]) for m in found.get("FinalMetricDataList", [])}
        result = sagemaker_result(
            job.id,
            trial.id,
            found["TrainingJobStatus"],
            found.get("SecondaryStatus"),
            found.get("FailureReason"),
            metrics,
        )
        return None if result is None else result.model_copy(update={"usage": self._usage(found)})

    def _usage(self, found: dict[str, Any]) -> Usage | None:
        usage = sagemaker_usage(found)
        return None if usage is None else usage.model_copy(update={"region": self.region})

    def usage(self, job: JobView, trial: TrialView) -> Usage | None:
        """The training job's ``BillableTimeInSeconds`` and ``ResourceConfig`` (``DescribeTrainingJob``)."""
        found = self._described(job, trial)
        return None if found is None else self._usage(found)

    def final_record(self, job: JobView, trial: TrialView) -> tuple[dict[str, float], Usage | None]:
        """``FinalMetricDataList`` and the billable time, from one ``DescribeTrainingJob``."""
        result = self.describe(job, trial)
        return (result.metrics, result.usage) if result is not None else ({}, None)

    def final_metrics(self, job: JobView, trial: TrialView) -> dict[str, float]:
        """``FinalMetricDataList`` of the completed training job; {} before it completes or if unknown."""
        result = self.describe(job, trial)
        return result.metrics if result is not None else {}

    def recover_metrics(self, job: JobView, trial: TrialView) -> dict[str, float]:
        """``FinalMetricDataList``, and an objective it lacks as the first instance's log
        printed it (``logs.final_metrics_in_log``, as the Batch backend reads its log): where
        the regex reads numbers only, ``loss=nan`` is in no record, and so the trial fails as
        not finite rather than as unreported; one printed as other text the regex took
        (``loss=0,49``, ``loss=abc``) raises ``UnreadMetricError`` saying so."""
        metrics = self.final_metrics(job, trial)
        if self.logs is None or all(goal.metric in metrics for goal in job.spec.goals):
            return metrics
        stream = find_stream(self.logs, TRAINING_LOG_GROUP, f"{self._name(job, trial)}/algo-1-")
        if stream is None:
            return metrics
        missing = [goal.metric for goal in job.spec.goals if goal.metric not in metrics]
        try:
            logged = final_metrics_in_log(
                self.logs, TRAINING_LOG_GROUP, stream, _block(job).metric_definitions, missing
            )
        except UnreadMetricError as exc:  # with FinalMetricDataList's metrics, not the log's alone
            raise UnreadMetricError(str(exc), {**exc.metrics, **metrics}) from None
        return {**logged, **metrics}

    def step_reports(self, job: JobView, trial: TrialView) -> tuple[list[tuple[str, int, float]], LogCursor | None]:
        """The objective's lines the first instance's log printed since ``trial.log_cursor``
        (at most ``logs.MAX_FOLLOW_PAGES`` pages a call); none before the stream exists."""
        block = _block(job)
        definitions = [d for d in block.metric_definitions if d.name == job.spec.objective.metric]
        cursor = trial.log_cursor or LogCursor()
        if self.logs is None or not definitions:
            return [], trial.log_cursor
        if cursor.stream is None:
            stream = find_stream(self.logs, TRAINING_LOG_GROUP, f"{self._name(job, trial)}/algo-1-")
            if stream is None:
                return [], trial.log_cursor
            cursor = cursor.model_copy(update={"stream": stream})
        return follow_log(self.logs, TRAINING_LOG_GROUP, cursor, definitions)
