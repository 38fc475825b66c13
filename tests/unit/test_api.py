"""The API handler and the recurring-tuning path, driven by API Gateway proxy events.

The real handler modules run against the real service over a SQLite store, a fake
orchestrator and backend, and moto's EventBridge Scheduler; only AWS is missing.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

from hyperstep.messages import LaunchRequest, SuggestRequest, TrialResult, Usage
from hyperstep.models import JobStatus, TrialState
from hyperstep.owners import owner_tag
from hyperstep.recurring import SCHEDULED_TIME, RecurringSchedules
from hyperstep.service import TuningService, parked
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
from hyperstep_functions.api import app as api
from hyperstep_functions.finish import app as finish
from hyperstep_functions.start import app as start
from tests.lambda_context import LambdaContext
from tests.scheduler_ticks import delivered
from tests.unit.test_reaper_metrics import Flushed
from tests.unit.test_service import FakeBackend, FakeOrchestrator

OPENAPI = Path(api.__file__).with_name("openapi.json")
START_ARN = "arn:aws:lambda:us-east-1:123456789012:function:hyperstep-start"
SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/hyperstep-scheduler"
LOSS = [{"name": "loss", "regex": "loss=([0-9.]+)"}]
ALICE = "arn:aws:iam::123456789012:user/alice"
"""The principal that signs every request here (``test_api_owners.py`` has the others)."""


def sagemaker_spec(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": "mnist",
        "objective": {"metric": "loss", "goal": "minimize"},
        "parameters": [{"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "scale": "log"}],
        "strategy": {"name": "random", "seed": 0},
        "budget": {"max_trials": 4, "max_parallel": 2},
        "trial": {
            "backend": "sagemaker",
            "training_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:latest",
            "instance_type": "ml.m5.large",
            "role_arn": "arn:aws:iam::123456789012:role/training",
            "output_path": "s3://bucket/out",
            "metric_definitions": LOSS,
        },
    }
    document.update(overrides)
    return document


Context = partial(LambdaContext, aws_request_id="request-1")
"""A Lambda context with a known request id, which a 500 answer names."""


def proxy_event(
    method: str,
    path: str,
    identity: dict[str, Any] | None = None,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    encoded: bool = False,
) -> dict[str, Any]:
    """An API Gateway REST proxy event: ``identity`` as API Gateway reports the caller (none:
    no ``identity``), ``body`` a JSON value or the raw text, ``headers`` (else a JSON content
    type) also given as ``multiValueHeaders``, ``query`` the query string's parameters."""
    context: dict[str, Any] = {"stage": "v1", "httpMethod": method, "resourcePath": path, "requestId": "r-1"}
    if identity is not None:
        context["identity"] = identity
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"} if headers is None else headers,
        "multiValueHeaders": {} if headers is None else {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "requestContext": context,
        "body": body if isinstance(body, str) or body is None else json.dumps(body),
        "isBase64Encoded": encoded,
    }


def call(method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> tuple[int, Any]:
    """One API Gateway REST proxy event through the handler; (status, parsed body)."""
    event = proxy_event(method, path, {"userArn": ALICE}, body, query=query)
    response = api.lambda_handler(event, Context())
    return int(response["statusCode"]), json.loads(response["body"]) if response["body"] else None


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> TuningService:
    backend = FakeBackend()
    svc = TuningService(SQLiteStore(), {"sagemaker": backend, "batch": backend}, FakeOrchestrator())
    monkeypatch.setattr(api, "service", lambda: svc)
    monkeypatch.setattr(start, "service", lambda: svc)
    return svc


@pytest.fixture
def scheduler(monkeypatch: pytest.MonkeyPatch, aws_credentials: None) -> Any:
    """EventBridge Scheduler on moto, with the ``hyperstep`` group, behind the API's schedules."""
    with mock_aws():
        client = boto3.client("scheduler", "us-east-1")
        client.create_schedule_group(Name="hyperstep")
        schedules = RecurringSchedules(client, "hyperstep", START_ARN, SCHEDULER_ROLE)
        monkeypatch.setattr(api, "schedules", lambda: schedules)
        yield client


def test_submit_stores_the_job_starts_it_and_answers_202(service: TuningService) -> None:
    status, body = call("POST", "/jobs", sagemaker_spec())
    assert status == 202
    job = service.store.get_job(body["job_id"])
    assert job.spec.name == "mnist" and job.status is JobStatus.RUNNING
    assert body == {"job_id": job.id, "status": "running", "execution_id": job.execution_id}
    assert job.execution_id and job.execution_id.startswith(f"exec-{job.id[:60]}")


@pytest.mark.parametrize(
    ("document", "field", "reason"),
    [
        (sagemaker_spec(parameters=[{"name": "lr", "type": "float", "low": 2, "high": 1}]), "parameters.0", "low"),
        (sagemaker_spec(budget={"max_trials": 0}), "budget.max_trials", "greater than or equal to 1"),
        (sagemaker_spec(name="bad name!"), "name", "letters, digits and hyphens"),
        (sagemaker_spec(parameters=[{"name": "lr", "low": 0, "high": 1}]), "parameters.0.type", "Field required"),
        (
            sagemaker_spec(parameters=[{"name": "k", "type": "categorical", "choices": ["a", None]}]),
            "parameters.0.choices.1",
            "a string, number or boolean",
        ),
        (sagemaker_spec(schedule="every day"), "schedule", "cron(...) or rate(...)"),
        (
            sagemaker_spec(parameters=[{"name": "lr", "type": "float", "low": 0, "high": 1, "when": {"opt": ["sgd"]}}]),
            "parameters",
            "parameter 'lr': when names 'opt', which is not a parameter",
        ),
        (
            sagemaker_spec(
                parameters=[
                    {"name": "a", "type": "int", "low": 1, "high": 3, "when": {"b": [1]}},
                    {"name": "b", "type": "int", "low": 1, "high": 3, "when": {"a": [2]}},
                ]
            ),
            "parameters",
            "conditions form a cycle: a -> b -> a",
        ),
        (
            sagemaker_spec(
                parameters=[{"name": "m", "type": "float", "low": 0.9, "high": 1.5, "scale": "reverse_log"}]
            ),
            "parameters.0",
            "reverse_log scale needs a float range with 0 <= low < high < 1",
        ),
        (
            sagemaker_spec(strategy={"name": "bayesian", "options": {"acquisition": "magic"}}),
            "strategy.options.acquisition",
            "'ei' or 'ensemble'",
        ),
        (sagemaker_spec(trial=None), "trial", "required to run on AWS"),
        (
            sagemaker_spec(strategy={"name": "grid", "options": {"resolution": 10**9}}),
            "strategy.options.resolution",
            "less than or equal to 100000",
        ),
        (sagemaker_spec(objective={"metric": "f1"}), "objective.metric", "'f1' is not produced by any"),
        (
            sagemaker_spec(trial={**sagemaker_spec()["trial"], "environment": {"TOKEN": {"resolve": "ssm-typo:/x"}}}),
            "trial.environment.TOKEN.resolve",
            "String should match pattern",
        ),
        (
            sagemaker_spec(trial={**sagemaker_spec()["trial"], "environment": {"LR": 0.001}}),
            "trial.environment.LR",
            "0.001 was read as a number; environment values are strings: quote it as written",
        ),
        (
            sagemaker_spec(trial={**sagemaker_spec()["trial"], "tags": {"team": None}}),
            "trial.tags.team",
            "empty (read as null); tag values are strings",
        ),
        (  # IAM matches aws:ResourceTag/hyperstep:stack's key name in any case (IAM User Guide, Condition)
            sagemaker_spec(trial={**sagemaker_spec()["trial"], "tags": {"HyperStep:stack": "another-stack"}}),
            "trial.tags",
            "the hyperstep: prefix (in any case) is reserved",
        ),
        (
            sagemaker_spec(
                trial={
                    "backend": "batch",
                    "job_queue": "q",
                    "job_definition": "d",
                    "command": ["python", "train.py", "--epochs", 10],
                    "environment": {"VERBOSE": True},
                    "metric_definitions": LOSS,
                }
            ),
            "trial.command.3",
            "10 was read as a number; command arguments are strings: quote it as written",
        ),
        (sagemaker_spec(budget={"max_parallel": 2}), "budget.max_trials", "required to run trials"),
        (
            sagemaker_spec(parameters=[{"name": f"p{i}", "type": "float", "low": 0, "high": 1} for i in range(101)]),
            "parameters",
            "SageMaker takes at most 100 hyperparameters, got 101",
        ),
        (
            sagemaker_spec(
                parameters=[{"name": f"p{i}", "type": "float", "low": 0, "high": 1} for i in range(6)],
                strategy={"name": "grid", "options": {"resolution": 10}},
            ),
            "strategy.options.resolution",
            "10 makes a grid of 1,000,000 points",
        ),
        (
            sagemaker_spec(parameters=[{"name": "k", "type": "categorical", "choices": ["a\x00", "b"]}]),
            "parameters.0.choices.0",
            "a choice cannot hold a NUL character",
        ),
        (
            sagemaker_spec(trial={"backend": "local", "command": ["python"], "metric_definitions": LOSS}),
            "trial.backend",
            "cannot run on AWS",
        ),
        # a block of a backend the API does not run was refused for a field of that block first
        # (trial.objective "Field required"; trial.training_image "unknown field (known: ...
        # command, env, workdir)") or in pydantic's words naming the library's other backends
        (
            sagemaker_spec(trial={"backend": "simulated"}),
            "trial.backend",
            "'simulated' cannot run on AWS (use sagemaker or batch)",
        ),
        (
            sagemaker_spec(trial={**sagemaker_spec()["trial"], "backend": "local"}),
            "trial.backend",
            "'local' cannot run on AWS (use sagemaker or batch)",
        ),
        (
            sagemaker_spec(trial={**sagemaker_spec()["trial"], "backend": "SageMaker"}),
            "trial.backend",
            "'SageMaker' cannot run on AWS (use sagemaker or batch)",
        ),
        (
            sagemaker_spec(trial={k: v for k, v in sagemaker_spec()["trial"].items() if k != "backend"}),
            "trial.backend",
            "Field required (sagemaker or batch)",
        ),
        (sagemaker_spec(trial={**sagemaker_spec()["trial"], "backend": None}), "trial.backend", "should be a string"),
        (  # shown clipped, as a name is: the whole value came back, up to the body's megabyte
            sagemaker_spec(trial={**sagemaker_spec()["trial"], "backend": "b" + "x" * 999_000}),
            "trial.backend",
            "'b" + "x" * 59 + "' cannot run on AWS",
        ),
        (  # an unknown key came back whole as the field: a 900 KB key, a 900 KB answer
            sagemaker_spec(budget={"max_trials": 2, "k" * 900_000: 1}),
            "budget." + "k" * 36 + "... (900,000 characters)",
            "unknown field (known: max_trials, max_parallel",
        ),
        (  # accepted before as none: no trial stopped early, and nothing said so
            sagemaker_spec(early_stopping={"min_resource": 1, "max_resource": 27}),
            "early_stopping.name",
            "missing: a block with fields needs a name (median, asha or hyperband",
        ),
        (  # said field "early_stopping" (a check across its fields), where validate and Study name the field
            sagemaker_spec(early_stopping={"name": "asha", "min_resource": 30, "max_resource": 27}),
            "early_stopping.min_resource",
            "30 must not exceed max_resource (27)",
        ),
        (
            sagemaker_spec(early_stopping={"name": "hyperband", "reduction_factor": 3}),
            "early_stopping.max_resource",
            "missing: hyperband needs it",
        ),
        (  # said "Input should be a valid dictionary or object to extract fields from" (as Study and validate do not)
            sagemaker_spec(early_stopping=["asha"]),
            "early_stopping",
            "should be a mapping (key: value pairs), not a list",
        ),
        (sagemaker_spec(budget="4"), "budget", "should be a mapping (key: value pairs), not a string"),
        (sagemaker_spec(enqueue=[{"lr": 0.01}, {"lr": 2}]), "enqueue.1.lr", "2 is outside [0.0001, 0.1]"),
        (sagemaker_spec(enqueue=[{"depth": 3}]), "enqueue.0.depth", "not a parameter of this space (lr)"),
        (sagemaker_spec(enqueue=[{}] * 5), "enqueue", "5 points, more than budget.max_trials (4)"),
    ],
)
def test_a_bad_spec_is_refused_with_field_and_reason_and_nothing_is_stored(
    service: TuningService, document: dict[str, Any], field: str, reason: str
) -> None:
    status, body = call("POST", "/jobs", document)
    assert status == 422, body
    assert body["field"] == field
    assert reason in body["reason"]
    assert service.store.list_jobs() == []


def test_a_conditional_space_with_a_reverse_log_scale_is_accepted_and_kept(service: TuningService) -> None:
    parameters = [
        {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]},
        {
            "name": "momentum",
            "type": "float",
            "low": 0.5,
            "high": 0.999,
            "scale": "reverse_log",
            "when": {"optimizer": ["sgd"]},
        },
    ]
    status, body = call("POST", "/jobs", sagemaker_spec(parameters=parameters))
    assert status == 202, body
    stored = service.store.get_job(body["job_id"]).spec.parameters[1]
    assert stored.when == {"optimizer": ["sgd"]} and stored.scale == "reverse_log"
    status, detail = call("GET", f"/jobs/{body['job_id']}")
    assert status == 200
    assert detail["spec"]["parameters"][1]["when"] == {"optimizer": ["sgd"]}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not valid JSON at line 1, column 2: Expecting property name enclosed in double quotes"),
        # said where as `hyperstep validate` does for the file (it said only "Expecting ',' delimiter")
        ('{\n  "name": "mnist"\n  "budget": {}\n}', "not valid JSON at line 3, column 3: Expecting ',' delimiter"),
        ("x", "not valid JSON: Expecting value"),  # at its first character: nothing to point at
    ],
)
def test_a_body_that_is_not_json_is_refused(service: TuningService, text: str, reason: str) -> None:
    status, body = call("POST", "/jobs", text)
    assert status == 422
    assert body == {"field": "body", "reason": reason}
    assert service.store.list_jobs() == []


@pytest.mark.parametrize(
    "wrapped",
    [lambda spec: [spec], lambda spec: [spec, 5], lambda spec: f" \n[{json.dumps(spec)}]"],
    ids=["one", "two", "text"],
)
def test_a_body_that_is_a_list_of_specs_is_refused_not_read_as_its_first(service: TuningService, wrapped: Any) -> None:
    """Powertools' validation read a list body as its first item: ``[spec]`` started a job (202)."""
    status, body = call("POST", "/jobs", wrapped(sagemaker_spec()))
    assert (status, body) == (422, {"field": "body", "reason": "should be a mapping (key: value pairs), not a list"})
    assert service.store.list_jobs() == []
    status, created = call("POST", "/jobs", sagemaker_spec())
    assert status == 202
    status, body = call("PATCH", f"/jobs/{created['job_id']}", [{"max_trials": 6}])
    assert (status, body["field"]) == (422, "body")
    assert service.store.get_job(created["job_id"]).spec.budget.max_trials == sagemaker_spec()["budget"]["max_trials"]


@pytest.mark.parametrize(
    ("document", "reason"),
    [(None, "Field required"), ([], "should be a mapping (key: value pairs), not a list"), ("null", "")],
)
def test_a_body_that_is_no_spec_at_all_is_refused_naming_the_body(
    service: TuningService, document: Any, reason: str
) -> None:
    status, body = call("POST", "/jobs", document)
    assert status == 422 and body["field"] == "body" and reason in body["reason"]
    assert service.store.list_jobs() == []


def test_list_and_get_jobs(service: TuningService) -> None:
    first = call("POST", "/jobs", sagemaker_spec(name="first"))[1]["job_id"]
    second = call("POST", "/jobs", sagemaker_spec(name="second"))[1]["job_id"]
    status, body = call("GET", "/jobs")
    assert status == 200
    assert {j["job_id"] for j in body["jobs"]} == {first, second}
    assert len(call("GET", "/jobs", query={"limit": "1"})[1]["jobs"]) == 1
    assert call("GET", "/jobs", query={"limit": "0"})[0] == 422
    status, body = call("GET", f"/jobs/{first}")
    assert status == 200
    assert body["name"] == "first" and body["status"] == "running" and body["spec"]["trial"]["backend"] == "sagemaker"


def test_trials_of_a_job(service: TuningService) -> None:
    job_id = call("POST", "/jobs", sagemaker_spec())[1]["job_id"]
    plan = service.suggest(SuggestRequest(job_id=job_id))
    status, body = call("GET", f"/jobs/{job_id}/trials")
    assert status == 200
    assert [t["id"] for t in body["trials"]] == plan.trial_ids
    assert all(t["state"] == "pending" and "lr" in t["params"] for t in body["trials"])
    assert body["next_offset"] is None


def test_job_and_trial_answers_carry_what_the_trials_cost(service: TuningService) -> None:
    job_id = call("POST", "/jobs", sagemaker_spec(budget={"max_trials": 4, "max_parallel": 2, "max_cost_usd": 5}))
    job_id = job_id[1]["job_id"]
    first, second = service.suggest(SuggestRequest(job_id=job_id)).trial_ids
    usage = Usage(seconds=1800, instance_type="ml.m5.large", platform="sagemaker", region="us-east-1")
    ended = TrialResult(job_id=job_id, trial_id=first, state="completed", metrics={"loss": 0.5}, usage=usage)
    assert service.collect(ended)
    status, job = call("GET", f"/jobs/{job_id}")
    assert status == 200 and job["cost_usd"] == pytest.approx(0.115 / 2) and job["spec"]["budget"]["max_cost_usd"] == 5
    assert call("GET", "/jobs")[1]["jobs"][0]["cost_usd"] == job["cost_usd"]
    trials = {t["id"]: t for t in call("GET", f"/jobs/{job_id}/trials")[1]["trials"]}
    assert trials[first]["cost_usd"] == job["cost_usd"] and trials[first]["billable_seconds"] == 1800
    assert "ml.m5.large at $0.115/h (us-east-1 list price" in trials[first]["cost_basis"]
    assert trials[second]["cost_usd"] is None  # not ended yet


def test_trials_come_a_page_at_a_time(service: TuningService) -> None:
    job_id = call("POST", "/jobs", sagemaker_spec(budget={"max_trials": 5, "max_parallel": 5}))[1]["job_id"]
    every = service.suggest(SuggestRequest(job_id=job_id)).trial_ids
    pages, offset = [], 0
    while offset is not None:
        status, body = call("GET", f"/jobs/{job_id}/trials", query={"limit": "2", "offset": str(offset)})
        assert status == 200
        pages.append([t["id"] for t in body["trials"]])
        offset = body["next_offset"]
    assert pages == [every[0:2], every[2:4], every[4:5]]
    assert call("GET", f"/jobs/{job_id}/trials", query={"limit": "1001"})[0] == 422


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("GET", "/trials"), ("POST", "/stop")])
def test_unknown_jobs_are_404(service: TuningService, method: str, suffix: str) -> None:
    status, body = call(method, f"/jobs/nope{suffix}")
    assert status == 404
    assert "nope" in body["reason"]


def test_stop_a_running_job_then_409_once_it_is_not_running(service: TuningService) -> None:
    job_id = call("POST", "/jobs", sagemaker_spec())[1]["job_id"]
    service.suggest(SuggestRequest(job_id=job_id))
    status, body = call("POST", f"/jobs/{job_id}/stop")
    assert status == 202 and body["status"] == "stopping"
    assert {t.state for t in service.store.list_trials(job_id)} == {TrialState.STOPPED}
    assert call("POST", f"/jobs/{job_id}/stop")[0] == 409


def test_a_stop_whose_stop_training_job_is_throttled_is_accepted_and_the_woken_round_stops_the_trials(
    service: TuningService, caplog: pytest.LogCaptureFixture
) -> None:
    """StopTrainingJob answers ``ThrottlingException`` ("Rate exceeded") past boto3's own retries
    (AWS knowledge center, "sagemaker-python-throttlingexception": SageMaker API calls over the
    account's request rate are throttled, "botocore.exceptions.ClientError: An error occurred
    (ThrottlingException)"), for a user stop of a job with many running trials: the job is
    stopping, recorded, so the stop is accepted and its execution woken, whose round stops the
    running trials again (a stopping job's Suggest does). Before: a 500 after the job was
    written stopping, no wake (the round slept until its timeout or the reaper), and the
    caller's retry answered 409."""
    job_id = call("POST", "/jobs", sagemaker_spec())[1]["job_id"]
    for trial_id in service.suggest(SuggestRequest(job_id=job_id)).trial_ids:
        service.launch(LaunchRequest(job_id=job_id, trial_id=trial_id))
    running = sorted(t.id for t in service.store.list_trials(job_id) if t.state is TrialState.RUNNING)
    service.store.put_task_token(job_id, parked("round-1", 8))
    backend = service.backends["sagemaker"]
    message = "Rate exceeded (s3cr3t)"  # what the log must not carry: the job's log names type and code only
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": message}}, "StopTrainingJob")
    with mock.patch.object(backend, "stop", side_effect=throttled), caplog.at_level("WARNING", "hyperstep.service"):
        status, body = call("POST", f"/jobs/{job_id}/stop")
    assert status == 202 and body["status"] == "stopping"
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "hyperstep.service"]
    assert job_id in logged and "ClientError ThrottlingException" in logged and "s3cr3t" not in logged
    assert [token for token, _ in service.orchestrator.woken] == ["round-1"]
    plan = service.suggest(SuggestRequest(job_id=job_id))  # the round it woke
    assert plan.stopping and not plan.done and running and sorted(backend.stopped) == running


def test_a_stop_whose_wake_fails_is_accepted_with_its_trials_stopped(
    service: TuningService, caplog: pytest.LogCaptureFixture
) -> None:
    """SendTaskSuccess cannot be reached (botocore's ``EndpointConnectionError``, past its
    retries) when the stop wakes the execution: the job is stopping and its trials are stopped,
    so the stop is accepted; the execution's round wakes at its timeout (the Wait's
    ``TimeoutSecondsPath``), and Finish closes the job. Before: a 500 after the job was written
    stopping, and the caller's retry answered 409 (the author's rule for a failed trial stop,
    edc877b, held only up to the wake)."""
    job_id = call("POST", "/jobs", sagemaker_spec())[1]["job_id"]
    for trial_id in service.suggest(SuggestRequest(job_id=job_id)).trial_ids:
        service.launch(LaunchRequest(job_id=job_id, trial_id=trial_id))
    running = sorted(t.id for t in service.store.list_trials(job_id) if t.state is TrialState.RUNNING)
    service.store.put_task_token(job_id, parked("round-1", 8))
    unreachable = EndpointConnectionError(endpoint_url="https://states.us-east-1.amazonaws.com/")
    with (
        mock.patch.object(service.orchestrator, "send_task_success", side_effect=unreachable),
        caplog.at_level("WARNING", "hyperstep.service"),
    ):
        status, body = call("POST", f"/jobs/{job_id}/stop")
    assert status == 202 and body["status"] == "stopping"
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "hyperstep.service"]
    assert job_id in logged and "EndpointConnectionError" in logged and "amazonaws.com" not in logged
    assert running and sorted(service.backends["sagemaker"].stopped) == running
    assert service.store.get_job(job_id).status is JobStatus.STOPPING


def test_the_pending_trials_a_stop_records_stopped_count_once_in_its_metrics(
    service: TuningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They end in the API function, which counts them as Collect counts an end
    (``hyperstep.recorded_ends``); before, no invocation counted them."""
    meter = Flushed()
    monkeypatch.setattr(api, "metrics", meter)
    job_id = call("POST", "/jobs", sagemaker_spec())[1]["job_id"]
    service.suggest(SuggestRequest(job_id=job_id))
    pending = len(service.store.list_trials(job_id))
    assert pending > 0 and call("POST", f"/jobs/{job_id}/stop")[0] == 202
    call("POST", f"/jobs/{job_id}/stop")  # 409: nothing more ends
    assert meter.objects == [({"JobId": job_id}, {"TrialsStopped": pending})]


def test_stop_a_finished_job_is_409(service: TuningService) -> None:
    job_id = call("POST", "/jobs", sagemaker_spec())[1]["job_id"]
    service.store.set_job_status(job_id, JobStatus.COMPLETED)
    status, body = call("POST", f"/jobs/{job_id}/stop")
    assert status == 409 and body["reason"]


def test_a_spec_with_a_schedule_creates_a_schedule_that_targets_the_start_function(
    service: TuningService, scheduler: Any
) -> None:
    status, body = call("POST", "/jobs", sagemaker_spec(schedule="rate(1 day)"))
    assert status == 201
    assert body["name"] == "mnist" and body["expression"] == "rate(1 day)"
    assert body["schedule_name"] == f"{owner_tag(ALICE)}-mnist"  # names are per owner
    assert service.store.list_jobs() == []  # a schedule, not a job
    found = scheduler.get_schedule(Name=body["schedule_name"], GroupName="hyperstep")
    assert found["ScheduleExpression"] == "rate(1 day)"
    assert found["Target"]["Arn"] == START_ARN and found["Target"]["RoleArn"] == SCHEDULER_ROLE
    tick = {"schedule_name": body["schedule_name"], "owner": ALICE, "scheduled_time": SCHEDULED_TIME}
    assert json.loads(found["Target"]["Input"]) == tick  # Scheduler writes in the tick's time
    kept = service.store.get_schedule_spec(body["schedule_name"])  # the spec is kept in the store, not the input
    assert kept is not None and kept.owner == ALICE and kept.spec["schedule"] == "rate(1 day)"
    assert call("POST", "/jobs", sagemaker_spec(schedule="rate(2 days)"))[0] == 409
    assert service.store.get_schedule_spec(body["schedule_name"]).spec["schedule"] == "rate(1 day)"  # type: ignore[union-attr]


def test_a_schedule_naming_a_parent_of_another_metric_is_refused_as_a_job_is_and_nothing_is_created(
    service: TuningService, scheduler: Any
) -> None:
    """Each tick would leave that parent out (``recurring.learnable_parents``) without a word:
    the API refuses it when the schedule is made, as ``POST /jobs`` refuses it for a job."""
    accuracy = sagemaker_spec(name="acc", objective={"metric": "accuracy", "goal": "maximize"})
    accuracy["trial"] = {**accuracy["trial"], "metric_definitions": [{"name": "accuracy", "regex": "acc=([0-9.]+)"}]}
    other = call("POST", "/jobs", accuracy)[1]["job_id"]
    same = call("POST", "/jobs", sagemaker_spec(name="old"))[1]["job_id"]
    reason = f"job {other!r} optimized accuracy, not loss: its trials' values would be read as this job's"
    for schedule in ("rate(1 day)", None):
        status, body = call("POST", "/jobs", sagemaker_spec(schedule=schedule, warm_start={"jobs": [same, other]}))
        assert (status, body) == (422, {"field": "warm_start.jobs", "reason": reason}), schedule
    assert scheduler.list_schedules(GroupName="hyperstep")["Schedules"] == []
    assert service.store.get_schedule_spec(f"{owner_tag(ALICE)}-mnist") is None
    assert {job.id for job in service.store.list_jobs()} == {other, same}
    assert call("POST", "/jobs", sagemaker_spec(schedule="rate(1 day)", warm_start={"jobs": [same]}))[0] == 201


def test_a_dollar_budget_in_a_region_without_list_prices_is_refused_for_a_job_and_a_schedule(
    service: TuningService, scheduler: Any
) -> None:
    service.backends["sagemaker"].region = "ap-south-1"  # type: ignore[attr-defined]
    capped = {"max_trials": 4, "max_cost_usd": 50}
    for schedule in ("rate(1 day)", None):
        status, body = call("POST", "/jobs", sagemaker_spec(schedule=schedule, budget=capped))
        assert status == 422 and body["field"] == "budget.max_cost_usd", schedule
        assert body["reason"].startswith("no list prices for region ap-south-1"), schedule
    assert scheduler.list_schedules(GroupName="hyperstep")["Schedules"] == []
    assert service.store.list_jobs() == []
    assert call("POST", "/jobs", sagemaker_spec())[0] == 202  # without a dollar budget: priced at us-east-1's


def test_each_tick_starts_a_fresh_job_warm_started_from_the_last_completed_run(
    service: TuningService, scheduler: Any
) -> None:
    created = call("POST", "/jobs", sagemaker_spec(schedule="cron(0 3 * * ? *)"))[1]
    stored = scheduler.get_schedule(Name=created["schedule_name"], GroupName="hyperstep")["Target"]["Input"]

    first = start.lambda_handler(delivered(stored, "2026-11-27T03:00:00Z"), Context(function_name="hyperstep-start"))
    assert first["status"] == "running" and service.store.get_job(first["job_id"]).parents == ()
    assert service.store.get_job(first["job_id"]).owner == ALICE  # the schedule owner's job
    skipped = start.lambda_handler(delivered(stored, "2026-11-28T03:00:00Z"), Context(function_name="hyperstep-start"))
    assert skipped == {"skipped": "the previous run is still going"}
    job = service.store.get_job(first["job_id"])
    plan = service.suggest(SuggestRequest(job_id=job.id))
    for trial_id in plan.trial_ids:
        service.collect(TrialResult(job_id=job.id, trial_id=trial_id, state="completed", metrics={"loss": 0.5}))
    service.store.set_job_status(job.id, JobStatus.COMPLETED)

    second = start.lambda_handler(delivered(stored, "2026-11-29T03:00:00Z"), Context(function_name="hyperstep-start"))
    assert second["job_id"] != first["job_id"]
    assert service.store.get_job(second["job_id"]).parents == (first["job_id"],)
    prior = Study.from_job(service.store, service.store.get_job(second["job_id"])).prior_trials()
    assert {t.id for t in prior} == set(plan.trial_ids)


def test_a_tick_with_an_invalid_spec_is_skipped_saying_why(service: TuningService) -> None:
    """Every retry would fail alike: the tick starts nothing and answers why (it raised)."""
    tick = {"schedule_name": "mnist", "spec": sagemaker_spec(budget={"max_trials": 0})}
    answer = start.lambda_handler(tick, Context(function_name="hyperstep-start"))
    assert answer["skipped"].startswith("its spec cannot start a job: budget.max_trials:")
    assert service.store.list_jobs() == []


def test_the_openapi_document_states_the_request_size_limits() -> None:
    document = json.loads(OPENAPI.read_text())
    assert "at most 1,000,000 bytes" in document["info"]["description"]
    assert document["paths"]["/jobs"]["post"]["responses"]["413"]["description"].endswith("over 1,000,000 bytes")


def test_the_committed_openapi_document_is_the_resolvers() -> None:
    committed = json.loads(OPENAPI.read_text())
    generated = json.loads(api.openapi_document())
    assert committed == generated, "regenerate: python functions/api/app.py > functions/api/openapi.json"
    routes = {(m.upper(), p) for p, item in committed["paths"].items() for m in item}
    assert routes == {
        ("POST", "/jobs"),
        ("GET", "/jobs"),
        ("GET", "/jobs/{job_id}"),
        ("GET", "/jobs/{job_id}/trials"),
        ("PATCH", "/jobs/{job_id}"),
        ("POST", "/jobs/{job_id}/stop"),
        ("GET", "/schedules"),
        ("DELETE", "/schedules/{name}"),
    }
    assert committed["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobSpec"
    }


def test_responses_with_hyperparameters_stay_out_of_xray_traces(
    service: TuningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Powertools' Tracer stores a handler's response as X-Ray metadata unless told not to;
    the API's responses (trials, specs with their environment) and Finish's (best_params)
    carry hyperparameter values."""
    from aws_lambda_powertools import Tracer

    captured: list[str] = []

    def spy(self: Tracer, method_name: str, data: Any, subsegment: Any = None, capture_response: Any = None) -> None:
        if capture_response:
            captured.append(method_name)

    monkeypatch.setattr(Tracer, "_add_response_as_metadata", spy)
    monkeypatch.setattr(finish, "service", lambda: service)
    job_id = call("POST", "/jobs", sagemaker_spec())[1]["job_id"]
    service.suggest(SuggestRequest(job_id=job_id))
    assert call("GET", f"/jobs/{job_id}/trials")[0] == 200
    assert call("GET", f"/jobs/{job_id}")[0] == 200
    assert finish.lambda_handler({"job_id": job_id}, Context(function_name="hyperstep-finish"))["status"]
    assert captured == []


def test_a_job_with_several_objectives_and_a_constraint_keeps_every_value(service: TuningService) -> None:
    metrics = [*LOSS, {"name": "kb", "regex": "kb=([0-9.]+)"}, {"name": "ms", "regex": "ms=([0-9.]+)"}]
    document = sagemaker_spec(
        objectives=[{"metric": "loss", "goal": "minimize"}, {"metric": "kb", "goal": "minimize"}],
        constraints=[{"metric": "ms", "max": 50}],
    )
    del document["objective"]
    document["trial"]["metric_definitions"] = metrics
    status, body = call("POST", "/jobs", document)
    assert status == 202, body
    job_id = body["job_id"]
    plan = service.suggest(SuggestRequest(job_id=job_id))
    first, second = plan.trial_ids
    service.collect(
        TrialResult(job_id=job_id, trial_id=first, state="completed", metrics={"loss": 0.25, "kb": 4.5, "ms": 9.0})
    )
    service.collect(TrialResult(job_id=job_id, trial_id=second, state="completed", metrics={"loss": 0.5, "kb": 1.0}))
    status, body = call("GET", f"/jobs/{job_id}/trials")
    assert status == 200
    by_id = {t["id"]: t for t in body["trials"]}
    assert by_id[first]["values"] == [0.25, 4.5] and by_id[first]["metrics"]["ms"] == 9.0
    assert by_id[second]["values"] == [0.5, 1.0] and "ms" not in by_id[second]["metrics"]  # infeasible
    status, body = call("GET", f"/jobs/{job_id}")
    assert body["spec"]["objectives"][1] == {"metric": "kb", "goal": "minimize"}
    assert body["spec"]["constraints"] == [{"metric": "ms", "max": 50.0}]
    assert body["pareto_front"] == [first]


def test_a_spec_with_objective_and_objectives_is_refused(service: TuningService) -> None:
    document = sagemaker_spec(objectives=[{"metric": "loss"}, {"metric": "kb", "goal": "maximize"}])
    status, body = call("POST", "/jobs", document)
    assert status == 422 and body["field"] == "objectives" and "not both" in body["reason"]


def test_the_ends_a_stop_recorded_count_even_when_the_stop_then_fails(
    service: TuningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pending trials are recorded stopped before the execution is woken: a wake that
    fails (a throttled SendTaskSuccess) is logged and the stop accepted (it failed the request
    once, and a retry was a 409), so those ends count in this request or never (before: never)."""
    meter = Flushed()
    monkeypatch.setattr(api, "metrics", meter)
    job_id = call("POST", "/jobs", sagemaker_spec())[1]["job_id"]
    service.suggest(SuggestRequest(job_id=job_id))
    pending = len(service.store.list_trials(job_id))

    def throttled(job_id: str) -> bool:
        raise RuntimeError("Throttling")

    monkeypatch.setattr(service, "wake", throttled)
    assert call("POST", f"/jobs/{job_id}/stop")[0] == 202
    assert {t.state for t in service.store.list_trials(job_id)} == {TrialState.STOPPED}
    assert meter.objects == [({"JobId": job_id}, {"TrialsStopped": pending})]


def test_submit_names_the_early_stopping_options_nothing_reads_as_validate_and_study_do(service: TuningService) -> None:
    """The same rule at every entry point: an option nothing reads (``median`` stopping's
    ``reduction_factor`` with the random strategy) is accepted and named, in the 202's
    ``warnings``; it was accepted without a word (``hyperstep validate`` printed it, ``Study``
    warns of it). A spec without one answers as before, with no ``warnings``."""
    block = {"name": "median", "max_resource": 9, "reduction_factor": 2}
    status, body = call("POST", "/jobs", sagemaker_spec(early_stopping=block))
    assert status == 202, body
    assert body["warnings"] == [
        "early_stopping.reduction_factor is ignored: median stopping has no rungs,"
        " and the strategy reads rungs only model-based"
    ]
    status, body = call("POST", "/jobs", sagemaker_spec(early_stopping={**block, "reduction_factor": 3}, name="b"))
    assert status == 202 and "warnings" in body
    status, body = call("POST", "/jobs", sagemaker_spec(name="plain"))
    assert status == 202 and "warnings" not in body


def test_a_scheduled_submit_names_the_early_stopping_options_nothing_reads_as_an_immediate_one(
    service: TuningService, scheduler: Any
) -> None:
    """A spec with a schedule answers 201, and its answer had no ``warnings`` while the same
    spec without a schedule had them in its 202: both carry them, left out when empty."""
    block = {"name": "asha", "max_resource": 9, "brackets": "uniform"}
    status, body = call("POST", "/jobs", sagemaker_spec(schedule="rate(1 day)", early_stopping=block))
    assert status == 201, body
    assert body["warnings"] == ["early_stopping.brackets is ignored: only hyperband has brackets"]
    status, body = call("POST", "/jobs", sagemaker_spec(schedule="rate(1 day)", name="plain"))
    assert status == 201 and "warnings" not in body
