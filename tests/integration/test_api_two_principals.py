"""Two IAM principals against the deployed API under moto: neither reads, changes nor stops
the other's job, whatever the route (``test_api_owners`` holds the same rules over SQLite).

The requests go through moto's Lambda to the API function, its store DynamoDB, as API
Gateway hands an IAM-signed request over (``requestContext.identity.userArn``). Bob knows
Alice's job id (it is not secret: it shows in names, tags and logs) and tries every route
with it, spelled as given and as a path may spell it otherwise; he reuses her
``Idempotency-Key`` with her spec, and her listing's page token.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hyperstep.models import JobStatus
from tests.integration.moto_harness import REPO, MotoStack, moto_stack
from tests.integration.test_iam_from_calls import spec
from tests.unit.test_api import proxy_event

IDENTITY = json.loads((REPO / "events" / "api-post-jobs.json").read_text())["requestContext"]["identity"]
ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"


def as_(
    stack: MotoStack,
    who: str,
    method: str,
    path: str,
    body: Any = None,
    key: str | None = None,
    query: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """One request signed by ``who``, through moto's Lambda to the API function."""
    headers = {"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})}
    event = proxy_event(method, path, {**IDENTITY, "userArn": who}, body, headers=headers, query=query)
    response = stack.invoke("api", event)
    return response["statusCode"], json.loads(response["body"]) if response["body"] else None


@pytest.fixture(scope="module")
def deployed() -> Any:
    with moto_stack() as stack:
        yield stack


def test_another_principal_neither_reads_changes_nor_stops_a_job(deployed: MotoStack) -> None:
    status, accepted = as_(deployed, ALICE, "POST", "/jobs", spec("sagemaker", "alice-probe"))
    assert status == 202, accepted
    job_id = accepted["job_id"]
    missing = {"field": None, "reason": f"job {job_id!r} not found"}
    for method, route, body in [
        ("GET", "", None),
        ("GET", "/trials", None),
        ("PATCH", "", {"max_trials": 1}),
        ("POST", "/stop", None),
    ]:
        assert as_(deployed, BOB, method, f"/jobs/{job_id}{route}", body) == (404, missing), (method, route)
        for spelled in (job_id.upper(), f"{job_id}%20", f"%2E%2E/{job_id}"):  # no other spelling reaches it
            assert as_(deployed, BOB, method, f"/jobs/{spelled}{route}", body)[0] == 404, (method, spelled)
    assert job_id not in {j["job_id"] for j in as_(deployed, BOB, "GET", "/jobs")[1]["jobs"]}
    job = deployed.service.store.get_job(job_id)
    assert (job.status, job.spec.budget.max_trials, job.owner) == (JobStatus.RUNNING, 2, ALICE)
    assert as_(deployed, ALICE, "GET", f"/jobs/{job_id}")[0] == 200
    assert as_(deployed, ALICE, "POST", f"/jobs/{job_id}/stop")[0] == 202


def test_another_principals_idempotency_key_and_page_token_are_not_theirs(deployed: MotoStack) -> None:
    """The same key and spec from Bob make Bob's own job (the key is per caller), and Alice's
    page token is refused to him rather than paging through her jobs."""
    document = spec("sagemaker", "keyed-probe")
    status, alices = as_(deployed, ALICE, "POST", "/jobs", document, key="shared-key")
    assert status == 202, alices
    status, bobs = as_(deployed, BOB, "POST", "/jobs", document, key="shared-key")
    assert status == 202 and bobs["job_id"] != alices["job_id"], bobs
    assert deployed.service.store.get_job(bobs["job_id"]).owner == BOB
    as_(deployed, ALICE, "POST", "/jobs", spec("sagemaker", "keyed-probe-2"))
    status, page = as_(deployed, ALICE, "GET", "/jobs", query={"limit": "1"})
    assert status == 200 and page["next_token"], page
    status, refused = as_(deployed, BOB, "GET", "/jobs", query={"limit": "1", "next_token": page["next_token"]})
    assert (status, refused["field"]) == (400, "next_token"), refused
