"""Every request gets a JSON answer its route documents (issue 7, item 6).

Each case here escaped the handler before (a 502 from API Gateway) or answered outside the
documented responses: hostile bodies, a route's unforeseen exception, Scheduler refusing
a schedule, and a page of trials over Lambda's 6 MB response limit.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from hyperstep import remote
from hyperstep.models import Trial
from hyperstep.recurring import RecurringSchedules
from hyperstep.service import TuningService
from hyperstep_functions.api import app as api
from tests.unit.test_api import OPENAPI, Context, call, proxy_event, sagemaker_spec
from tests.unit.test_api import service as service  # the fixture

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
SPEC = json.dumps(sagemaker_spec())


def send(body: str | None, content_type: str | None = "application/json", encoded: bool = False) -> dict[str, Any]:
    """POST /jobs with this raw body; the handler's whole proxy response."""
    headers = {"Content-Type": content_type} if content_type else {}
    identity = {"userArn": "arn:aws:iam::123456789012:user/alice"}
    event = proxy_event("POST", "/jobs", identity, body, headers=headers, encoded=encoded)
    return api.lambda_handler(event, Context())


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    def not_json(name: str) -> None:
        raise ValueError(f"{name} in a response body")

    return int(response["statusCode"]), json.loads(response["body"], parse_constant=not_json)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"name": ' + "9" * 5000 + "}", "number literal longer than"),
        ('{"budget": {"max_trials": ' + "1" * 4400 + "}}", "number literal longer than"),
        ('{"a": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeper than"),
        ("[" * 5000 + "]" * 5000, "not a list"),  # a list body is refused before it is parsed
        ('{"a":' * 100 + "1" + "}" * 100, "nested deeper than"),
        (SPEC.replace('"max_trials": 4', '"max_trials": NaN'), "NaN is not a JSON value"),
        (SPEC.replace('"low": 0.0001', '"low": -Infinity'), "-Infinity is not a JSON value"),
        (SPEC.replace('"low": 0.0001', '"low": 1e999'), "out of range"),
        ('{"name": "a", "name": "b"}', "duplicate key 'name'"),
    ],
)
def test_json_that_python_chokes_on_or_that_is_not_json_is_a_422_naming_the_body(
    service: TuningService, body: str, reason: str
) -> None:
    status, problem = answer(send(body))
    assert status == 422
    assert problem["field"] == "body" and reason in problem["reason"]
    assert service.store.list_jobs() == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (SPEC, "multipart/form-data"),  # no boundary
        ('--x\r\nContent-Disposition: form-data; name="name"\r\n\r\n€\r\n--x--', "multipart/form-data; boundary=x"),
        ("name=mnist", "application/x-www-form-urlencoded"),
        (SPEC, "text/plain"),
    ],
)
def test_a_body_that_is_not_declared_json_is_a_415_naming_the_content_type(
    service: TuningService, body: str, content_type: str
) -> None:
    status, problem = answer(send(body, content_type))
    assert status == 415 and problem["field"] == "Content-Type" and content_type[:20] in problem["reason"]


@pytest.mark.parametrize("content_type", [None, "application/json; charset=utf-8", "Application/JSON"])
def test_json_declared_any_way_or_not_at_all_is_read(service: TuningService, content_type: str | None) -> None:
    assert answer(send(SPEC, content_type))[0] == 202


@pytest.mark.parametrize("content_type", ["multipart/form-data", "text/plain"])
def test_no_body_is_no_body_whatever_its_declared_type(service: TuningService, content_type: str) -> None:
    status, problem = answer(send("", content_type))
    assert status == 422 and problem["field"] == "body" and "Field required" in problem["reason"]


def test_a_base64_body_is_decoded(service: TuningService) -> None:
    assert answer(send(base64.b64encode(SPEC.encode()).decode(), encoded=True))[0] == 202


@pytest.mark.parametrize("encoded", [False, True])
def test_a_body_that_starts_with_a_bom_is_read_as_the_cli_reads_the_file(service: TuningService, encoded: bool) -> None:
    """A spec file saved by a Windows editor starts with a BOM: ``hyperstep validate`` reads it
    (``read_text_file``), and RFC 8259 lets a parser skip it; sent as it is (``curl
    --data-binary @spec.json``, PowerShell's ``-InFile``) it was a 422, "Unexpected UTF-8 BOM
    (decode using utf-8-sig)"."""
    data = "\ufeff".encode() + SPEC.encode()
    status, accepted = answer(send(base64.b64encode(data).decode() if encoded else data.decode(), encoded=encoded))
    assert status == 202
    assert service.store.get_job(accepted["job_id"]).spec.name == "mnist"


@pytest.mark.parametrize(
    ("body", "encoded", "reason"),
    [
        ("not base64!", True, "not base64"),
        (base64.b64encode(b'{"name": "\xff"}').decode(), True, "not UTF-8 text (byte 10)"),
        ('{"name": "\ud800"}', False, "not UTF-8 text"),
    ],
)
def test_a_body_that_is_not_utf8_text_is_a_422(service: TuningService, body: str, encoded: bool, reason: str) -> None:
    status, problem = answer(send(body, encoded=encoded))
    assert status == 422 and problem == {"field": "body", "reason": problem["reason"]} and reason in problem["reason"]


def test_a_body_over_a_megabyte_is_a_413(service: TuningService) -> None:
    status, problem = answer(send(json.dumps({**sagemaker_spec(), "padding": "x" * 1_000_000})))
    assert status == 413 and problem["field"] == "body"


def test_an_unforeseen_error_is_a_500_with_the_request_id_and_nothing_else(
    service: TuningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> TuningService:
        raise RuntimeError("secret detail of the internals")

    monkeypatch.setattr(api, "service", broken)
    response = send(SPEC)
    assert answer(response) == (500, {"reason": "internal error", "request_id": "request-1"})
    assert "secret" not in response["body"] and "Traceback" not in response["body"]


def test_an_event_the_resolver_cannot_read_is_a_500_too() -> None:
    status, body = answer(api.lambda_handler({"body": None}, Context()))
    assert (status, body) == (500, {"reason": "internal error", "request_id": "request-1"})


def test_a_path_no_route_takes_is_a_404_naming_the_path(service: TuningService) -> None:
    assert call("GET", "/jobs/a/b/c") == (404, {"field": "path", "reason": "no such resource"})


class RefusingScheduler:
    """A Scheduler client answering ``create_schedule`` with one AWS error."""

    def __init__(self, code: str, message: str) -> None:
        self.error = {"Error": {"Code": code, "Message": message}}

    def create_schedule(self, **kwargs: Any) -> dict[str, Any]:
        raise ClientError(self.error, "CreateSchedule")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ("ValidationException", 422, "EventBridge Scheduler refused it: Invalid Schedule Expression"),
        ("ConflictException", 409, "already exists"),
    ],
)
def test_scheduler_refusing_the_schedule_is_a_4xx_naming_the_schedule(
    service: TuningService, monkeypatch: pytest.MonkeyPatch, code: str, status: int, reason: str
) -> None:
    client = RefusingScheduler(code, "Invalid Schedule Expression cron(0 3 * * ? *).")
    adapter = RecurringSchedules(client, "hyperstep", "arn:start", "arn:role")
    monkeypatch.setattr(api, "schedules", lambda: adapter)
    got, problem = call("POST", "/jobs", sagemaker_spec(schedule="cron(0 3 * * ? *)"))
    assert (got, problem["field"]) == (status, "schedule") and reason in problem["reason"]


def test_a_cron_field_out_of_range_is_refused_before_scheduler_sees_it(service: TuningService) -> None:
    status, problem = call("POST", "/jobs", sagemaker_spec(schedule="cron(0 25 * * ? *)"))
    assert status == 422 and problem["field"] == "schedule" and "hours: '25' is not in 0-23" in problem["reason"]


def test_a_page_of_large_trials_fits_lambdas_response_and_the_pages_cover_every_trial(service: TuningService) -> None:
    """400 trials of ~18 KB each as Lambda sends them ('é' and '"' escaped twice): 7 MB in one
    page before; now pages stop short of PAGE_BYTES and ``next_offset`` finds the rest."""
    job_id = call("POST", "/jobs", sagemaker_spec(budget={"max_trials": 400, "max_parallel": 1}))[1]["job_id"]
    note = 'é"' * 2000
    service.store.put_trials(
        [Trial(job_id=job_id, id=f"t{n:04d}", number=n, params={"note": note}) for n in range(400)]
    )
    seen, offset, pages = [], 0, 0
    while offset is not None:
        response = api.lambda_handler(trials_event(job_id, offset), Context())
        assert len(json.dumps(response)) < LAMBDA_RESPONSE_LIMIT
        status, page = answer(response)
        assert status == 200 and page["trials"]
        seen += [t["id"] for t in page["trials"]]
        offset, pages = page["next_offset"], pages + 1
    assert seen == [f"t{n:04d}" for n in range(400)] and pages == 2


def test_the_cli_follows_pages_cut_by_size(service: TuningService, monkeypatch: pytest.MonkeyPatch) -> None:
    """``hyperstep trials --api`` (``remote.trials``) gets every trial when the API cuts
    pages by bytes rather than by count (its requests answered by the handler in-process)."""
    job_id = call("POST", "/jobs", sagemaker_spec(budget={"max_trials": 30, "max_parallel": 1}))[1]["job_id"]
    service.store.put_trials([Trial(job_id=job_id, id=f"t{n:04d}", number=n, params={"n": n}) for n in range(30)])
    monkeypatch.setattr(api, "PAGE_BYTES", 2_000)
    offsets: list[int] = []

    def in_process(method: str, url: str, body: Any, session: Any, key: str | None) -> dict[str, Any]:
        offset = int(parse_qs(urlsplit(url).query).get("offset", ["0"])[0])
        offsets.append(offset)
        status, page = answer(api.lambda_handler(trials_event(job_id, offset), Context()))
        assert status == 200
        return page

    monkeypatch.setattr(remote, "_send", in_process)
    every = remote.trials(job_id, "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/v1")
    assert [t["id"] for t in every["trials"]] == [f"t{n:04d}" for n in range(30)]
    assert len(offsets) > 3 and offsets == sorted(set(offsets))


def trials_event(job_id: str, offset: int) -> dict[str, Any]:
    path = f"/jobs/{job_id}/trials"
    return {
        "resource": "/jobs/{job_id}/trials",
        "path": path,
        "httpMethod": "GET",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": {"offset": str(offset)},
        "multiValueQueryStringParameters": {"offset": [str(offset)]},
        "pathParameters": {"job_id": job_id},
        "requestContext": {
            "stage": "v1",
            "httpMethod": "GET",
            "resourcePath": path,
            "requestId": "r-1",
            "identity": {"userArn": "arn:aws:iam::123456789012:user/alice"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def test_every_route_documents_the_refusals_and_the_500() -> None:
    document = json.loads(OPENAPI.read_text())
    for item in document["paths"].values():
        for operation in item.values():
            assert {"413", "415", "422", "500"} <= set(operation["responses"])
            assert operation["responses"]["500"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ServerError"
            }
    assert "501" in document["paths"]["/jobs"]["post"]["responses"]


@pytest.mark.parametrize(("choice", "kind"), [(None, "null"), ({"a": 1}, "a mapping"), ([1], "a list")])
def test_a_choice_that_is_no_scalar_is_named_by_its_json_kind_not_shown_as_python(
    service: TuningService, choice: Any, kind: str
) -> None:
    """The answer showed the value as Python writes it: ``got None``, ``got {'a': 1}``."""
    document = sagemaker_spec(parameters=[{"name": "c", "type": "categorical", "choices": ["x", choice]}])
    status, problem = answer(send(json.dumps(document)))
    assert (status, problem["field"]) == (422, "parameters.0.choices.1")
    assert problem["reason"] == f"a choice must be a string, number or boolean, not {kind}"
    assert service.store.list_jobs() == []
