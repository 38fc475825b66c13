"""Every sample event in ``events/`` goes through the function AWS sends it to.

The files are what ``sam local invoke <Function> -e events/<file>`` feeds the handlers,
and each is shaped exactly as AWS sends it. Sources of the shapes, field by field:

- API Gateway REST API proxy events: API Gateway Developer Guide, "Lambda proxy
  integrations in API Gateway", sections "Input format of a Lambda function for proxy
  integration" (top-level keys, and the ``requestContext.identity`` an ``AWS_IAM``
  authorized request carries: ``accessKey``, ``accountId``, ``caller``, ``userArn``,
  ``user``) and the ``$context`` variable reference; Lambda Developer Guide, "Using
  Lambda with API Gateway" (the REST event with ``extendedRequestId``, ``domainName``,
  ``domainPrefix``, ``principalOrgId``, ``requestTimeEpoch``). Cross-checked against
  Powertools' ``APIGatewayProxyEventModel``.
- Step Functions task inputs: ``statemachine/tuning.asl.json`` run on the local executor
  (below); a caught error is ``{"Error", "Cause"}`` (Step Functions Developer Guide,
  "Handling errors in Step Functions workflows"), and a Python function's error is its
  exception's class name with the Lambda error object ``errorMessage``, ``errorType``,
  ``requestId``, ``stackTrace`` as cause (Lambda Developer Guide, "AWS Lambda function
  errors in Python"). Task tokens are 1 to 2048 characters (SendTaskSuccess API).
- The start function's event: the ``Target.Input`` of the EventBridge Scheduler schedule
  (Scheduler API Reference, ``Target.Input``: for a Lambda target, the event payload).
- EventBridge events (collect, reaper): see ``tests/unit/test_events.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel
from moto import mock_aws

from hyperstep.asl.definition import load_definition
from hyperstep.asl.executor import Executor
from hyperstep.local.runtime import substitutions
from hyperstep.messages import FinishRequest, LaunchRequest, Plan, Progress, SuggestRequest, TrialMetric
from hyperstep.models import JobStatus, TrialState
from hyperstep.recurring import RecurringSchedules
from hyperstep.report_signing import signature
from hyperstep.service import TuningService, unparked
from hyperstep.spec import parse_spec
from hyperstep.stores.base import TrialStore
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep_functions.api import app as api
from hyperstep_functions.collect import app as collect
from hyperstep_functions.finish import app as finish
from hyperstep_functions.reaper import app as reaper
from hyperstep_functions.start import app as start
from hyperstep_functions.suggest import app as suggest
from tests.report_keys import signed
from tests.scheduler_ticks import delivered
from tests.unit.test_api import SCHEDULER_ROLE, START_ARN, Context
from tests.unit.test_events import EXPECTED as TRIAL_EVENTS
from tests.unit.test_service import FakeBackend, FakeOrchestrator
from tests.unit.test_template import template

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
JOB = "mnist-3f2a9c1b7d4e"
FIRST_ROUND = [f"t{i:04d}" for i in range(1, 9)]
HANDLERS = (api, collect, finish, reaper, start, suggest)

API = {  # file -> status the API answers
    "api-post-jobs.json": 202,
    "api-list-jobs.json": 200,
    "api-get-job.json": 200,
    "api-get-trials.json": 200,
    "api-stop-job.json": 202,
}
# file -> whether collect records something (test_events.py says what each one parses into)
COLLECT = {name: kind != "none" for name, (kind, _) in TRIAL_EVENTS.items()}
TASK_MODELS: dict[str, type[Any]] = {
    "suggest.json": SuggestRequest,
}
STEP_FUNCTIONS = (*TASK_MODELS, "finish.json", "finish-after-error.json")
OTHERS = ("start-scheduled.json", "start-scheduled-legacy.json", "scheduled-event.json")
EXECUTION_ENDED = "step-functions-execution-status-change-aborted.json"

# Keys API Gateway documents for a REST API proxy event (see the module docstring).
PROXY_KEYS = {
    "resource", "path", "httpMethod", "headers", "multiValueHeaders", "queryStringParameters",
    "multiValueQueryStringParameters", "pathParameters", "stageVariables", "requestContext", "body",
    "isBase64Encoded",
}  # fmt: skip
CONTEXT_KEYS = {
    "resourceId", "resourcePath", "httpMethod", "extendedRequestId", "requestTime", "path", "accountId",
    "protocol", "stage", "domainPrefix", "requestTimeEpoch", "requestId", "identity", "domainName", "apiId",
}  # fmt: skip
IDENTITY_KEYS = {
    "cognitoIdentityPoolId", "accountId", "cognitoIdentityId", "caller", "sourceIp", "principalOrgId",
    "accessKey", "cognitoAuthenticationType", "cognitoAuthenticationProvider", "userArn", "userAgent", "user",
}  # fmt: skip


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def submitted_spec() -> dict[str, Any]:
    """The spec the ``POST /jobs`` sample submits: the job every other sample is about."""
    return json.loads(load("api-post-jobs.json")["body"])


def samples_owner() -> str:
    """Who owns the samples' job: the principal that signed the API samples."""
    return load("api-post-jobs.json")["requestContext"]["identity"]["userArn"]


@pytest.fixture
def svc(monkeypatch: pytest.MonkeyPatch) -> TuningService:
    """The real service (SQLite store, fake backend and orchestrator) behind every handler."""
    backend = FakeBackend()
    service = TuningService(SQLiteStore(), {"sagemaker": backend, "batch": backend}, FakeOrchestrator())
    for module in HANDLERS:
        monkeypatch.setattr(module, "service", lambda: service)
    service.create_job(parse_spec(submitted_spec()), job_id=JOB, owner=samples_owner())
    return service


@pytest.fixture
def running(svc: TuningService) -> TuningService:
    """The job after its first round: t0001..t0008 suggested, t0007 launched."""
    assert "t0007" in svc.suggest(SuggestRequest(job_id=JOB)).trial_ids
    svc.launch(LaunchRequest(job_id=JOB, trial_id="t0007"))
    return svc


def test_every_file_in_events_is_a_known_sample() -> None:
    known = {*API, *COLLECT, *STEP_FUNCTIONS, *OTHERS, EXECUTION_ENDED}
    assert sorted(p.name for p in EVENTS.iterdir()) == sorted(known)


# ---- API Gateway ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "status"), API.items())
def test_api_sample_gets_its_status_from_the_handler(running: TuningService, name: str, status: int) -> None:
    response = api.lambda_handler(load(name), Context())
    assert int(response["statusCode"]) == status, response["body"]
    body = json.loads(response["body"])
    if name == "api-get-trials.json":
        assert [t["id"] for t in body["trials"]] == FIRST_ROUND
    elif name == "api-list-jobs.json":
        assert JOB in [j["job_id"] for j in body["jobs"]]
    elif name == "api-post-jobs.json":
        assert running.store.get_job(body["job_id"]).spec.model_dump() == parse_spec(submitted_spec()).model_dump()
    else:
        assert body["job_id"] == JOB


def template_routes() -> set[tuple[str, str]]:
    events = template()["Resources"]["ApiFunction"]["Properties"]["Events"]
    return {(e["Properties"]["Method"].upper(), e["Properties"]["Path"]) for e in events.values()}


@pytest.mark.parametrize("name", API)
def test_api_sample_is_a_rest_proxy_event_of_an_iam_signed_request(name: str) -> None:
    event = load(name)
    APIGatewayProxyEventModel.model_validate(event)
    context, identity = event["requestContext"], event["requestContext"]["identity"]
    assert (set(event), set(context), set(identity)) == (PROXY_KEYS, CONTEXT_KEYS, IDENTITY_KEYS)
    assert (event["httpMethod"], event["resource"]) in template_routes()
    assert event["path"] == event["resource"].replace("{job_id}", (event["pathParameters"] or {}).get("job_id", ""))
    assert (context["stage"], context["path"]) == ("v1", "/v1" + event["path"])
    assert (context["resourcePath"], context["httpMethod"]) == (event["resource"], event["httpMethod"])
    assert all(identity[k] for k in ("accessKey", "accountId", "caller", "userArn", "user"))
    assert event["headers"]["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={identity['accessKey']}/")
    assert event["multiValueHeaders"] == {k: [v] for k, v in event["headers"].items()}
    query = event["queryStringParameters"]
    assert event["multiValueQueryStringParameters"] == ({k: [v] for k, v in query.items()} if query else None)


# ---- Step Functions task inputs --------------------------------------------------------


def test_suggest_sample_fills_the_free_slots_launches_them_and_parks_its_task_token(svc: TuningService) -> None:
    event = load("suggest.json")
    plan = suggest.lambda_handler(event, Context(function_name="hyperstep-suggest"))
    assert plan["trial_ids"] == FIRST_ROUND and not plan["done"]
    assert {t.id: t.state for t in svc.store.list_trials(JOB)} == dict.fromkeys(FIRST_ROUND, TrialState.RUNNING)
    stored = svc.store.take_task_token(JOB)
    assert stored is not None and unparked(stored) == (event["task_token"], plan["history_events"])
    assert 1 <= len(event["task_token"]) <= 2048


@pytest.mark.parametrize(("name", "status"), [("finish.json", "completed"), ("finish-after-error.json", "failed")])
def test_finish_sample_closes_the_job(running: TuningService, name: str, status: str) -> None:
    summary = finish.lambda_handler(load(name), Context(function_name="hyperstep-finish"))
    job = running.store.get_job(JOB)
    assert summary["status"] == job.status.value == status
    if status == "failed":
        assert job.error == "LinAlgError: kernel matrix is not positive definite"


@pytest.mark.parametrize(("name", "model"), TASK_MODELS.items())
def test_task_sample_carries_exactly_its_request_model(name: str, model: type[Any]) -> None:
    event = load(name)
    assert set(event) == set(model.model_fields)
    assert model.model_validate(event).model_dump() == event


@pytest.mark.parametrize("name", ["finish.json", "finish-after-error.json"])
def test_finish_sample_state_holds_what_the_functions_return(name: str) -> None:
    event = load(name)
    assert FinishRequest.model_validate(event).job_id == JOB
    model = Plan if "trial_ids" in event["plan"] else Progress  # Suggest's own plan, or a wake-up's
    assert model.model_validate(event["plan"]).model_dump(mode="json") == event["plan"]


def tuning_executor(handlers: dict[str, Any]) -> Executor:
    definition = load_definition(REPO / "statemachine" / "tuning.asl.json", substitutions(str.capitalize))
    return Executor(definition, lambda name: handlers[name], sleep=lambda _: None)


def woken(history_events: int) -> dict[str, Any]:
    """What a result waking the first round sends back (``TuningService.wake``)."""
    return Progress(job_id=JOB, done=False, results=1, active=7, history_events=history_events).model_dump()


def without_token(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "task_token"}


def test_step_functions_samples_are_what_the_state_machine_passes() -> None:
    """Run tuning.asl.json: Suggest (which launches and parks its token; a result wakes it),
    Suggest (done: it sends its plan back itself), Finish (through Job Done?)."""
    final = load("finish.json")
    outputs = iter([woken(8), final["plan"]])
    seen: dict[str, list[Any]] = {"Suggest": [], "Finish": []}
    holder: dict[str, Executor] = {}

    def suggesting(event: dict[str, Any], _: Any) -> dict[str, Any]:
        seen["Suggest"].append(event)
        holder["ex"].send_task_success(event["task_token"], next(outputs))
        return {"ignored": "a task waiting for its token takes what is sent back, not this"}

    holder["ex"] = tuning_executor({"Suggest": suggesting, "Finish": lambda e, _: seen["Finish"].append(e) or {}})
    result = holder["ex"].run({"job_id": JOB}, name=load("suggest.json")["execution"], timeout=10)
    assert result.status == "SUCCEEDED", result.cause
    assert without_token(seen["Suggest"][0]) == without_token(load("suggest.json"))
    assert set(seen["Suggest"][0]) == set(load("suggest.json"))
    assert seen["Suggest"][1]["history_events"] == 8  # the woken round's count, carried on
    assert seen["Suggest"][0]["task_token"] != seen["Suggest"][1]["task_token"]
    assert seen["Finish"] == [final]


def test_finish_after_error_sample_is_what_the_catch_passes() -> None:
    """Suggest fails in round 2 on every attempt: its Catch sends the state and the error to Finish."""
    sample = load("finish-after-error.json")
    rounds = iter([sample["plan"]])
    finished: list[dict[str, Any]] = []
    holder: dict[str, Executor] = {}

    def suggesting(event: dict[str, Any], _: Any) -> dict[str, Any]:
        plan = next(rounds, None)
        if plan is None:
            raise np.linalg.LinAlgError(json.loads(sample["error"]["Cause"])["errorMessage"])
        holder["ex"].send_task_success(event["task_token"], plan)
        return {}

    holder["ex"] = tuning_executor({"Suggest": suggesting, "Finish": lambda e, _: finished.append(e) or {}})
    assert holder["ex"].run({"job_id": JOB}, timeout=10).status == "SUCCEEDED"
    [got] = finished
    assert {k: v for k, v in got.items() if k != "error"} == {k: v for k, v in sample.items() if k != "error"}
    assert got["error"]["Error"] == sample["error"]["Error"] == "LinAlgError"
    cause, expected = json.loads(got["error"]["Cause"]), json.loads(sample["error"]["Cause"])
    assert set(cause) == set(expected) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert (cause["errorType"], cause["errorMessage"]) == (expected["errorType"], expected["errorMessage"])


# ---- start, collect, reaper ---------------------------------------------------------


def scheduled_spec() -> dict[str, Any]:
    """The recurring spec of the start samples (the legacy sample's input still carries it)."""
    return load("start-scheduled-legacy.json")["spec"]


def keep_scheduled_spec(store: TrialStore) -> None:
    """The spec the API kept when it created the start sample's schedule."""
    sample = load("start-scheduled.json")
    store.put_schedule_spec(sample["schedule_name"], sample["owner"], scheduled_spec())


def test_start_sample_is_the_input_of_the_schedule_a_recurring_spec_gets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The input names the schedule and its owner; the spec is kept in the store, not there."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sample, store = load("start-scheduled.json"), SQLiteStore()
    with mock_aws():
        client = boto3.client("scheduler", "us-east-1")
        client.create_schedule_group(Name="hyperstep")
        created = RecurringSchedules(client, "hyperstep", START_ARN, SCHEDULER_ROLE).create(
            parse_spec(scheduled_spec()), sample["owner"], store
        )
        target = client.get_schedule(Name=created.schedule_name, GroupName="hyperstep")["Target"]
    assert target["Arn"] == START_ARN
    assert delivered(target["Input"], sample["scheduled_time"]) == sample
    kept = store.get_schedule_spec(sample["schedule_name"])
    assert kept is not None and kept.owner == sample["owner"]
    assert parse_spec(kept.spec) == parse_spec(scheduled_spec())  # fields added since the sample: their defaults


@pytest.mark.parametrize("name", ["start-scheduled.json", "start-scheduled-legacy.json"])
def test_start_sample_starts_a_fresh_job(svc: TuningService, name: str) -> None:
    """From the kept spec; from the input of a schedule made before specs were kept apart."""
    keep_scheduled_spec(svc.store)
    result = start.lambda_handler(load(name), Context(function_name="hyperstep-start"))
    job = svc.store.get_job(result["job_id"])
    assert job.spec.name == "mnist-nightly" and job.status is JobStatus.RUNNING
    assert job.owner == "arn:aws:iam::123456789012:user/alice"  # the schedule owner's


@pytest.mark.parametrize(("name", "recorded"), COLLECT.items())
def test_collect_sample_records_the_trial_once(running: TuningService, name: str, recorded: bool) -> None:
    """A metric sample is signed as its trial's script would sign it (``signed``)."""
    context = Context(function_name="hyperstep-collect")
    sample = signed(running.store, load(name))
    assert collect.lambda_handler(sample, context)["recorded"] is recorded
    assert collect.lambda_handler(sample, context)["recorded"] is (recorded and name.startswith("trial-metric"))


def test_collect_refuses_the_metric_sample_under_another_key(running: TuningService) -> None:
    """As stored, the sample is signed with an example key, not the one its trial was given."""
    sample = load("trial-metric-reported.json")
    metric = TrialMetric.model_validate(sample["detail"])
    assert metric.signature == signature("0" * 64, metric.signed_message())
    context = Context(function_name="hyperstep-collect")
    answer = collect.lambda_handler(sample, context)
    assert answer == {"recorded": False, "reason": "the report's signature does not match the trial's key"}
    assert running.store.get_trial(JOB, "t0007").reports == {}


def test_execution_ended_sample_makes_finish_close_the_job_once(running: TuningService) -> None:
    """Shaped as the AWS documentation's "Execution Aborted" example (Step Functions
    Developer Guide, "EventBridge for Step Functions execution status changes"), about the
    samples' job and the execution ``suggest.json`` runs in."""
    event = load(EXECUTION_ENDED)
    detail = event["detail"]
    assert set(detail) == {
        "executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate",
        "input", "inputDetails", "output", "outputDetails",
    }  # fmt: skip
    assert detail["name"] == load("suggest.json")["execution"] and event["resources"] == [detail["executionArn"]]
    running.store.set_job_status(JOB, JobStatus.RUNNING, execution_id=detail["executionArn"])
    context = Context(function_name="hyperstep-finish")
    closed = finish.lambda_handler(event, context)
    assert closed["closed"] and closed["status"] == running.store.get_job(JOB).status.value == "failed"
    assert finish.lambda_handler(event, context) == {"closed": False}


def test_reaper_sample_reconciles_the_running_job(running: TuningService) -> None:
    counts = reaper.lambda_handler(load("scheduled-event.json"), Context(function_name="hyperstep-reaper"))
    assert counts == {"jobs": 1, "recorded": 0, "timed_out": 0}


def test_reaper_sample_with_no_time_left_starts_no_job_and_says_it_left_one(running: TuningService) -> None:
    """The handler passes its timeout, less the margin, as the pass's ``until``."""
    context = Context(function_name="hyperstep-reaper", remaining_millis=0)
    counts = reaper.lambda_handler(load("scheduled-event.json"), context)
    assert counts == {"jobs": 0, "recorded": 0, "timed_out": 0, "left": 1}


def test_collect_function_takes_an_array_of_events_through_its_decorators(running: TuningService) -> None:
    """The deployed handler, Powertools' decorators around it, with a JSON array (what a
    Lambda target of a batching EventBridge Pipe receives; the stack deploys none): each
    event recorded or dropped on its own, an empty array answered empty, no traceback."""
    context = Context(function_name="hyperstep-collect")
    sample = signed(running.store, load("trial-metric-reported.json"))
    answer = collect.lambda_handler([sample, 7, {"detail": "not an event"}, sample], context)
    assert [reply["recorded"] for reply in answer["collected"]] == [True, False, False, True]
    assert collect.lambda_handler([], context) == {"collected": []}
