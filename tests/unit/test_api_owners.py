"""Owners over every route: each principal sees, reads and stops only its own jobs and schedules.

The principals sign as API Gateway reports them in ``requestContext.identity.userArn``: two
IAM users, two sessions of one role (which share the role's jobs), a user of another
account with the same name, an admin (a role session; ``AdminPrincipals`` names the role
with its path), and requests with no identity at all. The real handler module runs against
the real service over SQLite and moto's EventBridge Scheduler (as in ``test_api.py``).

Also: a trial's environment values never appear in an API answer, a log line or an event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hyperstep.messages import FinishRequest, SuggestRequest
from hyperstep.owners import normalized, owner_of, parse_admins
from hyperstep.service import TuningService
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep_functions.api import app as api
from hyperstep_functions.start import app as start
from tests.scheduler_ticks import TICK_TIME, delivered
from tests.unit.test_api import Context, proxy_event, sagemaker_spec
from tests.unit.test_api import scheduler as scheduler  # the fixture
from tests.unit.test_service import FakeBackend, FakeOrchestrator

ACCOUNT, OTHER_ACCOUNT = "123456789012", "210987654321"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
RUN_1 = f"arn:aws:sts::{ACCOUNT}:assumed-role/pipeline/run-1"
RUN_2 = f"arn:aws:sts::{ACCOUNT}:assumed-role/pipeline/run-2"
STRANGER = f"arn:aws:iam::{OTHER_ACCOUNT}:user/alice"
ADMIN = f"arn:aws:sts::{ACCOUNT}:assumed-role/ops-admin/oncall"
ADMINS = f" arn:aws:iam::{ACCOUNT}:role/ops/ops-admin , "
"""As the deployment passes ``AdminPrincipals``: the role with its path, blanks around."""
NO_IDENTITY: list[dict[str, Any] | None] = [None, {}, {"userArn": None, "caller": None}, {"userArn": "alice"}]
SECRET = "pa55-w0rd-never-shown"


def event(method: str, path: str, identity: dict[str, Any] | None, body: Any = None) -> dict[str, Any]:
    return proxy_event(method, path, identity, body)


def as_(user_arn: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request signed by ``user_arn`` (as API Gateway reports an IAM-signed caller)."""
    identity = {"userArn": user_arn, "accountId": user_arn.split(":")[4], "caller": "AIDAEXAMPLE"}
    return raw(event(method, path, identity, body))


def raw(request: dict[str, Any]) -> tuple[int, Any]:
    response = api.lambda_handler(request, Context())
    return int(response["statusCode"]), json.loads(response["body"])


class Recorder:
    """Records what the service publishes (the EventBridge publisher's place)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.events.append((detail_type, detail))


class Records(logging.Handler):
    """Every record a logger emits (at any level), kept."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[logging.LogRecord]]]:
    """The API function's log records and the frameworks' (Powertools' resolver logs route
    arguments at DEBUG), at every level."""
    caplog.set_level(logging.DEBUG)
    records, level = Records(), api.logger.log_level
    api.logger.addHandler(records)
    api.logger.setLevel(logging.DEBUG)
    yield lambda: records.records + caplog.records
    api.logger.removeHandler(records)
    api.logger.setLevel(level)


@pytest.fixture
def published() -> Recorder:
    return Recorder()


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch, published: Recorder) -> TuningService:
    backend = FakeBackend()
    svc = TuningService(SQLiteStore(), {"sagemaker": backend, "batch": backend}, FakeOrchestrator(), published)
    monkeypatch.setattr(api, "service", lambda: svc)
    monkeypatch.setattr(start, "service", lambda: svc)
    monkeypatch.setattr(api, "ADMINS", parse_admins(ADMINS))
    return svc


def submit(user_arn: str, name: str = "mnist") -> str:
    status, body = as_(user_arn, "POST", "/jobs", sagemaker_spec(name=name))
    assert status == 202, body
    return body["job_id"]


# ---- who a caller is ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_arn", "owner"),
    [
        (ALICE, ALICE),
        (f"arn:aws:iam::{ACCOUNT}:user/team/carol", f"arn:aws:iam::{ACCOUNT}:user/team/carol"),
        (RUN_1, f"arn:aws:iam::{ACCOUNT}:role/pipeline"),
        (f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/pipeline/x", f"arn:aws-cn:iam::{ACCOUNT}:role/pipeline"),
        (f"arn:aws:iam::{ACCOUNT}:role/ops/ops-admin", f"arn:aws:iam::{ACCOUNT}:role/ops-admin"),
        (f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{ACCOUNT}:root"),
        # GetFederationToken's name is its caller's choice: the federated user owns as that name (README)
        (f"arn:aws:sts::{ACCOUNT}:federated-user/carol", f"arn:aws:sts::{ACCOUNT}:federated-user/carol"),
    ],
)
def test_an_assumed_role_session_owns_as_its_role(user_arn: str, owner: str) -> None:
    assert owner_of({"userArn": user_arn}) == owner == normalized(owner)


# ---- jobs -----------------------------------------------------------------------------


def test_each_principal_lists_only_its_own_jobs(service: TuningService) -> None:
    alice, bob, pipeline, stranger = submit(ALICE), submit(BOB), submit(RUN_1), submit(STRANGER)
    assert service.store.get_job(pipeline).owner == f"arn:aws:iam::{ACCOUNT}:role/pipeline"

    def listed(user_arn: str) -> set[str]:
        status, body = as_(user_arn, "GET", "/jobs")
        assert status == 200, body
        return {job["job_id"] for job in body["jobs"]}

    assert listed(ALICE) == {alice}
    assert listed(BOB) == {bob}
    assert listed(RUN_1) == listed(RUN_2) == {pipeline}  # the role's sessions share its jobs
    assert listed(STRANGER) == {stranger}  # same user name, another account: another principal
    assert listed(ADMIN) == {alice, bob, pipeline, stranger}


@pytest.mark.parametrize("route", ["", "/trials"])
def test_another_principals_job_reads_as_a_missing_one(service: TuningService, route: str) -> None:
    job_id = submit(ALICE)
    service.suggest(SuggestRequest(job_id=job_id))
    missing = as_(ALICE, "GET", f"/jobs/no-such-job{route}")
    assert missing[0] == 404
    for other in (BOB, RUN_1, STRANGER):
        status, body = as_(other, "GET", f"/jobs/{job_id}{route}")
        assert (status, body) == (404, {"field": None, "reason": f"job {job_id!r} not found"})
        assert body == json.loads(json.dumps(missing[1]).replace("no-such-job", job_id))  # same words
    for allowed in (ALICE, ADMIN):
        assert as_(allowed, "GET", f"/jobs/{job_id}{route}")[0] == 200


def test_a_role_session_reads_and_stops_what_another_session_of_the_role_submitted(
    service: TuningService,
) -> None:
    job_id = submit(RUN_1)
    service.suggest(SuggestRequest(job_id=job_id))
    assert as_(RUN_2, "GET", f"/jobs/{job_id}")[1]["job_id"] == job_id
    assert len(as_(RUN_2, "GET", f"/jobs/{job_id}/trials")[1]["trials"]) == 2
    assert as_(RUN_2, "POST", f"/jobs/{job_id}/stop")[0] == 202


def test_only_the_owner_or_an_admin_stops_a_job(service: TuningService) -> None:
    alice, bob = submit(ALICE), submit(BOB)
    for other in (BOB, RUN_1, STRANGER):
        assert as_(other, "POST", f"/jobs/{alice}/stop") == (404, {"field": None, "reason": f"job {alice!r} not found"})
    assert service.store.get_job(alice).status.value == "running"
    assert as_(ALICE, "POST", f"/jobs/{alice}/stop")[0] == 202
    assert as_(ADMIN, "POST", f"/jobs/{bob}/stop")[0] == 202
    assert service.store.get_job(bob).status.value == "stopping"


@pytest.mark.parametrize("identity", NO_IDENTITY)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/jobs"),
        ("GET", "/jobs"),
        ("GET", "/jobs/{id}"),
        ("GET", "/jobs/{id}/trials"),
        ("POST", "/jobs/{id}/stop"),
        ("PATCH", "/jobs/{id}"),
        ("GET", "/schedules"),
        ("DELETE", "/schedules/mnist"),
        ("GET", "/no/such/route"),
    ],
)
def test_a_request_without_an_identity_is_refused_on_every_route(
    service: TuningService, identity: dict[str, Any] | None, method: str, path: str
) -> None:
    job_id = submit(ALICE)
    body = sagemaker_spec() if method == "POST" else {"max_trials": 1} if method == "PATCH" else None
    status, answer = raw(event(method, path.replace("{id}", job_id), identity, body))
    assert status == 403 and answer["field"] == "identity" and "IAM" in answer["reason"]
    assert [j.id for j in service.store.list_jobs()] == [job_id]  # nothing submitted
    assert service.store.get_job(job_id).status.value == "running"  # nothing stopped
    assert service.store.get_job(job_id).spec.budget.max_trials == 4  # nothing changed


# ---- schedules ------------------------------------------------------------------------


def create_schedule(user_arn: str, name: str = "nightly") -> dict[str, Any]:
    status, body = as_(user_arn, "POST", "/jobs", sagemaker_spec(name=name, schedule="rate(1 day)"))
    assert status == 201, body
    return body


def test_schedule_names_are_per_owner_and_each_lists_its_own(service: TuningService, scheduler: Any) -> None:
    mine, bobs = create_schedule(ALICE), create_schedule(BOB)  # a name taken by Alice does not block Bob
    create_schedule(RUN_1, "hourly")
    assert mine["name"] == bobs["name"] == "nightly" and mine["schedule_name"] != bobs["schedule_name"]
    assert as_(ALICE, "POST", "/jobs", sagemaker_spec(name="nightly", schedule="rate(2 days)"))[0] == 409

    def listed(user_arn: str) -> list[str]:
        status, body = as_(user_arn, "GET", "/schedules")
        assert status == 200, body
        return [s["name"] for s in body["schedules"]]

    assert listed(ALICE) == listed(BOB) == ["nightly"]
    assert listed(RUN_2) == ["hourly"]
    assert listed(STRANGER) == []
    assert as_(ALICE, "GET", "/schedules")[1]["schedules"][0]["schedule_arn"] == mine["schedule_arn"]


def test_a_schedule_is_deleted_by_its_owner_only(service: TuningService, scheduler: Any) -> None:
    create_schedule(ALICE)
    create_schedule(RUN_1, "hourly")
    for other in (BOB, STRANGER, ADMIN):
        status, body = as_(other, "DELETE", "/schedules/nightly")
        assert (status, body) == (404, {"field": None, "reason": "schedule 'nightly' not found"})
    assert as_(RUN_2, "DELETE", "/schedules/hourly") == (200, {"name": "hourly", "deleted": True})
    assert as_(ALICE, "DELETE", "/schedules/nightly") == (200, {"name": "nightly", "deleted": True})
    assert scheduler.list_schedules(GroupName="hyperstep")["Schedules"] == []
    assert as_(ALICE, "DELETE", "/schedules/nightly")[0] == 404


def test_a_schedules_jobs_belong_to_its_owner(service: TuningService, scheduler: Any) -> None:
    created = create_schedule(RUN_1)
    tick = delivered(scheduler.get_schedule(Name=created["schedule_name"], GroupName="hyperstep")["Target"]["Input"])
    started = start.lambda_handler(tick, Context(function_name="hyperstep-start"))
    assert [j["job_id"] for j in as_(RUN_2, "GET", "/jobs")[1]["jobs"]] == [started["job_id"]]
    assert as_(ALICE, "GET", f"/jobs/{started['job_id']}")[0] == 404


# ---- secrets --------------------------------------------------------------------------


def secret_spec() -> dict[str, Any]:
    document = sagemaker_spec()
    document["trial"]["environment"] = {"DB_PASSWORD": SECRET, "API_TOKEN": f"token-{SECRET}"}
    return document


def test_environment_values_appear_in_no_answer_log_line_or_event(
    service: TuningService, published: Recorder, logged: Callable[[], list[logging.LogRecord]]
) -> None:
    status, accepted = as_(ALICE, "POST", "/jobs", secret_spec())
    assert status == 202
    job_id = accepted["job_id"]
    assert service.store.get_job(job_id).spec.trial.environment["DB_PASSWORD"] == SECRET  # kept to launch with
    plan = service.suggest(SuggestRequest(job_id=job_id))
    answers = [
        accepted,
        as_(ALICE, "GET", "/jobs")[1],
        as_(ADMIN, "GET", f"/jobs/{job_id}")[1],
        as_(ALICE, "GET", f"/jobs/{job_id}/trials")[1],
        as_(ALICE, "PATCH", f"/jobs/{job_id}", {"max_trials": 5})[1],
        as_(ALICE, "POST", f"/jobs/{job_id}/stop")[1],
    ]
    detail = as_(ALICE, "GET", f"/jobs/{job_id}")[1]
    assert detail["spec"]["trial"]["environment"] == {"DB_PASSWORD": "***", "API_TOKEN": "***"}
    service.finish(FinishRequest(job_id=job_id))
    assert plan.trial_ids and [kind for kind, _ in published.events] == ["Tuning Job Completed"]
    lines = json.dumps([{**vars(r), "text": r.getMessage()} for r in logged()], default=str)  # messages, extra keys
    assert "job submitted" in lines and "job stopping" in lines  # the function's log lines were captured
    assert "Calling API Route Handler" in lines  # and the resolver's, with the route's arguments
    for text in [*map(json.dumps, answers), json.dumps(detail), json.dumps(published.events), lines]:
        assert SECRET not in text


def test_a_schedule_shows_no_environment_value_to_getschedule_and_keeps_its_spec_until_deleted(
    service: TuningService, scheduler: Any
) -> None:
    """A schedule's target input is shown to anyone allowed scheduler:GetSchedule: it names the
    schedule and owner only; the spec (with its environment) is kept in the store, which the
    tick reads, and goes with the schedule."""
    status, created = as_(ALICE, "POST", "/jobs", {**secret_spec(), "schedule": "rate(1 day)"})
    assert status == 201, created
    name = created["schedule_name"]
    target = scheduler.get_schedule(Name=name, GroupName="hyperstep")["Target"]
    assert SECRET not in json.dumps(target) and delivered(target["Input"]) == {
        "schedule_name": name,
        "owner": ALICE,
        "scheduled_time": TICK_TIME,
    }
    kept = service.store.get_schedule_spec(name)
    assert kept is not None and kept.spec["trial"]["environment"]["DB_PASSWORD"] == SECRET
    started = start.lambda_handler(delivered(target["Input"]), Context(function_name="hyperstep-start"))
    assert service.store.get_job(started["job_id"]).spec.trial.environment["DB_PASSWORD"] == SECRET
    assert as_(ALICE, "DELETE", "/schedules/mnist")[0] == 200
    assert service.store.get_schedule_spec(name) is None
    jobs = len(service.store.list_jobs())
    late = start.lambda_handler(delivered(target["Input"]), Context(function_name="hyperstep-start"))
    assert late == {"skipped": "the schedule was deleted"}  # a tick already on its way: no error to retry
    assert len(service.store.list_jobs()) == jobs


def test_a_tick_never_starts_a_spec_kept_for_another_owner(service: TuningService) -> None:
    service.store.put_schedule_spec("nightly", BOB, sagemaker_spec(schedule="rate(1 day)"))
    tick = start.lambda_handler({"schedule_name": "nightly", "owner": ALICE}, Context(function_name="hyperstep-start"))
    assert tick == {"skipped": "the schedule was deleted"}
    assert service.store.list_jobs() == []
