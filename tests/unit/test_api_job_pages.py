"""``GET /jobs`` a page at a time: ``next_token`` out, ``?next_token=`` back in, per caller.

The real API handler over a SQLite store (``test_api_owners``' fixtures: Alice, Bob, an
admin); jobs are stored directly, with the owners and times a page turns on.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from hyperstep.http_input import query_routes
from hyperstep.models import Job
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.base import TrialStore
from hyperstep_functions.api import app as api
from tests.unit.test_api import proxy_event, sagemaker_spec
from tests.unit.test_api_owners import ADMIN, ALICE, BOB, raw
from tests.unit.test_api_owners import published as published  # the fixtures
from tests.unit.test_api_owners import service as service

SPEC = parse_spec(sagemaker_spec())


def listing(user_arn: str, **query: str) -> tuple[int, Any]:
    """``GET /jobs`` signed by ``user_arn``, with these query parameters."""
    identity = {"userArn": user_arn, "accountId": user_arn.split(":")[4], "caller": "AIDAEXAMPLE"}
    return raw(proxy_event("GET", "/jobs", identity, query=query or None))


def every_page(user_arn: str, limit: int) -> list[list[str]]:
    """The job ids of each page the caller is given, following ``next_token`` to the end."""
    pages, query = [], {"limit": str(limit)}
    while True:
        status, body = listing(user_arn, **query)
        assert status == 200, body
        pages.append([job["job_id"] for job in body["jobs"]])
        if body["next_token"] is None:
            return pages
        query = {"limit": str(limit), "next_token": body["next_token"]}


def store_jobs(store: TrialStore, owner: str, count: int, prefix: str, start: float = 1_700_000_000.0) -> list[str]:
    """``count`` jobs of ``owner``, one a second from ``start``; their ids, newest first."""
    for number in range(count):
        store.create_job(Job(id=f"{prefix}-{number:04d}", spec=SPEC, created_at=start + number, owner=owner))
    return [f"{prefix}-{number:04d}" for number in reversed(range(count))]


def test_a_caller_with_more_jobs_than_a_page_gets_the_rest_by_next_token(service: TuningService) -> None:
    """1,001 jobs: the largest page (1,000) says where the next starts; before, the 1,001st
    could not be listed at all."""
    alices = store_jobs(service.store, ALICE, 1001, "a")
    pages = every_page(ALICE, 1000)
    assert [len(page) for page in pages] == [1000, 1]
    assert [job for page in pages for job in page] == alices


def test_pages_hold_only_the_callers_jobs_and_an_admins_hold_every_job(service: TuningService) -> None:
    alices = store_jobs(service.store, ALICE, 5, "a")
    bobs = store_jobs(service.store, BOB, 4, "b", start=1_700_000_000.5)
    assert every_page(ALICE, 2) == [alices[0:2], alices[2:4], alices[4:5]]
    assert every_page(BOB, 2) == [bobs[0:2], bobs[2:4]]  # the last page full: its token is None
    newest_first = ["a-0004", "b-0003", "a-0003", "b-0002", "a-0002", "b-0001", "a-0001", "b-0000", "a-0000"]
    assert [job for page in every_page(ADMIN, 4) for job in page] == newest_first


def test_a_page_answer_only_adds_next_token(service: TuningService) -> None:
    store_jobs(service.store, ALICE, 2, "a")
    status, body = listing(ALICE)
    assert status == 200 and set(body) == {"jobs", "next_token"} and body["next_token"] is None
    assert [job["job_id"] for job in body["jobs"]] == ["a-0001", "a-0000"]


def forged(created_at: float, job_id: str, scope: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, job_id, scope]).encode()).decode()


@pytest.mark.parametrize(
    "token",
    ["not-a-token", "", "e30", forged(1.0, "a-0001", "0" * 16), forged(float("nan"), "a-0001", "*"), "x" * 5000],
)
def test_a_token_no_answer_gave_is_a_400_naming_next_token(service: TuningService, token: str) -> None:
    store_jobs(service.store, ALICE, 3, "a")
    status, body = listing(ALICE, limit="1", next_token=token)
    assert status == 400 and body["field"] == "next_token", body


def test_another_callers_token_is_refused_and_shows_nothing_of_theirs(service: TuningService) -> None:
    store_jobs(service.store, ALICE, 3, "a")
    store_jobs(service.store, BOB, 3, "b")
    alices_token = listing(ALICE, limit="1")[1]["next_token"]
    admins_token = listing(ADMIN, limit="1")[1]["next_token"]
    for caller, token in ((BOB, alices_token), (ALICE, admins_token), (ADMIN, alices_token)):
        status, body = listing(caller, limit="1", next_token=token)
        assert (status, body["field"]) == (400, "next_token"), body
        assert "another caller's listing" in body["reason"]


def test_a_query_parameter_given_twice_is_a_422_saying_so(service: TuningService) -> None:
    """API Gateway hands both values (``multiValueQueryStringParameters``) and Powertools
    validated the list: "Input should be a valid integer" for ``?limit=5&limit=6``."""
    identity = {"userArn": ALICE, "accountId": ALICE.split(":")[4], "caller": "AIDAEXAMPLE"}
    event = proxy_event("GET", "/jobs", identity, query={"limit": "6"})
    event["multiValueQueryStringParameters"] = {"limit": ["5", "6"]}
    assert raw(event) == (422, {"field": "limit", "reason": "given more than once: give it once"})


@pytest.mark.parametrize("value", ["5_0", " 5", "5 ", "+5", "\u0665", "5.0", "1e2", "", "five"])
@pytest.mark.parametrize(
    ("path", "name"), [("/jobs", "limit"), ("/jobs/j-1/trials", "limit"), ("/jobs/j-1/trials", "offset")]
)
def test_an_integer_query_parameter_is_digits_or_a_422_naming_it(
    service: TuningService, path: str, name: str, value: str
) -> None:
    """The published schema says integer, and Python's ``int()`` (which Powertools' validation
    reads a query string with) took more: ``?limit=5_0`` answered 50 jobs, `` 5`` and ``+5``
    passed. A caller's typo is refused, naming the parameter; digits (a leading minus) pass on
    to the bounds."""
    identity = {"userArn": ALICE, "accountId": ALICE.split(":")[4], "caller": "AIDAEXAMPLE"}
    status, answer = raw(proxy_event("GET", path, identity, query={name: value}))
    assert (status, answer) == (422, {"field": name, "reason": f"should be an integer in digits, not {value!r}"})


def test_an_integer_query_parameter_in_digits_reaches_its_bounds(service: TuningService) -> None:
    identity = {"userArn": ALICE, "accountId": ALICE.split(":")[4], "caller": "AIDAEXAMPLE"}
    assert raw(proxy_event("GET", "/jobs", identity, query={"limit": "7"}))[0] == 200
    status, answer = raw(proxy_event("GET", "/jobs", identity, query={"limit": "-1"}))
    assert (status, answer["field"]) == (422, "limit")
    assert "greater than or equal to 1" in answer["reason"]
    status, answer = raw(proxy_event("GET", "/jobs", identity, query={"limit": "1" * 300}))
    assert (status, answer["field"]) == (422, "limit")
    assert "1" * 300 not in answer["reason"], "a long value is shown clipped"


@pytest.mark.parametrize(
    ("method", "path", "query", "takes"),
    [
        ("GET", "/jobs", {"limt": "5"}, "limit, next_token"),  # a typo answered the default page
        ("GET", "/jobs", {"owner": "arn:aws:iam::123456789012:user/bob"}, "limit, next_token"),
        ("GET", "/jobs/j-1/trials", {"next_token": "x"}, "limit, offset"),
        ("GET", "/jobs/j-1", {"fields": "spec"}, "none"),
        ("POST", "/jobs/j-1/stop", {"force": "true"}, "none"),
        ("POST", "/jobs", {"dry_run": "1"}, "none"),
        ("GET", "/schedules", {"all": "1"}, "none"),
        # API Gateway routes a path with a trailing slash to its resource, and so does Powertools
        ("POST", "/jobs/", {"dry_run": "1"}, "none"),
        ("GET", "/jobs//", {"limt": "5"}, "limit, next_token"),
        ("GET", "/jobs/j-1/trials/", {"next_token": "x"}, "limit, offset"),
    ],
)
def test_a_query_parameter_its_route_does_not_take_is_a_422_naming_it(
    service: TuningService, method: str, path: str, query: dict[str, str], takes: str
) -> None:
    """Powertools ignores a query parameter no route declares: ``?limt=5`` answered a page of
    100 as if asked for, ``POST /jobs?dry_run=1`` started the job. Refused before anything is
    read or stored."""
    identity = {"userArn": ALICE, "accountId": ALICE.split(":")[4], "caller": "AIDAEXAMPLE"}
    body = sagemaker_spec() if path.rstrip("/") == "/jobs" and method == "POST" else None
    status, answer = raw(proxy_event(method, path, identity, body, query=query))
    (name,) = query
    assert (status, answer) == (422, {"field": name, "reason": f"unknown query parameter (this route takes: {takes})"})
    assert service.store.list_jobs() == []


def test_an_unknown_query_parameter_is_named_clipped(service: TuningService) -> None:
    """Its whole name came back as the answer's field, as a spec's unknown key did."""
    identity = {"userArn": ALICE, "accountId": ALICE.split(":")[4], "caller": "AIDAEXAMPLE"}
    status, answer = raw(proxy_event("GET", "/jobs", identity, query={"q" * 8000: "1"}))
    assert (status, answer["field"]) == (422, "q" * 38 + "... (8,000 characters)")


def test_a_request_signed_in_its_query_string_is_not_refused_for_its_signature(service: TuningService) -> None:
    """Signature Version 4 can sign a request in its query string (X-Amz-Algorithm, -Credential,
    -Date, -Expires, -SignedHeaders, -Signature, -Security-Token: AWS's "Common Parameters");
    API Gateway passes them on, and they are no route's parameters to refuse."""
    identity = {"userArn": ALICE, "accountId": ALICE.split(":")[4], "caller": "AIDAEXAMPLE"}
    signed = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": "AKIDEXAMPLE/20261202/us-east-1/execute-api/aws4_request",
        "X-Amz-Date": "20261202T120000Z",
        "X-Amz-Expires": "300",
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Signature": "0" * 64,
        "limit": "1",
    }
    status, answer = raw(proxy_event("GET", "/jobs", identity, query=signed))
    assert status == 200, answer
    status, answer = raw(proxy_event("GET", "/jobs", identity, query={**signed, "limt": "1"}))
    assert (status, answer["field"]) == (422, "limt")
    status, answer = raw(proxy_event("GET", "/jobs", identity, query={**signed, "X-Amz-Dry-Run": "1"}))
    assert (status, answer["field"]) == (422, "X-Amz-Dry-Run"), "an X-Amz- name SigV4 does not define passed"


def test_a_request_without_a_query_does_not_build_the_routes(service: TuningService) -> None:
    """The routes' query parameters come from the OpenAPI document, whose first build takes
    0.4-0.5 s of CPU (measured in a fresh interpreter, load 3): a cold API function paid it
    on its first request, with a query or not. Now only a request with a query parameter
    (not one of SigV4's) builds them."""
    identity = {"userArn": ALICE, "accountId": ALICE.split(":")[4], "caller": "AIDAEXAMPLE"}
    api.routes.cache_clear()
    status, answer = raw(proxy_event("GET", "/jobs", identity, query={"X-Amz-Signature": "0" * 64}))
    assert status == 200, answer
    assert raw(proxy_event("POST", "/jobs", identity, sagemaker_spec()))[0] == 202
    assert api.routes.cache_info().currsize == 0
    assert raw(proxy_event("GET", "/jobs", identity, query={"limit": "1"}))[0] == 200
    assert api.routes.cache_info().currsize == 1


def test_the_routes_are_read_from_the_committed_document_not_generated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generating the OpenAPI document from the resolver took 0.4-0.55 s of CPU on a cold API
    function's first request with a query; the committed ``openapi.json`` (kept equal to the
    generated one by test_api) gives the same routes in about 2 ms."""
    generated = query_routes(
        api.app.get_openapi_schema().model_dump(mode="json", by_alias=True, exclude_none=True)["paths"]
    )

    def not_generated() -> None:
        raise AssertionError("the OpenAPI document was generated on a request")

    monkeypatch.setattr(api.app, "get_openapi_schema", not_generated)
    api.routes.cache_clear()
    try:
        assert api.routes() == generated
    finally:
        api.routes.cache_clear()
