"""POST /jobs with an ``Idempotency-Key`` header: Powertools idempotency over the job table
(moto's DynamoDB), so a retried submit answers the first answer and starts nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hyperstep.service import TuningService
from hyperstep.stores.dynamodb_items import create_table
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep_functions.api import app as api
from tests.lambda_context import LambdaContext
from tests.unit.test_api import proxy_event, sagemaker_spec
from tests.unit.test_service import FakeBackend, FakeOrchestrator

TABLE = "hyperstep-idempotency-test"
ADA = "arn:aws:iam::123456789012:user/ada"


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch, service: TuningService) -> Iterator[Any]:
    credentials = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    for key, value in {**credentials, "HYPERSTEP_TABLE": TABLE}.items():
        monkeypatch.setenv(key, value)
    api.idempotent_submit.cache_clear()
    with mock_aws():
        client = boto3.client("dynamodb")
        create_table(client, TABLE)
        yield client
    api.idempotent_submit.cache_clear()


def post(
    document: dict[str, Any], key: str | None, user: str = "arn:aws:iam::123456789012:user/ada"
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
    event = proxy_event("POST", "/jobs", {"userArn": user}, json.dumps(document), headers=headers)
    response = api.lambda_handler(event, LambdaContext())
    return int(response["statusCode"]), json.loads(response["body"])


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> TuningService:
    backend = FakeBackend()
    svc = TuningService(SQLiteStore(), {"sagemaker": backend, "batch": backend}, FakeOrchestrator())
    monkeypatch.setattr(api, "service", lambda: svc)
    return svc


def test_a_retried_submit_with_the_same_key_returns_the_first_job(table: Any, service: TuningService) -> None:
    first = post(sagemaker_spec(), "k-1")
    again = post(sagemaker_spec(), "k-1")
    assert first[0] == again[0] == 202
    assert again[1] == first[1]
    assert [job.id for job in service.store.list_jobs()] == [first[1]["job_id"]]


def test_other_keys_other_callers_and_no_key_each_start_a_job(table: Any, service: TuningService) -> None:
    ids = {
        post(sagemaker_spec(), "k-1")[1]["job_id"],
        post(sagemaker_spec(), "k-2")[1]["job_id"],
        post(sagemaker_spec(), "k-1", user="arn:aws:iam::123456789012:user/bob")[1]["job_id"],
        post(sagemaker_spec(), None)[1]["job_id"],
        post(sagemaker_spec(), None)[1]["job_id"],
    }
    assert len(ids) == 5 == len(service.store.list_jobs())


def test_the_same_key_with_another_spec_is_refused(table: Any, service: TuningService) -> None:
    assert post(sagemaker_spec(), "k-1")[0] == 202
    status, body = post(sagemaker_spec(name="other"), "k-1")
    assert status == 422 and body["field"] == "Idempotency-Key" and "another spec" in body["reason"]
    assert len(service.store.list_jobs()) == 1


def test_a_refused_spec_leaves_the_key_free(table: Any, service: TuningService) -> None:
    bad = sagemaker_spec(budget={"max_trials": 0})
    assert post(bad, "k-1")[0] == 422
    assert post(sagemaker_spec(), "k-1")[0] == 202


def test_an_overlong_job_id_is_a_422_naming_it(service: TuningService) -> None:
    from tests.unit.test_api import call

    status, body = call("GET", "/jobs/" + "x" * 300)
    assert status == 422 and body["field"] == "job_id"


@pytest.mark.parametrize(("key", "reason"), [("", "at least 1 character"), ("k" * 256, "at most 255 characters")])
def test_a_bad_key_is_a_422_naming_the_header_as_documented(table: Any, key: str, reason: str) -> None:
    """The 422 named ``idempotency-key`` (Powertools' lower-case reading) while every other
    answer about the header, and the OpenAPI document, name ``Idempotency-Key``."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    event = proxy_event("POST", "/jobs", {"userArn": ADA}, json.dumps(sagemaker_spec()), headers=headers)
    response = api.lambda_handler(event, LambdaContext())
    body = json.loads(response["body"])
    assert (response["statusCode"], body["field"]) == (422, "Idempotency-Key") and reason in body["reason"]


class FlakyOrchestrator(FakeOrchestrator):
    """StartExecution fails as often as ``failures`` says (a throttle, ExecutionLimitExceeded)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.tried: list[str] = []

    def start_execution(self, job_id: str, name: str) -> str:
        if self.failures:
            self.failures -= 1
            self.tried.append(name)
            raise RuntimeError("ExecutionLimitExceeded")
        return super().start_execution(job_id, name)


def test_a_retry_after_a_failed_start_carries_the_first_job_on(table: Any, service: TuningService) -> None:
    """The first try stored the job, its start failed (500; the key's record dropped): the
    retry with the same key starts that job, under the same execution name, not a second one."""
    service.orchestrator = FlakyOrchestrator(failures=1)
    assert post(sagemaker_spec(), "k-1")[0] == 500
    (failed,) = service.store.list_jobs()
    status, body = post(sagemaker_spec(), "k-1")
    assert (status, body["job_id"], body["status"]) == (202, failed.id, "running")
    assert [job.id for job in service.store.list_jobs()] == [failed.id]
    assert service.orchestrator.started == service.orchestrator.tried  # one name: a start that landed is the one
    assert post(sagemaker_spec(), "k-1")[1] == body


def test_a_key_whose_record_expired_keeps_its_job_for_its_spec(table: Any, service: TuningService) -> None:
    """Past the records' 24 h the job the key made still answers for it: the same spec gets
    that job, started once; another spec is refused as within the 24 h."""
    first = post(sagemaker_spec(), "k-1")[1]
    table.delete_item(TableName=TABLE, Key={"pk": {"S": "idempotency#submit"}, "sk": scan_sk(table)})
    assert post(sagemaker_spec(), "k-1")[1]["job_id"] == first["job_id"]
    assert len(service.orchestrator.started) == 1
    table.delete_item(TableName=TABLE, Key={"pk": {"S": "idempotency#submit"}, "sk": scan_sk(table)})
    status, body = post(sagemaker_spec(budget={"max_trials": 7}), "k-1")
    assert status == 422 and body["field"] == "Idempotency-Key"
    assert len(service.store.list_jobs()) == 1


def scan_sk(table: Any) -> dict[str, str]:
    """The sort key of the one idempotency record in the table."""
    (item,) = [i for i in table.scan(TableName=TABLE)["Items"] if i["pk"]["S"] == "idempotency#submit"]
    return item["sk"]


def test_a_key_given_twice_is_a_422_saying_so(table: Any, service: TuningService) -> None:
    """Two Idempotency-Key headers reached the model as a list: "Input should be a valid
    string", as a repeated query parameter did before it was worded."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": "b"}
    event = proxy_event("POST", "/jobs", {"userArn": ADA}, json.dumps(sagemaker_spec()), headers=headers)
    event["multiValueHeaders"]["Idempotency-Key"] = ["a", "b"]
    response = api.lambda_handler(event, LambdaContext())
    body = json.loads(response["body"])
    assert (response["statusCode"], body) == (
        422,
        {"field": "Idempotency-Key", "reason": "given more than once: give it once"},
    )
    assert service.store.list_jobs() == []
