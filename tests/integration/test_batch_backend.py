"""The Batch backend against AWS's service model (Stubber) and moto."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from hyperstep.backends.batch.adapter import BatchBackend, build_request, log_location
from hyperstep.backends.batch.events import BATCH_STOP_REASON
from hyperstep.backends.logs import final_metrics_in_log
from hyperstep.errors import LaunchError
from hyperstep.messages import LaunchRequest
from hyperstep.models import Job, Trial, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import EarlyStopping, parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
from tests.conftest import Clock
from tests.integration.aws_model import violations
from tests.report_keys import signed

BLOCK: dict[str, Any] = {
    "backend": "batch",
    "job_queue": "hyperstep-queue",
    "job_definition": "mnist-train",
    "command": ["python", "train.py"],
    "environment": {"LOG_LEVEL": "info"},
    "vcpus": 2,
    "memory_mib": 4096,
    "timeout_seconds": 1800,
    "retry_attempts": 2,
    "tags": {"team": "ml-research"},
    "propagate_tags": True,
    "metric_definitions": [{"name": "val_loss", "regex": "val_loss=([0-9.eE+-]+)"}],
}
PARAMS = {"lr": 0.0031, "batch_size": 64, "optimizer": "adam"}
TRIAL = Trial(job_id="mnist-3f2a9c1b7d4e", id="t0007", number=7, params=PARAMS)
NAME = "hs-mnist-3f2a9c1b7d4e-t0007-1"
TIMED_OUT = "Job attempt duration exceeded timeout"
JOB_ID = "4c7599ae-0a82-49aa-ba5a-4727fcce14a8"


def make_job(**block: Any) -> Job:
    spec = parse_spec(
        {
            "name": "mnist",
            "objective": {"metric": "val_loss"},
            "parameters": [{"name": "lr", "type": "float", "low": 0.0001, "high": 0.1}],
            "budget": {"max_trials": 10},
            "trial": {**BLOCK, **block},
        }
    )
    return Job(id="mnist-3f2a9c1b7d4e", spec=spec)


@pytest.fixture
def stubbed(aws_credentials: None) -> Iterator[tuple[BatchBackend, Stubber]]:
    client = boto3.client("batch", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield BatchBackend(client, event_bus="hyperstep-bus"), stubber
        stubber.assert_no_pending_responses()


def no_existing_job(stubber: Stubber) -> None:
    stubber.add_response(
        "list_jobs",
        {"jobSummaryList": []},
        {"jobQueue": "hyperstep-queue", "filters": [{"name": "JOB_NAME", "values": [NAME]}]},
    )


# --- the request ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block",
    [
        {},
        {"vcpus": 0.25, "memory_mib": 512, "gpus": 1, "tags": {}},
        {"share_identifier": "mlresearch", "scheduling_priority": 9999},
    ],
)
def test_request_satisfies_the_service_model(block: dict[str, Any]) -> None:
    request = build_request(make_job(**block), TRIAL, NAME, "hyperstep-bus")
    assert violations("batch", "SubmitJob", request) == []


def test_a_fair_share_queue_gets_the_share_identifier_and_priority() -> None:
    """A queue with a fair-share scheduling policy refuses a SubmitJob without ``shareIdentifier``
    (AWS's SubmitJob reference); any other queue refuses one with it, so it is sent only when set."""
    request = build_request(make_job(share_identifier="mlresearch", scheduling_priority=7), TRIAL, NAME)
    assert request["shareIdentifier"] == "mlresearch" and request["schedulingPriorityOverride"] == 7
    plain = build_request(make_job(), TRIAL, NAME)
    assert "shareIdentifier" not in plain and "schedulingPriorityOverride" not in plain


def test_request_appends_script_mode_arguments_and_identity() -> None:
    request = build_request(make_job(), TRIAL, NAME, "hyperstep-bus")
    overrides = request["containerOverrides"]
    assert overrides["command"] == ["python", "train.py", "--lr", "0.0031", "--batch_size", "64", "--optimizer", "adam"]
    env = {kv["name"]: kv["value"] for kv in overrides["environment"]}
    assert env["HYPERSTEP_JOB_ID"] == "mnist-3f2a9c1b7d4e" and env["HYPERSTEP_TRIAL_ID"] == "t0007"
    assert env["HYPERSTEP_HYPERPARAMETERS"] == '{"batch_size": 64, "lr": 0.0031, "optimizer": "adam"}'
    assert env["HYPERSTEP_EVENT_BUS"] == "hyperstep-bus" and env["LOG_LEVEL"] == "info"
    assert overrides["resourceRequirements"] == [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "4096"}]
    assert request["timeout"] == {"attemptDurationSeconds": 1800}
    assert request["retryStrategy"] == {"attempts": 2}
    own = {"hyperstep:job-id": "mnist-3f2a9c1b7d4e", "hyperstep:trial-id": "t0007"}
    assert request["tags"] == {"team": "ml-research", **own}
    assert request["propagateTags"] is True


# --- launch / stop / describe through a stubbed client --------------------------------


def test_launch_sends_exactly_the_request(stubbed: tuple[BatchBackend, Stubber]) -> None:
    backend, stubber = stubbed
    job = make_job()
    no_existing_job(stubber)
    arn = f"arn:aws:batch:us-east-1:123456789012:job/{JOB_ID}"
    stubber.add_response(
        "submit_job",
        {"jobArn": arn, "jobName": NAME, "jobId": JOB_ID},
        build_request(job, TRIAL, NAME, "hyperstep-bus"),
    )
    assert backend.launch(job, TRIAL) == JOB_ID


def test_relaunch_returns_the_job_already_submitted(stubbed: tuple[BatchBackend, Stubber]) -> None:
    backend, stubber = stubbed
    summaries = [
        {"jobId": "a-different-case", "jobName": NAME.upper()},  # JOB_NAME matches case-insensitively
        {"jobId": JOB_ID, "jobName": NAME, "status": "RUNNING"},
    ]
    stubber.add_response("list_jobs", {"jobSummaryList": summaries})
    assert backend.launch(make_job(), TRIAL) == JOB_ID  # and no submit_job call


def test_rejected_submission_is_a_launch_error(stubbed: tuple[BatchBackend, Stubber]) -> None:
    backend, stubber = stubbed
    no_existing_job(stubber)
    stubber.add_client_error("submit_job", "ClientException", "Job definition mnist-train does not exist", 400)
    with pytest.raises(LaunchError, match="does not exist"):
        backend.launch(make_job(), TRIAL)


def test_server_errors_propagate_for_a_retry(stubbed: tuple[BatchBackend, Stubber]) -> None:
    backend, stubber = stubbed
    no_existing_job(stubber)
    stubber.add_client_error("submit_job", "ServerException", "internal error", 500)
    with pytest.raises(Exception, match="ServerException"):
        backend.launch(make_job(), TRIAL)


def test_a_throttled_submission_propagates_for_a_retry(stubbed: tuple[BatchBackend, Stubber]) -> None:
    """Batch throttles with TooManyRequestsException (HTTP 429), not ClientException, so a
    throttle botocore's retries did not outlast fails the round (retried; the trial stays
    pending) and is never taken for a rejected request that fails the trial."""
    backend, stubber = stubbed
    no_existing_job(stubber)
    stubber.add_client_error("submit_job", "TooManyRequestsException", "Too Many Requests", 429)
    with pytest.raises(Exception, match="TooManyRequestsException"):
        backend.launch(make_job(), TRIAL)


def test_stop_terminates_with_hyperstep_reason(stubbed: tuple[BatchBackend, Stubber]) -> None:
    backend, stubber = stubbed
    stubber.add_response("terminate_job", {}, {"jobId": JOB_ID, "reason": BATCH_STOP_REASON})
    backend.stop(make_job(), TRIAL.model_copy(update={"backend_ref": JOB_ID}))


def job_detail(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "jobName": NAME,
        "jobId": JOB_ID,
        "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/hyperstep-queue",
        "status": status,
        "startedAt": 1764198060411,
        "jobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/mnist-train:3",
        **extra,
    }


@pytest.mark.parametrize(
    ("detail", "state", "error"),
    [
        (job_detail("SUCCEEDED", statusReason="Essential container in task exited"), "completed", None),
        (job_detail("FAILED", statusReason=BATCH_STOP_REASON), "stopped", BATCH_STOP_REASON),
        (
            job_detail("FAILED", statusReason="Essential container in task exited", container={"exitCode": 137}),
            "failed",
            "Essential container in task exited; exit code 137",
        ),
        (job_detail("FAILED", statusReason=TIMED_OUT), "failed", TIMED_OUT),
        (job_detail("RUNNABLE"), None, None),
        (job_detail("RUNNING"), None, None),
    ],
)  # fmt: skip
def test_describe_maps_status(
    stubbed: tuple[BatchBackend, Stubber], detail: dict[str, Any], state: str | None, error: str | None
) -> None:
    backend, stubber = stubbed
    stubber.add_response("describe_jobs", {"jobs": [detail]}, {"jobs": [JOB_ID]})
    result = backend.describe(make_job(), TRIAL.model_copy(update={"backend_ref": JOB_ID}))
    if state is None:
        assert result is None
    else:
        assert result is not None and (result.state, result.metrics, result.error) == (state, {}, error)


def test_describe_of_a_trial_never_submitted_is_none(stubbed: tuple[BatchBackend, Stubber]) -> None:
    """Without the job id Launch stores, nothing is asked of Batch: only Launch's role may
    look a job up by name (``ListJobs``); the stubber fails on any call."""
    backend, _ = stubbed
    assert backend.describe(make_job(), TRIAL) is None


# --- moto -------------------------------------------------------------------------------


def batch_environment() -> None:
    """A queue and a job definition on an unmanaged compute environment in a moto VPC."""
    ec2, iam, batch = (boto3.client(s, region_name="us-east-1") for s in ("ec2", "iam", "batch"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")
    ec2.create_security_group(GroupName="hyperstep", Description="hyperstep trials", VpcId=vpc)
    role = iam.create_role(RoleName="hyperstep-batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    env = batch.create_compute_environment(
        computeEnvironmentName="hyperstep-ce", type="UNMANAGED", state="ENABLED", serviceRole=role
    )
    batch.create_job_queue(
        jobQueueName="hyperstep-queue",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}],
    )
    batch.register_job_definition(
        jobDefinitionName="mnist-train",
        type="container",
        containerProperties={
            "image": "busybox:latest",
            "command": ["true"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
        },
    )


def test_launch_describe_and_relaunch_under_moto(aws_credentials: None) -> None:
    with mock_aws(config={"batch": {"use_docker": False}}):
        batch_environment()
        client = boto3.client("batch", region_name="us-east-1")
        backend = BatchBackend(client, event_bus="hyperstep-bus")
        job = make_job()
        job_id = backend.launch(job, TRIAL)
        assert backend.launch(job, TRIAL) == job_id  # found by name, not submitted twice
        listed = client.list_jobs(jobQueue="hyperstep-queue", filters=[{"name": "JOB_NAME", "values": [NAME]}])
        assert [j["jobId"] for j in listed["jobSummaryList"]] == [job_id]
        detail = client.describe_jobs(jobs=[job_id])["jobs"][0]
        assert detail["jobName"] == NAME
        assert detail["container"]["command"][-2:] == ["--optimizer", "adam"]
        tags = client.list_tags_for_resource(resourceArn=detail["jobArn"])["tags"]
        assert tags["hyperstep:trial-id"] == "t0007"
        # moto runs the job synchronously to SUCCEEDED; metrics come only from reported events
        result = backend.describe(job, TRIAL.model_copy(update={"backend_ref": job_id}))
        assert result is not None and (result.state, result.metrics) == ("completed", {})
        # a trial whose reference was never recorded is still pending: Launch (which may list
        # jobs) finds its job by name when Suggest plans it again; nobody else looks it up
        assert backend.describe(job, TRIAL) is None


# --- the final metrics in a job's log (the reaper's last resort) ---------------------------


class PagedLog:
    """``GetLogEvents`` read backwards over ``pages`` (oldest first), with an empty page in
    between as CloudWatch Logs may return, and the unchanged token at the stream's start."""

    def __init__(self, pages: list[list[str]]) -> None:
        self.pages = pages
        self.calls: list[dict[str, Any]] = []

    def get_log_events(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        index = int(request.get("nextToken", f"b/{len(self.pages)}")[2:]) - 1
        if index < 0:
            return {"events": [], "nextBackwardToken": "b/0", "nextForwardToken": "f/0"}
        events = [{"timestamp": 1764198060411 + i, "message": line} for i, line in enumerate(self.pages[index])]
        return {"events": events, "nextBackwardToken": f"b/{index}", "nextForwardToken": f"f/{index}"}


DEFINITIONS = make_job(
    metric_definitions=[
        {"name": "val_loss", "regex": "val_loss=([0-9.eE+-]+)"},
        {"name": "val_acc", "regex": "val_acc=([0-9.]+)"},
    ]
).spec.trial.metric_definitions  # type: ignore[union-attr]


def test_the_log_is_read_from_its_end_until_every_metric_has_matched() -> None:
    log = PagedLog([["val_acc=0.5", "val_loss=0.9"], ["val_loss=0.7", "epoch 2"], [], ["val_loss=0.42", "done"]])
    assert final_metrics_in_log(log, "/aws/batch/job", "s", DEFINITIONS) == {"val_loss": 0.42, "val_acc": 0.5}
    assert [c.get("nextToken") for c in log.calls] == [None, "b/3", "b/2", "b/1"]  # the empty page did not stop it
    assert all(c["startFromHead"] is False and c["logGroupName"] == "/aws/batch/job" for c in log.calls)


def test_reading_stops_at_the_start_of_the_stream_and_after_the_page_limit() -> None:
    log = PagedLog([["val_loss=0.9"], ["nothing here"]])
    assert final_metrics_in_log(log, "g", "s", DEFINITIONS) == {"val_loss": 0.9}
    assert [c.get("nextToken") for c in log.calls] == [None, "b/1", "b/0"]  # b/0 came back unchanged: the start
    endless = PagedLog([["no metrics"]] * 50)
    assert final_metrics_in_log(endless, "g", "s", DEFINITIONS, max_pages=5) == {}
    assert len(endless.calls) == 5


def awslogs(group: str) -> dict[str, Any]:
    return {"logDriver": "awslogs", "options": {"awslogs-group": group, "awslogs-region": "us-east-1"}}


@pytest.mark.parametrize(
    ("detail", "location"),
    [
        ({"container": {"logStreamName": "train/default/abc"}}, ("/aws/batch/job", "train/default/abc")),
        ({"container": {}, "attempts": [{"container": {"logStreamName": a}} for a in "xy"]}, ("/aws/batch/job", "y")),
        ({"container": {"logStreamName": "s", "logConfiguration": awslogs("/ml/train")}}, ("/ml/train", "s")),
        ({"container": {"logStreamName": "s", "logConfiguration": {"logDriver": "splunk", "options": {}}}}, None),
        ({"container": {"command": ["true"]}}, None),
    ],
    ids=["default-group", "last-attempt", "own-group", "other-driver", "never-ran"],
)  # fmt: skip
def test_log_location_follows_the_job_detail(detail: dict[str, Any], location: tuple[str, str] | None) -> None:
    assert log_location(detail) == location


def test_without_a_logs_client_nothing_is_read(stubbed: tuple[BatchBackend, Stubber]) -> None:
    backend, _ = stubbed  # no describe_jobs call is stubbed: none may be made
    assert backend.recover_metrics(make_job(), TRIAL.model_copy(update={"backend_ref": JOB_ID})) == {}


def put_log(logs: Any, group: str, stream: str, lines: list[str]) -> None:
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    start = int(time.time() * 1000)  # CloudWatch Logs refuses events older than 14 days
    events = [{"timestamp": start + i, "message": line} for i, line in enumerate(lines)]
    assert "rejectedLogEventsInfo" not in logs.put_log_events(
        logGroupName=group, logStreamName=stream, logEvents=events
    )


def ran_with_log(job_id: str, stream: str) -> None:
    """What AWS shows of a job that ran: its container's log stream (moto without Docker
    runs nothing and leaves ``logStreamName`` unset)."""
    from moto.batch.models import batch_backends

    batch_backends["123456789012"]["us-east-1"].get_job_by_id(job_id).log_stream_name = stream


def test_recover_metrics_reads_the_job_log_under_moto(aws_credentials: None) -> None:
    with mock_aws(config={"batch": {"use_docker": False}}):
        batch_environment()
        logs = boto3.client("logs", region_name="us-east-1")
        backend = BatchBackend(boto3.client("batch", region_name="us-east-1"), "hyperstep-bus", logs=logs)
        job = make_job()
        job_id = backend.launch(job, TRIAL)
        trial = TRIAL.model_copy(update={"backend_ref": job_id})
        assert backend.recover_metrics(job, trial) == {}  # no log stream yet
        stream = f"mnist-train/default/{job_id}"
        ran_with_log(job_id, stream)
        assert backend.recover_metrics(job, trial) == {}  # the stream's group does not exist
        put_log(logs, "/aws/batch/job", stream, ["epoch 1", "val_loss=0.9", "val_loss=0.7", "val_loss=0.42", "bye"])
        assert backend.recover_metrics(job, trial) == {"val_loss": 0.42}


def ended_awaiting_its_final_report(
    log: list[str], step_value: float | None = None, **block: Any
) -> tuple[TuningService, Clock, Trial]:
    """Under moto: a Batch trial launched, its job SUCCEEDED with ``log`` in its stream and
    no final report (a step-2 report of ``step_value`` before its end, if given); ``block``
    changes the spec's trial block."""
    from hyperstep.events import parse_event
    from tests.unit.test_order_free_results import end_event

    batch_environment()
    logs = boto3.client("logs", region_name="us-east-1")
    backend = BatchBackend(boto3.client("batch", region_name="us-east-1"), "hyperstep-bus", logs=logs)
    clock = Clock()
    service = TuningService(SQLiteStore(clock=clock), {"batch": backend})
    job = service.create_job(make_job(**block).spec, job_id="mnist-3f2a9c1b7d4e")
    (trial,) = Study.from_job(service.store, job).ask(1)
    service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    batch_id = service.store.get_trial(job.id, trial.id).backend_ref
    assert batch_id is not None
    if step_value is not None:
        service.report_metrics(job.id, trial.id, {"val_loss": step_value}, step=2)
    parsed = parse_event(end_event("batch", job.id, trial.id))
    assert parsed is not None and not service.record(parsed)  # awaiting its final report
    stream = f"mnist-train/default/{batch_id}"
    ran_with_log(batch_id, stream)
    put_log(logs, "/aws/batch/job", stream, log)
    return service, clock, trial


def test_the_reaper_recovers_a_batch_trial_s_final_value_from_its_log_under_moto(aws_credentials: None) -> None:
    """SUCCEEDED came, the final report never did: after the grace the reaper reads the
    job's log (the lines ``hyperstep.report`` printed) and completes the trial."""
    with mock_aws(config={"batch": {"use_docker": False}}):
        service, clock, trial = ended_awaiting_its_final_report(["val_loss=0.9", "val_loss=0.7", "val_loss=0.42"], 0.7)
        assert service.reap(grace_seconds=300)["recorded"] == 0  # within the grace: it waits
        clock.now += 301
        assert service.reap(grace_seconds=300)["recorded"] == 1
        done = service.store.get_trial(trial.job_id, trial.id)
        assert (done.state, done.value) == (TrialState.COMPLETED, 0.42)


def test_the_aws_wiring_gives_the_batch_backend_a_logs_client(aws_credentials: None) -> None:
    from hyperstep.wiring import build_aws_service

    service = build_aws_service({"HYPERSTEP_TABLE": "hyperstep"})
    batch = service.backends["batch"]
    assert isinstance(batch, BatchBackend) and batch.logs.meta.service_model.service_name == "logs"


def running(batch_job_id: str | None) -> None:
    """Put a moto Batch job back to RUNNING (moto runs every job to SUCCEEDED at once)."""
    from moto.batch.models import batch_backends

    found = batch_backends["123456789012"]["us-east-1"].get_job_by_id(batch_job_id or "")
    assert found is not None
    found.status = "RUNNING"


def test_a_losing_step_report_makes_collect_terminate_the_batch_job_under_moto(aws_credentials: None) -> None:
    """With early_stopping, collect judges each step report: the trial behind at rung 1 is
    terminated (TerminateJob) and recorded pruned, keeping its curve and its budget."""
    from hyperstep.events import parse_event
    from hyperstep.messages import LaunchRequest
    from hyperstep.models import TrialState
    from hyperstep.service import TuningService
    from hyperstep.spec import EarlyStopping
    from hyperstep.stores.sqlite import SQLiteStore
    from hyperstep.study import Study

    with mock_aws(config={"batch": {"use_docker": False}}):
        batch_environment()
        client = boto3.client("batch", region_name="us-east-1")
        terminated: list[dict[str, Any]] = []
        record = "provide-client-params.batch.TerminateJob"
        client.meta.events.register(record, lambda params, **_: terminated.append(params))
        service = TuningService(SQLiteStore(), {"batch": BatchBackend(client, "hyperstep-bus")})
        asha = EarlyStopping(name="asha", min_resource=1, max_resource=9, reduction_factor=3)
        job = service.create_job(make_job().spec.model_copy(update={"early_stopping": asha}), job_id="mnist-early")
        good, bad = Study.from_job(service.store, job).ask(2)
        for trial in (good, bad):
            service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
            running(service.store.get_trial(job.id, trial.id).backend_ref)  # reporting steps: running
        metric = {"source": "hyperstep.trial", "detail-type": "Trial Metric Reported"}
        envelope = {"version": "0", "id": "e", "account": "1", "time": "2024-01-01T00:00:00Z", "region": "us-east-1"}
        for trial, loss in ((good, 0.5), (bad, 0.9)):
            detail = {"job_id": job.id, "trial_id": trial.id, "metrics": {"val_loss": loss}, "step": 1}
            event = parse_event(signed(service.store, {**envelope, **metric, "detail": detail}))
            assert event is not None and service.record(event)
        ref = service.store.get_trial(job.id, bad.id).backend_ref
        assert [t["jobId"] for t in terminated] == [ref]
        stopped = service.store.get_trial(job.id, bad.id)
        assert (stopped.state, stopped.value, stopped.curve) == (TrialState.PRUNED, 0.9, {1: 0.9})
        assert service.store.get_trial(job.id, good.id).state is TrialState.RUNNING
        counted = service.store.get_job(job.id)
        assert (counted.budget_used, counted.pruned) == (2, 1)


def terminations(client: Any) -> list[str]:
    """The ids of the jobs ``client`` will send ``TerminateJob`` for, as it sends them."""
    terminated: list[str] = []
    client.meta.events.register(
        "provide-client-params.batch.TerminateJob", lambda params, **_: terminated.append(params["jobId"])
    )
    return terminated


def asha_on_batch(store_kind: str) -> tuple[Any, list[str], TuningService, Any, Job, list[Trial]]:
    """Under moto (inside ``mock_aws``): a Batch client (its ``TerminateJob`` ids listed as
    sent), a service on the store of that kind, its ``Counted`` meter, a job with ASHA
    (``max_resource`` 9) and its two trials launched and running."""
    from tests.integration.moto_stores import store_under_moto
    from tests.unit.test_order_free_results import Counted

    batch_environment()
    client = boto3.client("batch", region_name="us-east-1")
    terminated = terminations(client)
    service, meter = (
        TuningService(store_under_moto(store_kind), {"batch": BatchBackend(client, "hyperstep-bus")}),
        Counted(),
    )
    asha = EarlyStopping(name="asha", min_resource=1, max_resource=9, reduction_factor=3, curve_model=False)
    job = service.create_job(make_job().spec.model_copy(update={"early_stopping": asha}), job_id="mnist-early")
    trials = Study.from_job(service.store, job).ask(2)
    for trial in trials:
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
        running(service.store.get_trial(job.id, trial.id).backend_ref)
    return client, terminated, service, meter, job, trials


def test_a_stop_decision_after_the_batch_job_succeeded_keeps_it_pruned_under_moto(aws_credentials: None) -> None:
    """A step report that lags behind its job (EventBridge orders nothing) makes the
    scheduler stop a trial whose Batch job has already succeeded. Batch accepts
    ``TerminateJob`` of a finished job and leaves it SUCCEEDED (as moto does); the decision
    stands: the trial is pruned at step 1 of ``max_resource`` 9. Its final report (0.3),
    which arrives after the stop, and its SUCCEEDED event, twice, leave it pruned (issue 9:
    only a trial that reaches ``max_resource`` is complete); a step report after them
    joins its curve. (Before: left running, then completed with 0.3, the job's best.)"""
    from hyperstep.events import parse_event
    from hyperstep.models import TrialState
    from hyperstep.service import TuningService
    from hyperstep.spec import EarlyStopping
    from hyperstep.stores.sqlite import SQLiteStore
    from hyperstep.study import Study

    with mock_aws(config={"batch": {"use_docker": False}}):
        batch_environment()
        client = boto3.client("batch", region_name="us-east-1")
        terminated = terminations(client)
        service = TuningService(SQLiteStore(), {"batch": BatchBackend(client, "hyperstep-bus")})
        asha = EarlyStopping(name="asha", min_resource=1, max_resource=9, reduction_factor=3, curve_model=False)
        job = service.create_job(make_job().spec.model_copy(update={"early_stopping": asha}), job_id="mnist-early")
        good, done = Study.from_job(service.store, job).ask(2)
        for trial in (good, done):
            service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
        running(service.store.get_trial(job.id, good.id).backend_ref)
        ref = service.store.get_trial(job.id, done.id).backend_ref  # moto: SUCCEEDED already
        envelope = {"version": "0", "id": "e", "account": "1", "time": "2024-01-01T00:00:00Z", "region": "us-east-1"}

        def deliver(source: str, detail_type: str, detail: dict[str, Any]) -> bool:
            event = parse_event(
                signed(service.store, {**envelope, "source": source, "detail-type": detail_type, "detail": detail})
            )
            assert event is not None
            return service.record(event)

        def report(trial_id: str, loss: float, step: int | None = None) -> bool:
            detail = {"job_id": job.id, "trial_id": trial_id, "metrics": {"val_loss": loss}}
            return deliver(
                "hyperstep.trial", "Trial Metric Reported", detail | ({} if step is None else {"step": step})
            )

        assert report(good.id, 0.5, step=1) and report(done.id, 0.9, step=1)  # behind at rung 1: stop
        assert terminated == [ref]
        assert service.store.get_trial(job.id, done.id).state is TrialState.PRUNED
        assert report(done.id, 0.3)  # its final report, published before the job ended
        detail = client.describe_jobs(jobs=[ref])["jobs"][0]
        for _ in range(2):
            assert deliver("aws.batch", "Batch Job State Change", detail) is False
        assert report(done.id, 0.4, step=2)
        ended = service.store.get_trial(job.id, done.id)
        assert (ended.state, ended.value, ended.curve) == (TrialState.PRUNED, 0.9, {1: 0.9, 2: 0.4})
        counted = service.store.get_job(job.id)
        assert (counted.budget_used, counted.completed, counted.pruned, counted.best_value) == (2, 0, 1, None)


@pytest.mark.parametrize("store_kind", ["sqlite", "dynamodb"])
def test_a_batch_job_that_succeeds_after_an_accepted_terminate_keeps_its_trial_pruned_under_moto(
    aws_credentials: None, store_kind: str
) -> None:
    """ASHA stops a running trial (``TerminateJob`` accepted, the trial recorded pruned,
    counted ``TrialsPruned``) in its last seconds: the job ends SUCCEEDED all the same.
    Batch's SUCCEEDED event (AWS's sample, this job's names) carries no metrics, so,
    delivered twice, it leaves the trial pruned, counting nothing. Nor does the script's
    final report, published before the job ended: the trial stopped at step 1 of
    ``max_resource`` 9 stays pruned (issue 9: only a trial that reaches it is complete);
    the SUCCEEDED event once more changes nothing. (Before: the final report completed it,
    the job's best.)"""
    from moto.batch.models import batch_backends

    from hyperstep.handlers import Telemetry, handle_collect
    from hyperstep.models import TrialState
    from tests.unit.test_order_free_results import sample

    with mock_aws(config={"batch": {"use_docker": False}}):
        client, terminated, service, meter, job, (good, late) = asha_on_batch(store_kind)

        def collect(event: dict[str, Any]) -> bool:
            return handle_collect(service, event, Telemetry(metrics=meter))["recorded"]

        def reported(trial_id: str, loss: float, step: int | None = None) -> bool:
            """The event ``hyperstep.report`` publishes (final without a step)."""
            event = sample("trial-metric-reported")
            event["detail"] = {"job_id": job.id, "trial_id": trial_id, "metrics": {"val_loss": loss}}
            event["detail"].update({"final": True} if step is None else {"step": step, "final": False})
            return collect(signed(service.store, event))

        assert reported(good.id, 0.5, step=1)
        assert reported(late.id, 0.9, step=1)  # behind at rung 1: terminated
        ref = service.store.get_trial(job.id, late.id).backend_ref
        assert terminated == [ref] and meter.counts == {"TrialsPruned": 1}
        pruned = service.store.get_trial(job.id, late.id)
        assert (pruned.state, pruned.value) == (TrialState.PRUNED, 0.9)
        found = batch_backends["123456789012"]["us-east-1"].get_job_by_id(ref or "")
        assert found is not None
        found.status = "SUCCEEDED"  # it was in its last seconds

        end = sample("batch-job-state-change-succeeded")
        arn = client.describe_jobs(jobs=[ref])["jobs"][0]["jobArn"]
        tags = {"resourceArn": arn, "hyperstep:job-id": job.id, "hyperstep:trial-id": late.id}
        end["detail"].update(jobName=f"hs-{job.id}-{late.id}-1", jobId=ref, jobArn=arn, tags=tags)
        end["resources"] = [arn]
        assert [collect(end), collect(end)] == [False, False]
        assert service.store.get_trial(job.id, late.id).state is TrialState.PRUNED
        assert service.store.get_job(job.id).pruned == 1 and meter.counts == {"TrialsPruned": 1}

        assert reported(late.id, 0.3)  # its final report, sent before the end
        assert not collect(end)
        ended = service.store.get_trial(job.id, late.id)
        assert (ended.state, ended.value, ended.curve) == (TrialState.PRUNED, 0.9, {1: 0.9})
        counted = service.store.get_job(job.id)
        assert (counted.budget_used, counted.completed, counted.pruned, counted.best_value) == (2, 0, 1, None)
        assert meter.sums() == {"TrialsPruned": 1}


@pytest.mark.parametrize("store_kind", ["sqlite", "dynamodb"])
@pytest.mark.parametrize("own", [True, False], ids=["its-own-failure", "our-terminate"])
def test_a_batch_job_that_fails_on_its_own_after_a_prune_ends_its_trial_failed_under_moto(
    aws_credentials: None, store_kind: str, own: bool
) -> None:
    """ASHA stops a running trial (``TerminateJob`` accepted, recorded pruned), but its job
    had failed on its own before the terminate landed: Batch's FAILED event carries the
    job's own ``statusReason`` ("Essential container in task exited", exit code 1, AWS's
    sample), so the trial ends failed with that reason, counted once (``TrialsFailed`` 1,
    ``TrialsPruned`` -1). ``TerminateJob`` also ends a RUNNING job FAILED, with the
    ``reason`` we pass as its ``statusReason`` (Batch API reference, TerminateJob: "Jobs
    that are in the STARTING or RUNNING state are terminated, which causes them to
    transition to FAILED"; reason: "returned by future DescribeJobs operations"): that
    FAILED is our stop's, and the trial stays pruned. Either way it takes the end's billed
    time (startedAt to stoppedAt) over the stop's, the job's cost with it. (Before: pruned
    either way, the job's own error lost, the stop's charge kept.)"""
    from hyperstep.handlers import Telemetry, handle_collect
    from tests.unit.test_order_free_results import sample

    with mock_aws(config={"batch": {"use_docker": False}}):
        client, terminated, service, meter, job, (good, bad) = asha_on_batch(store_kind)

        def collect(event: dict[str, Any]) -> bool:
            return handle_collect(service, event, Telemetry(metrics=meter))["recorded"]

        for trial, loss in ((good, 0.5), (bad, 0.9)):
            event = sample("trial-metric-reported")
            event["detail"] = {"job_id": job.id, "trial_id": trial.id, "metrics": {"val_loss": loss}, "step": 1}
            assert collect(signed(service.store, event))
        ref = service.store.get_trial(job.id, bad.id).backend_ref
        assert terminated == [ref] and service.store.get_trial(job.id, bad.id).state is TrialState.PRUNED

        end = sample("batch-job-state-change-failed" if own else "batch-job-state-change-stopped")
        arn = client.describe_jobs(jobs=[ref])["jobs"][0]["jobArn"]
        tags = {"resourceArn": arn, "hyperstep:job-id": job.id, "hyperstep:trial-id": bad.id}
        end["detail"].update(jobName=f"hs-{job.id}-{bad.id}-1", jobId=ref, jobArn=arn, tags=tags)
        end["resources"] = [arn]
        assert [collect(end), collect(end)] == [own, False]
        ended, counted = service.store.get_trial(job.id, bad.id), service.store.get_job(job.id)
        ran = (end["detail"]["stoppedAt"] - end["detail"]["startedAt"]) / 1000  # the billed end, not the stop's
        assert ended.billable_seconds == pytest.approx(ran) and counted.cost_usd == pytest.approx(ended.cost_usd or 0)
        if own:
            assert (ended.state, ended.value, ended.curve) == (TrialState.FAILED, None, {1: 0.9})
            assert ended.error == "Essential container in task exited; exit code 1"
            assert (counted.budget_used, counted.pruned, counted.failed) == (2, 0, 1)
            assert meter.sums() == {"TrialsFailed": 1}
        else:
            assert (ended.state, ended.value, ended.error) == (
                TrialState.PRUNED,
                0.9,
                "stopped early by asha at step 1",
            )
            assert (counted.budget_used, counted.pruned, counted.failed) == (2, 1, 0)
            assert meter.sums() == {"TrialsPruned": 1}


# --- how long a job may run: attemptDurationSeconds counts from the attempt's startedAt --


class DescribingClient:
    """DescribeJobs answering one detail, TerminateJob recorded. Not a Stubber: botocore's
    model marks ``JobDetail.startedAt`` required, yet a job that never ran has none (AWS's
    documented RUNNABLE job state change, whose detail 'resembles the JobDetail', has
    ``attempts: []`` and no ``startedAt``)."""

    def __init__(self, detail: dict[str, Any]) -> None:
        self.detail = detail
        self.terminated: list[dict[str, str]] = []

    def describe_jobs(self, jobs: list[str]) -> dict[str, Any]:
        assert jobs == [JOB_ID]
        return {"jobs": [self.detail]}

    def terminate_job(self, **request: str) -> dict[str, Any]:
        self.terminated.append(request)
        return {}


def reaped_after(seconds: float, detail: dict[str, Any]) -> tuple[Trial, list[dict[str, str]]]:
    """A launched trial, ``seconds`` later, reaped while DescribeJobs answers ``detail``:
    the trial then, and the TerminateJob requests made."""
    client = DescribingClient(detail)
    clock = Clock(1_800_000_000.0)
    service = TuningService(SQLiteStore(clock=clock), {"batch": BatchBackend(client)})
    job = service.create_job(make_job(timeout_seconds=600).spec, job_id="mnist-3f2a9c1b7d4e")
    (trial,) = Study.from_job(service.store, job).ask(1)
    service.store.start_trial(job.id, trial.id, JOB_ID)
    clock.now += seconds
    service.reap(grace_seconds=300)
    return service.store.get_trial(job.id, trial.id), client.terminated


def job_detail(status: str, started_at: float | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "jobName": NAME,
        "jobId": JOB_ID,
        "jobQueue": "hyperstep-queue",
        "status": status,
        "attempts": [],
        "createdAt": 1_800_000_000_000,
        "jobDefinition": "mnist-train",
    }
    if started_at is not None:
        detail["startedAt"] = int(started_at * 1000)
    return detail


def test_a_job_waiting_in_its_queue_is_not_timed_out() -> None:
    """Two hours RUNNABLE behind other work, with a 600 s attempt timeout: Batch's timeout has
    not begun (it counts from the attempt's startedAt), so the reaper neither fails nor
    terminates it. Before, it was failed 'timed out' and terminated at 600 s x 2 + the grace."""
    trial, terminated = reaped_after(7200, job_detail("RUNNABLE"))
    assert trial.state is TrialState.RUNNING and terminated == []


def test_a_job_is_timed_out_past_its_attempts_from_when_it_started() -> None:
    started = 1_800_000_000.0 + 7200 - 700  # queued for almost two hours, then ran 700 s
    trial, terminated = reaped_after(7200, job_detail("RUNNING", started))
    assert trial.state is TrialState.RUNNING and terminated == []
    late = 1_800_000_000.0 + 7200 - 1600  # 1,600 s of running: past 600 s x 2 attempts + 300 s
    trial, terminated = reaped_after(7200, job_detail("RUNNING", late))
    assert (trial.state, trial.error) == (TrialState.FAILED, "timed out")
    assert terminated == [{"jobId": JOB_ID, "reason": BATCH_STOP_REASON}]


def test_a_retried_job_counts_from_its_latest_attempts_start() -> None:
    """A first attempt ran from the launch and failed; Batch queued the retry, which started
    700 s ago: the limit counts from that attempt's start, not the first one's (2,000 s ago,
    past 600 s x 2 attempts + 300 s), so the trial is neither failed nor terminated."""
    launch = 1_800_000_000.0
    detail = job_detail("RUNNING", launch + 1300)
    detail["attempts"] = [{"startedAt": int(launch * 1000), "stoppedAt": int((launch + 600) * 1000)}]
    trial, terminated = reaped_after(2000, detail)
    assert trial.state is TrialState.RUNNING and terminated == []


def test_a_final_value_printed_not_finite_is_read_as_such_after_a_number_too() -> None:
    """As a local trial's log is read (``logs.read_metrics``): ``val_loss=nan`` where the regex
    reads numbers only gives NaN, whether or not a line before it gave a number."""
    diverged = PagedLog([["val_acc=0.5", "val_loss=inf"], ["val_loss=nan", "done"]])
    found = final_metrics_in_log(diverged, "g", "s", DEFINITIONS)
    assert found.keys() == {"val_loss", "val_acc"} and math.isnan(found["val_loss"])
    earlier = PagedLog([["val_loss=0.9"], ["val_acc=0.5", "val_loss=nan"]])
    found = final_metrics_in_log(earlier, "g", "s", DEFINITIONS)
    assert found.keys() == {"val_loss", "val_acc"} and math.isnan(found["val_loss"])


UNREAD = [  # a regex, what the script printed, why a local trial of that log fails
    (
        "val_loss=([0-9.eE+-]+)",
        "0,49",
        "objective metric 'val_loss': its regex matched '0,49', which is not a number"
        " (a decimal comma: print the value with a point)",
    ),
    (r"val_loss=(\S+)", "abc", "objective metric 'val_loss': its regex matched 'abc', which is not a number"),
]
"""Shared with the SageMaker backend's test."""


@pytest.mark.parametrize(("regex", "printed", "error"), UNREAD)
def test_the_reaper_fails_a_batch_trial_whose_log_printed_no_number_as_a_local_trial_under_moto(
    aws_credentials: None, regex: str, printed: str, error: str
) -> None:
    """It failed with "objective metric 'val_loss' was not reported", as if nothing was printed."""
    definitions = [{"name": "val_loss", "regex": regex}]
    with mock_aws(config={"batch": {"use_docker": False}}):
        log = ["epoch 1", f"val_loss={printed}", "bye"]
        service, clock, trial = ended_awaiting_its_final_report(log, metric_definitions=definitions)
        clock.now += 301
        assert service.reap(grace_seconds=300)["recorded"] == 1
        done = service.store.get_trial(trial.job_id, trial.id)
        assert (done.state, done.error) == (TrialState.FAILED, error)


def test_the_reaper_fails_a_batch_trial_whose_log_printed_nan_as_not_finite_under_moto(aws_credentials: None) -> None:
    """It failed with "objective metric 'val_loss' was not reported", as if nothing was printed."""
    with mock_aws(config={"batch": {"use_docker": False}}):
        service, clock, trial = ended_awaiting_its_final_report(["epoch 1", "val_loss=nan", "bye"])
        clock.now += 301
        assert service.reap(grace_seconds=300)["recorded"] == 1
        done = service.store.get_trial(trial.job_id, trial.id)
        assert done.state is TrialState.FAILED
        assert done.error == "objective metric 'val_loss' is not a finite number (nan)"


def describes_asked(backend: Any) -> list[str]:
    """The ids of the trials ``backend.describe`` is asked for from now on, in order."""
    asked: list[str] = []
    describe = backend.describe

    def counted(job: Any, trial: Any) -> Any:
        asked.append(trial.id)
        return describe(job, trial)

    backend.describe = counted
    return asked


@pytest.mark.parametrize("store_kind", ["sqlite", "dynamodb"])
@pytest.mark.parametrize("own", [True, False], ids=["its-own-failure", "our-terminate"])
def test_the_reaper_reads_a_pruned_trials_lost_batch_end_under_moto(
    aws_credentials: None, store_kind: str, own: bool
) -> None:
    """ASHA stops a running trial (``TerminateJob`` accepted, recorded pruned) and Batch's
    "Job State Change" FAILED event is lost. The reaper read running trials only, so the trial
    stayed pruned for good, its own failure and its billed time lost. It now asks
    ``DescribeJobs`` (the call it makes for running trials) of a pruned trial whose end it has
    not seen, records the end by the event's rules (a ``statusReason`` not ours: failed;
    ours: pruned; the billed startedAt to stoppedAt either way), then asks no more."""
    from datetime import timedelta

    from moto.batch.models import batch_backends

    from hyperstep.handlers import Telemetry, handle_collect
    from tests.unit.test_order_free_results import sample

    with mock_aws(config={"batch": {"use_docker": False}}):
        _, _, service, meter, job, (good, bad) = asha_on_batch(store_kind)
        asked = describes_asked(service.backends["batch"])
        for trial, loss in ((good, 0.5), (bad, 0.9)):
            event = sample("trial-metric-reported")
            event["detail"] = {"job_id": job.id, "trial_id": trial.id, "metrics": {"val_loss": loss}, "step": 1}
            assert handle_collect(service, signed(service.store, event), Telemetry(metrics=meter))["recorded"]
        assert service.store.get_trial(job.id, bad.id).state is TrialState.PRUNED
        found = batch_backends["123456789012"]["us-east-1"].get_job_by_id(
            service.store.get_trial(job.id, bad.id).backend_ref or ""
        )
        assert found is not None
        found.status, found.job_stopped = "FAILED", True
        found.job_stopped_reason = "Essential container in task exited" if own else BATCH_STOP_REASON
        found.job_stopped_at = found.job_started_at + timedelta(seconds=1500)
        found.attempts = []  # moto ran its attempt at once: the job's own startedAt to stoppedAt is billed
        running(good.backend_ref or service.store.get_trial(job.id, good.id).backend_ref)
        service.reap(grace_seconds=300)
        service.reap(grace_seconds=300)
        assert asked.count(bad.id) == 1 and asked.count(good.id) == 2  # once its end is in, it is asked no more
        ended, counted_job = service.store.get_trial(job.id, bad.id), service.store.get_job(job.id)
        assert ended.billable_seconds == pytest.approx(1500)  # the billed end, not the stop's
        assert counted_job.cost_usd == pytest.approx(ended.cost_usd or 0)
        if own:
            assert (ended.state, ended.value, ended.error) == (
                TrialState.FAILED,
                None,
                "Essential container in task exited",
            )
            assert (counted_job.pruned, counted_job.failed) == (0, 1)
        else:
            assert (ended.state, ended.value, counted_job.pruned, counted_job.failed) == (TrialState.PRUNED, 0.9, 1, 0)


@pytest.mark.parametrize("store_kind", ["sqlite", "dynamodb"])
def test_a_user_stopped_trial_whose_batch_job_failed_on_its_own_ends_failed_under_moto(
    aws_credentials: None, store_kind: str
) -> None:
    """The user's stop lands while its trial is being launched: the pending trial is
    recorded stopped and the submitted job terminated (``_not_started``); the job had failed
    on its own already (its FAILED event's ``statusReason`` not the terminate's, AWS's
    sample): the trial ends failed with that reason, counted once against the budget, as a
    pruned one does. (Before: it stayed stopped, the reason lost.)"""
    from hyperstep.handlers import Telemetry, handle_collect
    from tests.integration.moto_stores import store_under_moto
    from tests.unit.test_order_free_results import Counted, sample

    with mock_aws(config={"batch": {"use_docker": False}}):
        batch_environment()
        client = boto3.client("batch", region_name="us-east-1")
        backend = BatchBackend(client, "hyperstep-bus")
        service = TuningService(store_under_moto(store_kind), {"batch": backend})
        job = service.create_job(make_job().spec, job_id="mnist-stop")
        (trial,) = Study.from_job(service.store, job).ask(1)
        launch, refs = backend.launch, []

        def launched_then_stopped(job: Any, trial: Any) -> str:
            ref = launch(job, trial)
            refs.append(ref)
            running(ref)
            service.stop(job.id)  # the user's stop, while the launch was on its way
            return ref

        backend.launch = launched_then_stopped  # type: ignore[method-assign]
        assert service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))["state"] == "stopped"
        assert service.store.get_trial(job.id, trial.id).state is TrialState.STOPPED
        end = sample("batch-job-state-change-failed")
        job_ref = refs[0]
        arn = client.describe_jobs(jobs=[job_ref])["jobs"][0]["jobArn"]
        tags = {"resourceArn": arn, "hyperstep:job-id": job.id, "hyperstep:trial-id": trial.id}
        end["detail"].update(jobName=f"hs-{job.id}-{trial.id}-1", jobId=job_ref, jobArn=arn, tags=tags)
        end["resources"] = [arn]
        meter = Counted()
        assert [handle_collect(service, end, Telemetry(metrics=meter))["recorded"] for _ in range(2)] == [True, False]
        ended, counted = service.store.get_trial(job.id, trial.id), service.store.get_job(job.id)
        assert (ended.state, ended.error) == (TrialState.FAILED, "Essential container in task exited; exit code 1")
        assert (counted.failed, counted.budget_used) == (1, 1)
        assert meter.sums() == {"TrialsFailed": 1, "TrialsStopped": -1}  # the stopped end it replaces
