"""Every AWS call hyperstep's functions make is allowed by their roles in the template.

moto enforces no IAM: a role missing an action passes every other moto test and fails on
AWS. Here whole tuning jobs run in moto (``moto_harness``: the real state machine and
handlers) while ``iam_policy.CallRecorder`` records each call each function makes; each
call becomes the IAM requests AWS evaluates for it (action, resource ARN from the request,
conditions: request tags, tags the resource has in moto, the service a role is passed to),
held against the statements of that function's role in the SAM-translated template,
resolved for a stack with SageMaker and Batch on (account 123456789012, us-east-1; the
moto deployment uses the template's names: table, state machine, schedule group, roles).

The scenarios, in one moto deployment:

- a SageMaker job through the API with an Idempotency-Key, read back through every GET
  route; each training job's first Completed event lacks ``FinalMetricDataList`` (as AWS's
  own sample event), so Collect asks ``DescribeTrainingJob``;
- a grid that runs out before the budget does: Suggest ends the loop itself (sending its
  own round's token);
- a Batch job through the API whose ``SUCCEEDED`` events come before the metric reports
  (Collect asks Batch nothing: the trials await their reports);
- a Batch job whose final reports never come: after the grace period the reaper reads each
  trial's final value from its job's CloudWatch log stream (``GetLogEvents``);
- a recurring spec through the API (``CreateSchedule``, passing the scheduler role), one
  tick of it through the start function, that job stopped through the API while its
  trials run (``StopTrainingJob``), and a Batch job stopped the same way (``TerminateJob``);
- a job whose StartExecution was refused, stopped through the API, and a tick's job stopped
  while its StartExecution is on its way, which then fails: the API function and the start
  function close each and publish its completion event (``PutEvents``); an execution that
  takes back its job (its start lost only its answer) and finds itself closed: Suggest closes
  the job (``PutEvents``);
- a job's budget changed through the API while it waits (``PATCH /jobs/{id}``: the API
  function rewrites the job and wakes the execution, which launches one more trial);
- a stop landing while a round parks its token: the round takes it back (``DeleteItem``) and
  wakes its execution, whose next round stops the trials (``StopTrainingJob``);
- jobs on both backends whose Suggest round fails for good: Finish's error path stops the
  trials still running;
- the reaper over jobs whose end events were lost: one cloud job ended (Describe*; SageMaker
  keeps its final metric, the Batch job's script reported it), one still running past its
  deadline (Describe*, then Stop / Terminate);
- Suggest handing a job to a new execution of its own state machine;
- jobs on both backends with ASHA early stopping: the trials' scripts report a step, and
  Collect stops the trial behind (``StopTrainingJob``, ``TerminateJob``);
- jobs on both backends whose environment holds secret references under the deployment's
  ``SecretsPrefix`` (an SSM SecureString, a Secrets Manager secret): Launch reads them
  (``GetParameter``, ``GetSecretValue``) as it starts each trial;
- jobs on both backends whose execution is stopped by hand while their trials run: from
  Step Functions' status-change event, Finish fails each job and stops its trials;
- the same with the event lost: the reaper asks ``DescribeExecution`` and closes the job
  (``PutEvents``, ``StopTrainingJob``);
- the same with one trial awaiting its final objective (its end carried none): Finish settles
  it from the source (``DescribeTrainingJob``; ``DescribeJobs`` and the job's log);
- a job closed by a Finish that died before its publish: the reaper's pass publishes its end
  (``Query`` of the unpublished jobs' markers, ``PutEvents``, the mark's transaction);
- a job left stopping with no execution (its start and the close it ran both failed): the
  reaper's pass closes it stopped and publishes its end;
- a job left running with no execution (its start and the failed write after it both
  failed): the reaper's pass fails it;
- a keyed submit, a tick and an execution recording itself whose names StartExecution answers
  ``ExecutionAlreadyExists``: each asks ``DescribeExecution`` whether it runs again (redriven).
"""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import boto3
import pytest
from moto.batch.models import JobStatus as BatchStatus
from moto.batch.models import batch_backends
from moto.sagemaker.models import sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.stepfunctions.exceptions import ExecutionAlreadyExists as AlreadyExists
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from hyperstep.aws import StepFunctionsOrchestrator
from hyperstep.backends.batch.adapter import BATCH_LOG_GROUP
from hyperstep.backends.naming import ENV_TRIAL_ID
from hyperstep.backends.sagemaker.adapter import TRAINING_LOG_GROUP
from hyperstep.errors import ExecutionClosedError
from hyperstep.messages import WaitRequest
from hyperstep.models import JobStatus, StopReason, TrialState
from hyperstep.service import HANDOFF_EVENTS, START_FAILED, TuningService
from hyperstep.spec import parse_spec
from hyperstep.wiring import schedules_factory, throttle_factory
from tests.integration.iam_policy import (
    Arns,
    Call,
    CallRecorder,
    Policy,
    Request,
    Unmapped,
    authorizations,
    check_shape,
    covers,
)
from tests.integration.moto_harness import (
    ACCOUNT,
    HANDLERS,
    REGION,
    REPO,
    TABLE,
    MotoStack,
    function_name,
    moto_stack,
    stop_training_job,
)
from tests.integration.moto_platform import (
    BATCH_DEFINITION,
    BATCH_QUEUE,
    Launched,
    TrainingPlatform,
    create_batch_environment,
    envelope,
    restate,
    sample,
)
from tests.scheduler_ticks import delivered
from tests.template_model import BACKENDS, Stack, as_list, role_statements, transformed

pytestmark = pytest.mark.slow

SECRETS_PREFIX = "hyperstep/"
DEPLOYED = Stack(
    parameters={**BACKENDS, "SecretsPrefix": SECRETS_PREFIX},
    account=ACCOUNT,
    region=REGION,
    physical_names={"Table": TABLE, **{f"{h.capitalize()}Function": function_name(h) for h in HANDLERS}},
)
"""The stack the moto deployment stands for: SageMaker and Batch on, moto's table and functions."""

BLOCKS: dict[str, dict[str, Any]] = {
    "sagemaker": {
        "backend": "sagemaker",
        "training_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1.0",
        "instance_type": "ml.m5.large",
        "role_arn": BACKENDS["TrainingRoleArn"],
        "output_path": "s3://hyperstep-demo/out",
        "metric_definitions": [{"name": "val_loss", "regex": "val_loss=([0-9.eE+-]+)"}],
        "timeout_seconds": 3600,
    },
    "batch": {
        "backend": "batch",
        "job_queue": BATCH_QUEUE,
        "job_definition": BATCH_DEFINITION,
        "command": ["python", "train.py"],
        "metric_definitions": [{"name": "val_loss", "regex": "val_loss=([0-9.eE+-]+)"}],
        "timeout_seconds": 3600,
    },
}


def spec(backend: str, name: str, **extra: Any) -> dict[str, Any]:
    """Two trials at once, two in all."""
    return {
        "name": name,
        "objective": {"metric": "val_loss", "goal": "minimize"},
        "parameters": [{"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "scale": "log"}],
        "strategy": {"name": "random", "seed": 3},
        "budget": {"max_trials": 2, "max_parallel": 2},
        "trial": BLOCKS[backend],
        **extra,
    }


def val_loss(hyperparameters: dict[str, str]) -> float:
    return (math.log10(float(hyperparameters["lr"])) + 2.5) ** 2


# --- driving the deployment ------------------------------------------------------------------


def api(stack: MotoStack, method: str, path: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
    """One IAM-signed request as API Gateway's proxy integration hands it to the API function."""
    identity = json.loads((REPO / "events" / "api-post-jobs.json").read_text())["requestContext"]["identity"]
    headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
    event = {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"stage": "v1", "httpMethod": method, "resourcePath": path, "identity": identity},
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }
    response = stack.invoke("api", event)
    return response["statusCode"], json.loads(response["body"]) if response["body"] else None


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.02)


def execution_of(stack: MotoStack, job_id: str) -> str:
    execution = stack.service.store.get_job(job_id).execution_id
    assert execution is not None
    return execution


def launched_and_waiting(stack: MotoStack, job_id: str) -> None:
    """Both trials run and the execution waits for results (its task token is out)."""

    def ready() -> bool:
        running = [t for t in stack.service.store.list_trials(job_id) if t.state is TrialState.RUNNING]
        history = stack.history(execution_of(stack, job_id))
        return len(running) == 2 and "TaskSubmitted" in [e["type"] for e in history]

    wait_for(ready, f"job {job_id} launched its trials and waits")


def ended(stack: MotoStack, job_id: str, seconds: float = 30) -> dict[str, Any]:
    description = stack.wait_until_done(execution_of(stack, job_id), seconds=seconds)
    assert description["status"] == "SUCCEEDED", description
    assert stack.service.store.get_job(job_id).status.finished
    return description


def without_objective(job: Launched) -> dict[str, Any]:
    """The job's end event as it may come first: SageMaker's without ``FinalMetricDataList``;
    Batch's ``SUCCEEDED`` (its metric report still on the way)."""
    end = copy.deepcopy(job.events[-1])
    end["detail"].pop("FinalMetricDataList", None)
    return end


def run_to_end(stack: MotoStack, platform: TrainingPlatform, job_id: str, objective_late: bool = False) -> None:
    """Play the platform until the job's execution ends."""
    execution = execution_of(stack, job_id)
    deadline = time.monotonic() + 30
    while stack.status(execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"job {job_id} still running"
        for job in platform.new_jobs():
            for event in ([without_objective(job)] if objective_late else []) + job.events:
                platform.deliver(event)
        time.sleep(0.02)
    ended(stack, job_id)


def moto_batch_job(launched: Launched) -> Any:
    batch = batch_backends[ACCOUNT][REGION]
    (job,) = [j for j in batch._jobs.values() if j.job_name == launched.name]
    return job


def still_running(launched: Launched, backend: str) -> None:
    """moto ends every job at once; this one runs on, as a real one would."""
    if backend == "sagemaker":
        sagemaker_backends[ACCOUNT][REGION].training_jobs[launched.name].training_job_status = "InProgress"
    else:
        moto_batch_job(launched).status = BatchStatus.RUNNING


def ended_unseen(platform: TrainingPlatform, launched: Launched) -> None:
    """The job ended and its end event was lost, but its final metric is there for the
    reaper: in the training job's ``FinalMetricDataList`` (SageMaker), or delivered as the
    script's report (Batch)."""
    value = val_loss(launched.hyperparameters)
    if platform.backend == "sagemaker":
        found = sagemaker_backends[ACCOUNT][REGION].training_jobs[launched.name]
        stamp = found.final_metric_data_list[0]["Timestamp"]
        found.final_metric_data_list = [{"MetricName": "val_loss", "Value": value, "Timestamp": stamp}]
    else:
        assert platform.deliver(launched.events[0]) == {"recorded": True}  # the report; the end is lost


def logged(launched: Launched, lines: list[str]) -> None:
    """The Batch job's container printed ``lines`` to its stream in Batch's default log group
    (moto's Batch runs nothing without Docker and leaves ``logStreamName`` unset). Timestamps
    are now: CloudWatch Logs rejects events older than 14 days."""
    job = moto_batch_job(launched)
    job.log_stream_name = f"{BATCH_DEFINITION}/default/{job.job_id}"
    logs = boto3.client("logs", region_name=REGION)
    if not logs.describe_log_groups(logGroupNamePrefix=BATCH_LOG_GROUP)["logGroups"]:
        logs.create_log_group(logGroupName=BATCH_LOG_GROUP)
    logs.create_log_stream(logGroupName=BATCH_LOG_GROUP, logStreamName=job.log_stream_name)
    now = int(time.time() * 1000)
    events = [{"timestamp": now + i, "message": line} for i, line in enumerate(lines)]
    put = logs.put_log_events(logGroupName=BATCH_LOG_GROUP, logStreamName=job.log_stream_name, logEvents=events)
    assert "rejectedLogEventsInfo" not in put, put


# --- the scenarios ----------------------------------------------------------------------------


def sagemaker_job_through_the_api(stack: MotoStack) -> None:
    document = spec("sagemaker", "iam-sagemaker")
    status, accepted = api(stack, "POST", "/jobs", document, key="iam-1")
    assert status == 202, accepted
    assert api(stack, "POST", "/jobs", document, key="iam-1") == (202, accepted)  # the idempotency record
    job_id = accepted["job_id"]
    run_to_end(stack, TrainingPlatform(stack, job_id, "sagemaker", val_loss, "val_loss"), job_id, objective_late=True)
    for path in ("/jobs", f"/jobs/{job_id}", f"/jobs/{job_id}/trials"):
        assert api(stack, "GET", path)[0] == 200


def grid_runs_out(stack: MotoStack) -> None:
    """A grid of two points with budget for three: once both trials have ended, the next
    Suggest Trials round has nothing to propose and ends the loop itself, sending its own
    round's token (``SendTaskSuccess``), whatever the order of the events and the rounds
    (a Suggest also sends it when a result lands before it parks its token, which depends
    on thread timing: under heavy load no round of the other scenarios may do it)."""
    grid = {"strategy": {"name": "grid", "options": {"resolution": 2}}, "budget": {"max_trials": 3, "max_parallel": 2}}
    status, accepted = api(stack, "POST", "/jobs", spec("sagemaker", "iam-grid", **grid))
    assert status == 202, accepted
    job_id = accepted["job_id"]
    run_to_end(stack, TrainingPlatform(stack, job_id, "sagemaker", val_loss, "val_loss"), job_id)
    job = stack.service.store.get_job(job_id)
    assert (job.stop_reason, job.completed) == (StopReason.SEARCH_SPACE_EXHAUSTED, 2), job


def batch_job_through_the_api(stack: MotoStack) -> None:
    status, accepted = api(stack, "POST", "/jobs", spec("batch", "iam-batch"))
    assert status == 202, accepted
    job_id = accepted["job_id"]
    run_to_end(stack, TrainingPlatform(stack, job_id, "batch", val_loss, "val_loss"), job_id, objective_late=True)


def stop_through_the_api(stack: MotoStack, job_id: str, backend: str) -> None:
    launched_and_waiting(stack, job_id)
    platform = TrainingPlatform(stack, job_id, backend, val_loss, "val_loss")
    cloud_jobs = platform.new_jobs()
    assert api(stack, "POST", f"/jobs/{job_id}/stop")[0] == 202
    stopped = f"{backend.replace('sagemaker', 'sagemaker-training')}-job-state-change-stopped"
    for cloud_job in cloud_jobs:
        platform.deliver(restate(cloud_job.events[-1], stopped))
    ended(stack, job_id)
    assert stack.service.store.get_job(job_id).status is JobStatus.STOPPED


def stopped_while_a_round_parks(stack: MotoStack) -> None:
    """A stop lands while a Suggest Trials round parks its token (after its launches): the
    round, finding the job no longer as it planned it, takes its token back and wakes its
    execution itself (``TuningService.wait``: Suggest's ``DeleteItem``, which a result landing
    before the park also makes, on thread timing alone: under load no other round may), and
    the round it wakes stops the trials."""
    status, accepted = api(stack, "POST", "/jobs", spec("sagemaker", "iam-stop-parking"))
    assert status == 202, accepted
    job_id = accepted["job_id"]
    park, parked_stopping = TuningService.wait, threading.Event()

    def stopped_first(service: TuningService, request: WaitRequest) -> None:
        if request.job_id == job_id and not request.stopping:
            service.store.set_job_status(job_id, JobStatus.STOPPING, expected=(JobStatus.RUNNING,))
        park(service, request)
        if request.job_id == job_id and request.stopping:  # the round it woke stopped the trials
            parked_stopping.set()

    with mock.patch.object(TuningService, "wait", stopped_first):
        assert parked_stopping.wait(30), f"job {job_id}: no round parked stopping"
    platform = TrainingPlatform(stack, job_id, "sagemaker", val_loss, "val_loss")
    for cloud_job in platform.new_jobs():
        platform.deliver(restate(cloud_job.events[-1], "sagemaker-training-job-state-change-stopped"))
    ended(stack, job_id)
    assert stack.service.store.get_job(job_id).status is JobStatus.STOPPED


def budget_changed_through_the_api(stack: MotoStack) -> None:
    """``PATCH /jobs/{id}`` on a job waiting for its trials: the API function rewrites the
    job and wakes its execution (``SendTaskSuccess``), which launches the trial it now may."""
    status, accepted = api(stack, "POST", "/jobs", spec("sagemaker", "iam-update"))
    assert status == 202, accepted
    job_id = accepted["job_id"]
    launched_and_waiting(stack, job_id)
    status, changed = api(stack, "PATCH", f"/jobs/{job_id}", {"max_trials": 3, "max_parallel": 3})
    assert status == 200, changed
    run_to_end(stack, TrainingPlatform(stack, job_id, "sagemaker", val_loss, "val_loss"), job_id)
    assert len(stack.service.store.list_trials(job_id)) == 3


def recurring_job_started_and_stopped(stack: MotoStack) -> None:
    document = spec("sagemaker", "iam-nightly", schedule="rate(1 day)")
    status, created = api(stack, "POST", "/jobs", document)
    assert status == 201, created
    group = DEPLOYED.physical_name("ScheduleGroup", transformed())
    stored = stack.session.client("scheduler").get_schedule(Name=created["schedule_name"], GroupName=group)
    started = stack.invoke("start", delivered(stored["Target"]["Input"]))  # the tick Scheduler sends
    stop_through_the_api(stack, started["job_id"], "sagemaker")
    status, listed = api(stack, "GET", "/schedules")
    assert status == 200 and [s["name"] for s in listed["schedules"]] == ["iam-nightly"], listed
    assert api(stack, "DELETE", "/schedules/iam-nightly")[0] == 200


def recurring_job_whose_execution_does_not_start(stack: MotoStack) -> None:
    """A tick whose StartExecution fails marks its job failed, which deletes the job's
    unfinished marker: Start's DeleteItem (its role has no other use for it). Lambda's retry
    of the tick reopens that job (its marker put back) and starts it: no second job."""
    status, created = api(stack, "POST", "/jobs", spec("sagemaker", "iam-unstarted", schedule="rate(1 day)"))
    assert status == 201, created
    group = DEPLOYED.physical_name("ScheduleGroup", transformed())
    stored = stack.session.client("scheduler").get_schedule(Name=created["schedule_name"], GroupName=group)
    tick = delivered(stored["Target"]["Input"])
    refused = RuntimeError("ExecutionLimitExceeded")
    with (
        mock.patch.object(StepFunctionsOrchestrator, "start_execution", side_effect=refused),
        pytest.raises(AssertionError, match="ExecutionLimitExceeded"),
    ):
        stack.invoke("start", tick)
    (job,) = [j for j in stack.service.store.list_jobs() if j.spec.name == "iam-unstarted"]
    assert job.status is JobStatus.FAILED and job.id not in {j.id for j in stack.service.store.list_unfinished_jobs()}
    assert stack.invoke("start", tick)["job_id"] == job.id  # the retry
    (job,) = [j for j in stack.service.store.list_jobs() if j.spec.name == "iam-unstarted"]
    assert job.status is JobStatus.RUNNING and job.id in {j.id for j in stack.service.store.list_unfinished_jobs()}
    stop_through_the_api(stack, job.id, "sagemaker")
    assert api(stack, "DELETE", "/schedules/iam-unstarted")[0] == 200


def unstarted_job_stopped_through_the_api(stack: MotoStack) -> None:
    """A submit whose StartExecution is refused leaves its job failed (``START_FAILED``): the
    user's stop closes it stopped, and the API function publishes its completion event
    (``PutEvents``): no execution will."""
    refused = RuntimeError("ExecutionLimitExceeded")
    with mock.patch.object(StepFunctionsOrchestrator, "start_execution", side_effect=refused):
        assert api(stack, "POST", "/jobs", spec("sagemaker", "iam-unstarted-stop"))[0] == 500
    (job,) = [j for j in stack.service.store.list_jobs() if j.spec.name == "iam-unstarted-stop"]
    assert api(stack, "POST", f"/jobs/{job.id}/stop")[0] == 202
    stopped = stack.service.store.get_job(job.id)
    assert stopped.status is JobStatus.STOPPED and stopped.completion_published, stopped


def recurring_job_stopped_as_it_starts(stack: MotoStack) -> None:
    """The user stops a tick's job while its StartExecution is on its way, which then fails:
    the start function closes the job stopped and publishes its completion event."""
    status, created = api(stack, "POST", "/jobs", spec("sagemaker", "iam-stopped-start", schedule="rate(1 day)"))
    assert status == 201, created
    group = DEPLOYED.physical_name("ScheduleGroup", transformed())
    stored = stack.session.client("scheduler").get_schedule(Name=created["schedule_name"], GroupName=group)

    def stopped_then_refused(_: StepFunctionsOrchestrator, job_id: str, name: str) -> str:
        stack.service.store.set_job_status(job_id, JobStatus.STOPPING, expected=(JobStatus.RUNNING,))  # the stop
        raise RuntimeError("ExecutionLimitExceeded")

    with (
        mock.patch.object(StepFunctionsOrchestrator, "start_execution", stopped_then_refused),
        pytest.raises(AssertionError, match="ExecutionLimitExceeded"),
    ):
        stack.invoke("start", delivered(stored["Target"]["Input"]))
    (job,) = [j for j in stack.service.store.list_jobs() if j.spec.name == "iam-stopped-start"]
    assert job.status is JobStatus.STOPPED and job.completion_published, job
    assert api(stack, "DELETE", "/schedules/iam-stopped-start")[0] == 200


def execution_closed_while_taking_its_job_back(stack: MotoStack) -> None:
    """A job whose start lost its answer (stored failed, ``START_FAILED``) is taken back by the
    execution that start began; asked its own name again, that execution reads closed (closed
    meanwhile, or redriven so recently that DescribeExecution still says its old end): Suggest
    keeps the job and launches nothing that round, for the reaper's later describe."""
    job = stack.service.create_job(parse_spec(spec("sagemaker", "iam-taken-back")))
    lost = f"{START_FAILED}: read timeout"
    stack.service.store.set_job_status(job.id, JobStatus.FAILED, expected=(JobStatus.RUNNING,), error=lost)
    name = "iam-taken-back-1"
    arn = f"{stack.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
    answers = [arn, ExecutionClosedError(arn)]  # the take-back's StartExecution, then its recheck
    with mock.patch.object(StepFunctionsOrchestrator, "start_execution", side_effect=answers):
        plan = stack.invoke("suggest", {"job_id": job.id, "execution": name})
    assert plan["done"] is False and plan["trial_ids"] == [], plan
    kept = stack.service.store.get_job(job.id)
    assert kept.status is JobStatus.RUNNING and kept.execution_id == arn, kept


@contextmanager
def first_names_taken(prefix: str) -> Iterator[None]:
    """StartExecution answers ``ExecutionAlreadyExists`` to the first name asked of each job
    whose name starts with ``prefix`` (as for its closed execution, or maybe a redriven one):
    the adapter then asks DescribeExecution whether it runs (moto: no such execution, closed)."""
    backend = type(stepfunctions_parser_backends[ACCOUNT][REGION])
    start, taken = backend.start_execution, set()

    def answer(self: Any, state_machine_arn: str, name: str, *args: Any, **kwargs: Any) -> Any:
        job = name.rsplit("-", 1)[0]
        if name.startswith(prefix) and job not in taken:
            taken.add(job)
            raise AlreadyExists(f"Execution Already Exists: '{name}'")
        return start(self, state_machine_arn, name, *args, **kwargs)

    with mock.patch.object(backend, "start_execution", answer):
        yield


def execution_names_answered_already_exists(stack: MotoStack) -> None:
    """A keyed submit (the API), a tick (the start function) and an execution recording itself
    (Suggest, its start's record lost) each have their name answered ExecutionAlreadyExists:
    each asks DescribeExecution. The two starts go on to the key's or tick's next name; the
    execution, read closed, records itself and launches nothing that round."""
    with first_names_taken("iam-taken"):
        status, accepted = api(stack, "POST", "/jobs", spec("sagemaker", "iam-taken-keyed"), key="iam-taken-1")
        assert status == 202, accepted
        stop_through_the_api(stack, accepted["job_id"], "sagemaker")
        status, created = api(stack, "POST", "/jobs", spec("sagemaker", "iam-taken-tick", schedule="rate(1 day)"))
        assert status == 201, created
        group = DEPLOYED.physical_name("ScheduleGroup", transformed())
        stored = stack.session.client("scheduler").get_schedule(Name=created["schedule_name"], GroupName=group)
        stop_through_the_api(stack, stack.invoke("start", delivered(stored["Target"]["Input"]))["job_id"], "sagemaker")
        assert api(stack, "DELETE", "/schedules/iam-taken-tick")[0] == 200
        job = stack.service.create_job(parse_spec(spec("sagemaker", "iam-taken-record")))
        plan = stack.invoke("suggest", {"job_id": job.id, "execution": "iam-taken-record-1"})
        assert plan["done"] is False and plan["trial_ids"] == [], plan
    kept = stack.service.store.get_job(job.id)
    assert kept.status is JobStatus.RUNNING and (kept.execution_id or "").endswith(":iam-taken-record-1"), kept


def batch_job_stopped(stack: MotoStack) -> None:
    status, accepted = api(stack, "POST", "/jobs", spec("batch", "iam-batch-stop"))
    assert status == 202, accepted
    stop_through_the_api(stack, accepted["job_id"], "batch")


def park_fails_for_good(stack: MotoStack) -> None:
    """A Suggest Trials round that cannot park its token (after launching) fails for good,
    caught to Finish Job with ``$.error``: Finish stops the trials."""
    with mock.patch.object(TuningService, "wait", side_effect=RuntimeError("the trial store is unreachable")):
        jobs = [stack.service.submit(parse_spec(spec(b, f"iam-error-{b}"))) for b in ("sagemaker", "batch")]
        for job in jobs:
            ended(stack, job.id, seconds=75)  # after the retries' 30 s of back-off
    for job in jobs:
        final = stack.service.store.get_job(job.id)
        assert final.status is JobStatus.FAILED and "unreachable" in (final.error or ""), final


def batch_objective_recovered_from_the_log(stack: MotoStack) -> None:
    """Each Batch job SUCCEEDED, its script's final report never came: the trials await it,
    then the reaper, past the grace period, reads the value from the job's log stream."""
    status, accepted = api(stack, "POST", "/jobs", spec("batch", "iam-batch-log"))
    assert status == 202, accepted
    job_id = accepted["job_id"]
    launched_and_waiting(stack, job_id)
    platform = TrainingPlatform(stack, job_id, "batch", val_loss, "val_loss")
    cloud_jobs = platform.new_jobs()
    assert len(cloud_jobs) == 2
    for cloud_job in cloud_jobs:
        value = val_loss(cloud_job.hyperparameters)
        logged(cloud_job, ["epoch 1", f"val_loss={value + 1!r}", f"val_loss={value!r}", "done"])
        assert platform.deliver(cloud_job.events[-1]) == {"recorded": False}  # SUCCEEDED: it awaits the report
    with mock.patch.object(stack, "reaper_grace_seconds", -3600.0):  # the grace has passed
        counts = stack.invoke("reaper", sample("scheduled-event"))
    assert (counts["recorded"], counts["timed_out"]) == (2, 0), counts
    ended(stack, job_id)
    trials = stack.service.store.list_trials(job_id)
    assert all(t.state is TrialState.COMPLETED for t in trials), trials
    assert sorted(t.value for t in trials) == sorted(val_loss(j.hyperparameters) for j in cloud_jobs)


def reaper_reconciles(stack: MotoStack) -> None:
    """One cloud job per tuning job ended unseen, the other runs past its deadline."""
    jobs = {b: stack.service.submit(parse_spec(spec(b, f"iam-reaped-{b}"))) for b in ("sagemaker", "batch")}
    for backend, job in jobs.items():
        launched_and_waiting(stack, job.id)
        platform = TrainingPlatform(stack, job.id, backend, val_loss, "val_loss")
        done, running = platform.new_jobs()
        ended_unseen(platform, done)
        still_running(running, backend)
    with mock.patch.object(stack, "reaper_grace_seconds", -10 * 3600.0):  # past every deadline
        counts = stack.invoke("reaper", sample("scheduled-event"))
    assert (counts["recorded"], counts["timed_out"]) == (2, 2), counts
    for job in jobs.values():
        ended(stack, job.id)


def suggest_hands_over(stack: MotoStack) -> None:
    """An execution past ``HANDOFF_EVENTS`` starts its successor. Its own execution is recorded
    first, as its start records it: with none recorded, Suggest records its own by starting
    its name (``_claimed``), which, never started here, would run a second loop of the job."""
    job = stack.service.create_job(parse_spec(spec("sagemaker", "iam-handoff")))
    own = f"{stack.state_machine_arn.replace(':stateMachine:', ':execution:')}:iam-handoff-1"
    stack.service.store.set_job_status(job.id, JobStatus.RUNNING, expected=(JobStatus.RUNNING,), execution_id=own)
    request = {"job_id": job.id, "execution": "iam-handoff-1", "history_events": HANDOFF_EVENTS}
    assert stack.invoke("suggest", request)["handoff"] is True
    listed = stack.session.client("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)
    assert [e["executionArn"] for e in listed["executions"] if job.id in e["name"] or e["executionArn"] == own] == [
        execution_of(stack, job.id)
    ]  # the successor alone runs the job
    run_to_end(stack, TrainingPlatform(stack, job.id, "sagemaker", val_loss, "val_loss"), job.id)


ASHA = {"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3}


def stopped_early(stack: MotoStack, backend: str) -> None:
    """Both trials' scripts report step 1 (``hyperstep.report(metrics, step=1)``), the one
    ahead first: Collect stops the one behind on its backend, recorded pruned; its own
    "stopped" end finds it recorded, the other runs to its end."""
    status, accepted = api(stack, "POST", "/jobs", spec(backend, f"iam-early-{backend}", early_stopping=ASHA))
    assert status == 202, accepted
    job_id = accepted["job_id"]
    launched_and_waiting(stack, job_id)
    platform = TrainingPlatform(stack, job_id, backend, val_loss, "val_loss")
    ahead, behind = sorted(platform.new_jobs(), key=lambda j: val_loss(j.hyperparameters))
    still_running(behind, backend)  # reporting its steps; priced from its record at the stop (still stopping)
    for cloud_job in (ahead, behind):
        step = platform.step_reported(cloud_job, 1, val_loss(cloud_job.hyperparameters) + 1)
        assert platform.deliver(step) == {"recorded": True}
    stopped = f"{backend.replace('sagemaker', 'sagemaker-training')}-job-state-change-stopped"
    assert platform.deliver(restate(behind.events[-1], stopped)) == {"recorded": False}
    for event in ahead.events:
        assert platform.deliver(event) == {"recorded": True}
    ended(stack, job_id)
    store = stack.service.store
    pruned, completed = (store.get_trial(job_id, j.environment[ENV_TRIAL_ID]) for j in (behind, ahead))
    assert (pruned.state, completed.state) == (TrialState.PRUNED, TrialState.COMPLETED), (pruned, completed)


def sagemaker_steps_read_from_the_log(stack: MotoStack) -> None:
    """Both training jobs run and print ``val_loss=...`` lines, nothing else: the reaper
    finds each one's log stream (the second's only at its second run), reads the lines as
    steps, and stops the one behind at rung 1 (``StopTrainingJob``); its "stopped" end
    finds it recorded, the other completes."""
    name = "iam-early-log"
    status, accepted = api(stack, "POST", "/jobs", spec("sagemaker", name, early_stopping=ASHA))
    assert status == 202, accepted
    job_id = accepted["job_id"]
    launched_and_waiting(stack, job_id)
    platform = TrainingPlatform(stack, job_id, "sagemaker", val_loss, "val_loss")
    ahead, behind = sorted(platform.new_jobs(), key=lambda j: val_loss(j.hyperparameters))
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName=TRAINING_LOG_GROUP)
    for cloud_job in (ahead, behind):
        still_running(cloud_job, "sagemaker")
    for cloud_job in (ahead, behind):  # the one ahead prints first; the other's stream appears later
        stream = f"{cloud_job.name}/algo-1-1732662000"
        logs.create_log_stream(logGroupName=TRAINING_LOG_GROUP, logStreamName=stream)
        line = f"epoch 1 val_loss={val_loss(cloud_job.hyperparameters) + 1!r}"
        logs.put_log_events(
            logGroupName=TRAINING_LOG_GROUP,
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": line}],
        )
        stack.invoke("reaper", sample("scheduled-event"))
    behind_trial = stack.service.store.get_trial(job_id, behind.environment[ENV_TRIAL_ID])
    assert behind_trial.state is TrialState.PRUNED, behind_trial
    stopped = "sagemaker-training-job-state-change-stopped"
    assert platform.deliver(restate(behind.events[-1], stopped)) == {"recorded": False}
    for event in ahead.events:
        assert platform.deliver(event) == {"recorded": True}
    ended(stack, job_id)


def sagemaker_trial_stopped_early(stack: MotoStack) -> None:
    stopped_early(stack, "sagemaker")


def batch_trial_stopped_early(stack: MotoStack) -> None:
    stopped_early(stack, "batch")


SECRET_VALUES = {"/hyperstep/db-password": "pa55-from-ssm", "hyperstep/api-token": "token-from-secrets-manager"}
REFERENCES = {
    "DB_PASSWORD": {"resolve": "ssm:/hyperstep/db-password"},
    "API_TOKEN": {"resolve": "secretsmanager:hyperstep/api-token"},
}


def secrets_resolved_at_launch(stack: MotoStack) -> None:
    """Each trial starts with the values its references name; the store keeps the references."""
    stack.session.client("ssm").put_parameter(
        Name="/hyperstep/db-password", Value=SECRET_VALUES["/hyperstep/db-password"], Type="SecureString"
    )
    stack.session.client("secretsmanager").create_secret(
        Name="hyperstep/api-token", SecretString=SECRET_VALUES["hyperstep/api-token"]
    )
    for backend in ("sagemaker", "batch"):
        block = {**BLOCKS[backend], "environment": REFERENCES}
        status, accepted = api(stack, "POST", "/jobs", {**spec(backend, f"iam-secrets-{backend}"), "trial": block})
        assert status == 202, accepted
        job_id = accepted["job_id"]
        platform = TrainingPlatform(stack, job_id, backend, val_loss, "val_loss")
        run_to_end(stack, platform, job_id)
        stored = json.dumps(stack.service.store.get_job(job_id).model_dump(mode="json"))
        assert "ssm:/hyperstep/db-password" in stored and not any(v in stored for v in SECRET_VALUES.values())
        assert all(t.state is TrialState.COMPLETED for t in stack.service.store.list_trials(job_id))


def aborted(described: dict[str, Any], stopped: datetime) -> dict[str, Any]:
    """Step Functions' status-change event for an execution stopped at ``stopped``
    (``DescribeExecution``'s fields, as the sample in ``events/`` carries them)."""
    template = sample("step-functions-execution-status-change-aborted")
    detail = {
        **template["detail"],
        **{k: described[k] for k in ("executionArn", "stateMachineArn", "name", "input")},
        "status": "ABORTED",
        "startDate": int(described["startDate"].timestamp() * 1000),
        "stopDate": int(stopped.timestamp() * 1000),
    }
    return envelope(template, detail, [described["executionArn"]])


def execution_stopped_by_hand(stack: MotoStack) -> None:
    """Each job's execution is stopped from the console while its trials run
    (``StopExecution``): from Step Functions' event, Finish fails the job and stops its
    trials. (moto's engine leaves an execution that waits for a task token RUNNING when
    stopped: the event says what AWS says.)"""
    for backend in ("sagemaker", "batch"):
        job = stack.service.submit(parse_spec(spec(backend, f"iam-aborted-{backend}")))
        launched_and_waiting(stack, job.id)
        execution = execution_of(stack, job.id)
        stack.sfn.stop_execution(executionArn=execution, error="Manual", cause="stopped from the console")
        assert stack.invoke("finish", aborted(stack.status(execution), datetime.now(UTC)))["closed"]
        assert stack.service.store.get_job(job.id).status is JobStatus.FAILED


def execution_end_event_lost(stack: MotoStack) -> None:
    """A job's execution is stopped by hand and its status-change event never comes: the
    reaper's wake finds no round waiting, so it asks ``DescribeExecution`` and closes the job
    as Finish would (stopping its trials, publishing its end). The execution is stopped
    mid-round (no token parked). moto's engine keeps an execution that waits for a task token
    RUNNING when stopped: its status is set as AWS's would read."""
    job = stack.service.submit(parse_spec(spec("sagemaker", "iam-end-event-lost")))
    launched_and_waiting(stack, job.id)
    execution = execution_of(stack, job.id)
    stack.sfn.stop_execution(executionArn=execution, error="Manual", cause="stopped from the console")
    stack.service.store.take_task_token(job.id)
    stepfunctions_parser_backends[ACCOUNT][REGION].describe_execution(execution).exec_status = ExecutionStatus.ABORTED
    with mock.patch.object(stack, "reaper_grace_seconds", -10 * 3600.0):  # an old job
        counts = stack.invoke("reaper", sample("scheduled-event"))
    assert counts.get("executions_ended") == 1, counts
    assert stack.service.store.get_job(job.id).status is JobStatus.FAILED


def completion_event_lost(stack: MotoStack) -> None:
    """A job whose execution is stopped by hand is closed by a Finish that dies between its
    status write and its publish (written here an hour ago, as that Finish would): the
    reaper's pass finds it among the finished jobs not marked published (``Query`` of their
    markers' partition, ``GetItem``), publishes its end (``PutEvents``) and marks it
    (``UpdateItem`` of the job, ``DeleteItem`` of its marker, one transaction). moto's engine
    keeps an execution that waits for a task token RUNNING when stopped."""
    job = stack.service.submit(parse_spec(spec("sagemaker", "iam-completion-lost")))
    launched_and_waiting(stack, job.id)
    stack.sfn.stop_execution(executionArn=execution_of(stack, job.id), error="Manual", cause="stopped by hand")
    stack.service.store.take_task_token(job.id)
    store = stack.service.store
    with mock.patch.object(store, "clock", lambda: time.time() - 3600):
        store.set_job_status(job.id, JobStatus.FAILED, expected=(JobStatus.RUNNING,), error="Manual: stopped by hand")
    counts = stack.invoke("reaper", sample("scheduled-event"))
    assert counts.get("announced", 0) >= 1, counts
    assert store.get_job(job.id).completion_published


def stopped_job_left_without_execution(stack: MotoStack) -> None:
    """A user's stop lands while a job's StartExecution is on its way, the start fails, and the
    close it runs fails too (modelled: the job is left stopping, no execution recorded): the
    reaper's pass closes it stopped as Finish would (``Query`` of its trials, the status
    transaction) and publishes its end (``PutEvents``)."""
    job = stack.service.create_job(parse_spec(spec("sagemaker", "iam-stopped-unstarted")))
    stack.service.store.set_job_status(job.id, JobStatus.STOPPING, expected=(JobStatus.RUNNING,))
    with mock.patch.object(stack, "reaper_grace_seconds", -10 * 3600.0):  # an old job
        counts = stack.invoke("reaper", sample("scheduled-event"))
    assert counts.get("unstarted_stopped") == 1, counts
    stopped = stack.service.store.get_job(job.id)
    assert stopped.status is JobStatus.STOPPED and stopped.completion_published, stopped


def running_job_left_without_execution(stack: MotoStack) -> None:
    """A job's start failed and the failed write after it failed too (modelled: the job is left
    running, no execution recorded): the reaper's pass fails it as that write would have (the
    status transaction), its end left to the pass after the publish grace."""
    job = stack.service.create_job(parse_spec(spec("sagemaker", "iam-running-unstarted")))
    with mock.patch.object(stack, "reaper_grace_seconds", -10 * 3600.0):  # an old job
        counts = stack.invoke("reaper", sample("scheduled-event"))
    assert counts.get("unstarted_failed") == 1, counts
    assert stack.service.store.get_job(job.id).status is JobStatus.FAILED


def awaiting_objective(platform: TrainingPlatform, launched: Launched) -> None:
    """The trial's job ended and its end carried no objective, nor does the platform's record
    (SageMaker's ``FinalMetricDataList`` empty; Batch keeps none): the trial awaits its final
    report. A Batch job's log holds the value (its script printed it), as for the reaper."""
    if platform.backend == "sagemaker":
        sagemaker_backends[ACCOUNT][REGION].training_jobs[launched.name].final_metric_data_list = []
    else:
        logged(launched, [f"val_loss={val_loss(launched.hyperparameters)!r}"])
    assert platform.deliver(without_objective(launched)) == {"recorded": False}


def execution_stopped_while_a_trial_awaits_its_objective(stack: MotoStack) -> None:
    """Each job's execution is stopped by hand while one trial runs and the other awaits its
    final objective: from Step Functions' event, Finish stops the one running and settles the
    one awaiting from the source (the reaper visits unfinished jobs only): SageMaker's record
    (``DescribeTrainingJob``, which prices it too), a Batch job's log (``DescribeJobs``,
    ``GetLogEvents``)."""
    for backend in ("sagemaker", "batch"):
        job = stack.service.submit(parse_spec(spec(backend, f"iam-aborted-awaiting-{backend}")))
        launched_and_waiting(stack, job.id)
        platform = TrainingPlatform(stack, job.id, backend, val_loss, "val_loss")
        awaiting, running = platform.new_jobs()
        still_running(running, backend)
        awaiting_objective(platform, awaiting)
        execution = execution_of(stack, job.id)
        stack.sfn.stop_execution(executionArn=execution, error="Manual", cause="stopped from the console")
        assert stack.invoke("finish", aborted(stack.status(execution), datetime.now(UTC)))["closed"]
        settled = stack.service.store.get_trial(job.id, awaiting.environment[ENV_TRIAL_ID])
        expected = TrialState.COMPLETED if backend == "batch" else TrialState.FAILED  # SageMaker kept no value
        assert settled.state is expected, settled


SCENARIOS = (
    sagemaker_job_through_the_api,
    grid_runs_out,
    batch_job_through_the_api,
    recurring_job_started_and_stopped,
    recurring_job_whose_execution_does_not_start,
    unstarted_job_stopped_through_the_api,
    recurring_job_stopped_as_it_starts,
    execution_closed_while_taking_its_job_back,
    execution_names_answered_already_exists,
    budget_changed_through_the_api,
    stopped_while_a_round_parks,
    batch_job_stopped,
    park_fails_for_good,
    reaper_reconciles,
    batch_objective_recovered_from_the_log,
    suggest_hands_over,
    sagemaker_trial_stopped_early,
    batch_trial_stopped_early,
    secrets_resolved_at_launch,
    sagemaker_steps_read_from_the_log,
    execution_stopped_by_hand,
    execution_end_event_lost,
    execution_stopped_while_a_trial_awaits_its_objective,
    completion_event_lost,
    stopped_job_left_without_execution,
    running_job_left_without_execution,
)


# --- the check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    call: Call
    request: Request
    allowed: bool


def moto_tags(stack: MotoStack) -> Callable[[str], dict[str, str]]:
    """The tags a training job or Batch job has in moto (read from the test, not recorded)."""

    def tags(arn: str) -> dict[str, str]:
        if ":training-job/" in arn:
            return {t["Key"]: t["Value"] for t in stack.sagemaker.list_tags(ResourceArn=arn)["Tags"]}
        if ":batch:" in arn and ":job/" in arn:
            return stack.batch.list_tags_for_resource(resourceArn=arn)["tags"]
        return {}

    return tags


def policies() -> dict[str, Policy]:
    return {h: Policy(tuple(role_statements(DEPLOYED, f"{h.capitalize()}Function"))) for h in HANDLERS}


def function_environment(handler: str) -> dict[str, str]:
    """The environment the template gives a function, resolved for the deployed stack."""
    document = transformed()
    variables = document["Resources"][f"{handler.capitalize()}Function"]["Properties"]["Environment"]["Variables"]
    return {k: str(v) for k, v in DEPLOYED.resolve(variables, document).items()}


@pytest.fixture(scope="module")
def verdicts() -> list[Verdict]:
    """Run every scenario under the recorder; judge each recorded call (inside the mock,
    where the resources' tags are)."""
    document = transformed()
    machine_name = DEPLOYED.physical_name("TuningStateMachine", document)
    recorder = CallRecorder()
    with moto_stack(machine_name=machine_name) as stack:
        assert stack.state_machine_arn == function_environment("suggest")["HYPERSTEP_STATE_MACHINE_ARN"]
        create_batch_environment()
        stack.environment["HYPERSTEP_SECRETS_PREFIX"] = function_environment("suggest")["HYPERSTEP_SECRETS_PREFIX"]
        stack.environment["HYPERSTEP_STACK_ID"] = function_environment("suggest")["HYPERSTEP_STACK_ID"]
        api_environment = function_environment("api")
        for variable in ("HYPERSTEP_CALLER_RATE", "HYPERSTEP_CALLER_BURST"):  # the API's throttle per caller
            stack.environment[variable] = api_environment[variable]
        stack.throttle = throttle_factory(stack.environment)
        stack.session.client("scheduler").create_schedule_group(Name=DEPLOYED.physical_name("ScheduleGroup", document))
        api_schedules = schedules_factory(function_environment("api"))
        with (
            mock.patch.object(stack, "schedules", api_schedules),
            mock.patch.object(SageMakerResponse, "stop_training_job", stop_training_job, create=True),
            recorder.recording(),
        ):
            for scenario in SCENARIOS:
                scenario(stack)
        judged, arns, tags, roles = [], Arns(ACCOUNT), moto_tags(stack), policies()
        for call in recorder.calls:
            for request in authorizations(call, arns, tags):
                judged.append(Verdict(call, request, roles[call.function].allows(request)))
    return judged


def test_every_call_each_function_makes_is_allowed_by_its_role(verdicts: list[Verdict]) -> None:
    denied = sorted({f"{v.call.function}: {v.request}" for v in verdicts if not v.allowed})
    assert not denied, "calls the template's roles do not allow:\n" + "\n".join(denied)


NEEDED = {
    ("api", "states:StartExecution"),
    ("api", "scheduler:CreateSchedule"),
    ("api", "scheduler:ListSchedules"),
    ("api", "scheduler:GetSchedule"),
    ("api", "scheduler:DeleteSchedule"),
    ("api", "iam:PassRole"),
    ("api", "sagemaker:StopTrainingJob"),
    ("api", "batch:TerminateJob"),
    ("api", "dynamodb:PutItem"),  # the idempotency record, the caller's token bucket
    ("api", "dynamodb:GetItem"),
    ("api", "states:SendTaskSuccess"),  # a stopped or changed job woken
    ("api", "events:PutEvents"),  # a stop of a job whose start failed closes it
    ("start", "events:PutEvents"),  # a start that fails closes the job
    ("start", "states:StartExecution"),
    ("start", "dynamodb:DeleteItem"),  # a job whose execution did not start, marked failed
    ("suggest", "states:StartExecution"),
    ("api", "states:DescribeExecution"),  # a name answered ExecutionAlreadyExists: redriven, or closed?
    ("start", "states:DescribeExecution"),
    ("suggest", "states:DescribeExecution"),
    ("suggest", "dynamodb:Query"),
    ("suggest", "dynamodb:ConditionCheckItem"),  # a trial's start checks its job's marker (TransactWriteItems)
    ("suggest", "sagemaker:CreateTrainingJob"),
    ("suggest", "sagemaker:AddTags"),
    ("suggest", "iam:PassRole"),
    ("suggest", "batch:SubmitJob"),
    ("suggest", "batch:TagResource"),
    ("suggest", "batch:ListJobs"),
    ("suggest", "ssm:GetParameter"),
    ("suggest", "secretsmanager:GetSecretValue"),
    ("suggest", "states:SendTaskSuccess"),  # its own round's token: the job is done
    ("suggest", "dynamodb:DeleteItem"),  # a round that parked as the job changed takes its token back
    ("collect", "sagemaker:DescribeTrainingJob"),
    ("collect", "dynamodb:UpdateItem"),
    ("collect", "sagemaker:StopTrainingJob"),  # early stopping
    ("collect", "batch:TerminateJob"),
    ("finish", "sagemaker:StopTrainingJob"),
    ("finish", "batch:TerminateJob"),
    ("finish", "events:PutEvents"),
    ("finish", "sagemaker:DescribeTrainingJob"),  # a trial awaiting its objective, settled as the job closes
    ("finish", "batch:DescribeJobs"),
    ("finish", "logs:GetLogEvents"),
    ("finish", "logs:DescribeLogStreams"),  # a SageMaker trial's objective its record lacks, from its log
    ("finish", "states:SendTaskSuccess"),  # that trial's end wakes the parked round
    ("collect", "batch:DescribeJobs"),  # a trial stopped early, priced from its record (Usage)
    ("reaper", "sagemaker:DescribeTrainingJob"),
    ("reaper", "sagemaker:StopTrainingJob"),
    ("reaper", "batch:DescribeJobs"),
    ("reaper", "batch:TerminateJob"),
    ("reaper", "logs:GetLogEvents"),
    ("reaper", "logs:DescribeLogStreams"),  # a SageMaker trial's steps from its log
    ("reaper", "states:SendTaskSuccess"),
    ("reaper", "states:DescribeExecution"),  # a job whose execution's end event was lost
    ("reaper", "events:PutEvents"),  # that job closed as Finish closes it
}
"""What the scenarios must make each function do, so the check above covers it."""


def test_the_scenarios_exercise_every_permission_the_functions_need(verdicts: list[Verdict]) -> None:
    made = {(v.call.function, v.request.action) for v in verdicts}
    assert made >= NEEDED, sorted(NEEDED - made)
    # Powertools' idempotency layer calls DynamoDB from a session of its own: recorded too.
    keys = [v.call.params.get("Item", {}).get("pk", {}).get("S", "") for v in verdicts if v.call.function == "api"]
    assert any(key.startswith("idempotency#submit") for key in keys)
    assert any(key.startswith("THROTTLE#") for key in keys)


NOT_MADE_BY_THE_FUNCTION = {
    ("suggest", "kms:Decrypt", ":key/*"),  # SSM and Secrets Manager call it for Suggest (kms:ViaService)
    ("start", "sqs:SendMessage", ""),  # Lambda itself sends a failed asynchronous invoke to the dead-letter queue
    ("collect", "sqs:SendMessage", ""),
    ("finish", "sqs:SendMessage", ""),
}
UNREACHED = {
    ("finish", "dynamodb:PutItem", ":table/hyperstep"),  # a curve chunk put with a settled trial's end (_try_finish)
    ("finish", "logs:GetLogEvents", "/TrainingJobs:log-stream:hs-*"),  # a SageMaker objective from its log
    ("api", "dynamodb:Query", "/index/gsi1"),  # an admin lists every job
    ("start", "dynamodb:Query", "/index/gsi1"),  # a schedule made before owners lists every job
    ("start", "dynamodb:Query", ":table/hyperstep"),  # a tick's warm-start parent's trials (one tick here)
    ("suggest", "batch:SubmitJob", ":job-definition/train:*"),  # a spec naming a definition's revision
}
"""Grants (function, action, the resource's end) no recorded call uses: made by a service for
the function, or on a path the scenarios do not reach (each named)."""


def test_each_function_is_granted_only_what_its_calls_use(verdicts: list[Verdict]) -> None:
    """The other direction: a grant (an action on a resource) no call of the function needs
    is privilege it should not hold. The shared table policy once gave ConditionCheckItem (a
    trial's start's alone) and Query on the job indexes (listing jobs: the API's and a tick's)
    to every function."""
    spare = NOT_MADE_BY_THE_FUNCTION | UNREACHED
    unused = sorted(
        f"{handler}: {action} on {resource}"
        for handler, policy in policies().items()
        for statement in policy.statements
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
        if not any(v.call.function == handler and covers(action, resource, v.request) for v in verdicts)
        and not any(f == handler and a == action and resource.endswith(end) for f, a, end in spare)
    )
    assert not unused, "granted, never used:\n" + "\n".join(unused)


# --- the evaluator itself: it must deny what AWS denies --------------------------------------


def call(function: str, service: str, operation: str, params: dict[str, Any], response: Any = None) -> Call:
    return Call(function, service, operation, params, REGION, response)


def judge(function: str, made: Call, tags: dict[str, str] | None = None) -> list[bool]:
    policy = Policy(tuple(role_statements(DEPLOYED, f"{function.capitalize()}Function")))
    return [policy.allows(r) for r in authorizations(made, Arns(ACCOUNT), lambda _: tags or {})]


JOB_TAGS = {
    "hyperstep:job-id": "j-1",
    "hyperstep:trial-id": "t0001",
    "hyperstep:stack": DEPLOYED.stack_id.split("/")[2],
}
OTHER_STACKS = {**JOB_TAGS, "hyperstep:stack": "0b7c1a2e-0000-11f0-9c7d-0a1b2c3d4e5f"}
"""A trial of another hyperstep stack in the same account and region."""


def test_a_role_may_pass_only_its_role_and_only_to_its_service() -> None:
    training = {"TrainingJobName": "hs-j-1-t0001-1", "RoleArn": BACKENDS["TrainingRoleArn"]}
    tags = [{"Key": k, "Value": v} for k, v in JOB_TAGS.items()]
    assert judge("suggest", call("suggest", "sagemaker", "CreateTrainingJob", {**training, "Tags": tags})) == [True] * 3
    other_role = {**training, "RoleArn": "arn:aws:iam::123456789012:role/Admin", "Tags": tags}
    assert judge("suggest", call("suggest", "sagemaker", "CreateTrainingJob", other_role)) == [True, True, False]
    foreign = {**training, "TrainingJobName": "someone-elses-job", "Tags": tags}
    assert judge("suggest", call("suggest", "sagemaker", "CreateTrainingJob", foreign)) == [False, False, True]
    untagged = call("suggest", "sagemaker", "CreateTrainingJob", training)  # no stack tag: out of every grant
    assert judge("suggest", untagged) == [False, True]
    elsewhere = [{"Key": k, "Value": v} for k, v in OTHER_STACKS.items()]
    assert judge("suggest", call("suggest", "sagemaker", "CreateTrainingJob", {**training, "Tags": elsewhere})) == [
        False,
        False,
        True,
    ]
    schedule = {"Name": "n", "GroupName": "default", "Target": {"RoleArn": BACKENDS["TrainingRoleArn"]}}
    assert judge("api", call("api", "scheduler", "CreateSchedule", schedule)) == [False, False]


def test_batch_jobs_are_tagged_only_with_hyperstep_tags_and_terminated_only_when_tagged() -> None:
    submit = {"jobName": "hs-j-1-t0001-1", "jobQueue": BATCH_QUEUE, "jobDefinition": BATCH_DEFINITION}
    created = {"jobArn": f"arn:aws:batch:{REGION}:{ACCOUNT}:job/0f1e"}
    tagged = call("suggest", "batch", "SubmitJob", {**submit, "tags": {**JOB_TAGS, "team": "ml"}}, created)
    assert judge("suggest", tagged) == [True] * 4
    untagged = call("suggest", "batch", "SubmitJob", {**submit, "tags": {"team": "ml"}}, created)
    assert judge("suggest", untagged) == [True, True, True, False]  # TagResource without hyperstep's tags
    terminate = call("finish", "batch", "TerminateJob", {"jobId": "0f1e", "reason": "Stopped by hyperstep"})
    assert judge("finish", terminate, tags=JOB_TAGS) == [True]
    assert judge("finish", terminate, tags={"team": "ml"}) == [False]
    assert judge("finish", terminate, tags=OTHER_STACKS) == [False]  # another stack's trial
    stop = call("collect", "sagemaker", "StopTrainingJob", {"TrainingJobName": "hs-j-1-t0001-1"})
    assert judge("collect", stop, tags=JOB_TAGS) == [True]
    assert judge("collect", stop, tags=OTHER_STACKS) == [False]


def test_transactions_are_authorized_per_item_on_the_table() -> None:
    items = [{"Update": {"TableName": TABLE}}, {"ConditionCheck": {"TableName": TABLE}}]
    made = call("collect", "dynamodb", "TransactWriteItems", {"TransactItems": items})
    assert [r.action for r in authorizations(made, Arns(ACCOUNT), lambda _: {})] == [
        "dynamodb:UpdateItem",
        "dynamodb:ConditionCheckItem",
    ]
    assert judge("suggest", made) == [True, True]  # a trial's start checks that its job runs
    assert judge("collect", made) == [True, False]  # which only Suggest's launch does
    other_table = call("collect", "dynamodb", "GetItem", {"TableName": "someone-elses"})
    assert judge("collect", other_table) == [False]


def test_the_reaper_reads_only_log_streams_of_the_batch_log_group() -> None:
    def read(group: str, stream: str = "train/default/0f1e") -> Call:
        return call("reaper", "logs", "GetLogEvents", {"logGroupName": group, "logStreamName": stream})

    made = read("/aws/batch/job")
    (request,) = authorizations(made, Arns(ACCOUNT), lambda _: {})
    assert request.resource == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/batch/job:log-stream:train/default/0f1e"
    assert judge("reaper", made) == [True]
    assert judge("reaper", read("/aws/lambda/other")) == [False]
    assert judge("reaper", read("/aws/batch/job-other")) == [False]
    assert judge("collect", made) == [False]  # only the reaper recovers from logs
    (other,) = authorizations(read("/ml/train"), Arns(ACCOUNT), lambda _: {})
    own_group = Stack(parameters={**BACKENDS, "BatchLogGroupName": "/ml/train"}, account=ACCOUNT, region=REGION)
    policy = Policy(tuple(role_statements(own_group, "ReaperFunction")))
    assert (policy.allows(other), policy.allows(request)) == (True, False)  # the parameter names the group
    no_batch = Policy(tuple(role_statements(Stack(account=ACCOUNT, region=REGION), "ReaperFunction")))
    assert not no_batch.allows(request)


def test_a_call_without_an_iam_mapping_fails_loudly() -> None:
    with pytest.raises(Unmapped, match="sagemaker:DeleteModel"):
        authorizations(call("suggest", "sagemaker", "DeleteModel", {"ModelName": "m"}), Arns(ACCOUNT), lambda _: {})
    nested = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    with pytest.raises(Unmapped, match="ARN inside an ARN"):
        check_shape(Request("events:PutEvents", nested))


def test_names_given_as_arns_map_to_the_same_resources() -> None:
    """A spec may name its Batch queue and job definition by name or ARN (``BatchTrial``), and
    PutEvents takes a bus's name or ARN: IAM evaluates the same resource either way, so the
    verdict must not depend on the form (an ARN under ``job-queue/`` would be no ARN at all)."""
    created = {"jobArn": f"arn:aws:batch:{REGION}:{ACCOUNT}:job/0f1e"}
    tags = {**JOB_TAGS}
    by_name = {"jobName": "hs-j-1-t0001-1", "jobQueue": BATCH_QUEUE, "jobDefinition": f"{BATCH_DEFINITION}:3"}
    by_arn = {
        **by_name,
        "jobQueue": BACKENDS["BatchJobQueueArn"],
        "jobDefinition": f"{BACKENDS['BatchJobDefinitionArn']}:3",
    }
    requests = [
        authorizations(call("suggest", "batch", "SubmitJob", {**p, "tags": tags}, created), Arns(ACCOUNT), dict)
        for p in (by_name, by_arn)
    ]
    assert requests[0] == requests[1]
    assert judge("suggest", call("suggest", "batch", "SubmitJob", {**by_arn, "tags": tags}, created)) == [True] * 4
    bus_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    entry = {"Source": "hyperstep", "DetailType": "Tuning Job Completed", "Detail": "{}"}
    named, arned = (
        call("finish", "events", "PutEvents", {"Entries": [{**entry, "EventBusName": bus}]})
        for bus in ("default", bus_arn)
    )
    assert authorizations(named, Arns(ACCOUNT), dict) == authorizations(arned, Arns(ACCOUNT), dict)
    assert judge("finish", arned) == [True]
