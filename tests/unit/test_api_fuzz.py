"""The API fuzz, fast slice: every route of ``openapi.json``, every hostile body, and
generated requests (fixed seed) through the real handler with the AWS service in moto.
The full run is ``python -m benchmarks.api_fuzz --examples N`` (README, "Bad input")."""

from __future__ import annotations

from collections import defaultdict

from benchmarks.api_fuzz import FAST_EXAMPLES, run
from benchmarks.api_fuzz_requests import HOSTILE, routes


def test_every_request_gets_a_documented_json_answer() -> None:
    report = run(FAST_EXAMPLES, seed=0)
    assert report.ok, "\n".join(report.violations[:20])
    every = routes()
    assert report.requests == len(every) + len(every) * len(HOSTILE) * 2 + FAST_EXAMPLES
    answered: dict[str, set[int]] = defaultdict(set)
    for route, status in report.statuses:
        answered[route].add(status)
    for route in every:  # each route's work answered (its good request), not only its refusals
        assert any(200 <= s < 300 for s in answered[route.name]), (route.name, answered[route.name])
        assert {413, 415, 422} <= answered[route.name], (route.name, answered[route.name])
    assert {201, 202, 409} <= answered["POST /jobs"]


def test_a_2xx_for_a_body_its_route_s_schema_refuses_is_a_violation() -> None:
    """The rule is silent while the API and ``openapi.json`` agree, as in the run above: held
    here against a body the schema refuses, as JSON and as base64, and one it takes."""
    import base64
    import json

    from benchmarks.api_fuzz import ApiUnderMoto
    from benchmarks.api_fuzz_requests import OPENAPI

    document = json.loads(OPENAPI.read_text())
    harness = ApiUnderMoto(document)
    patch = next(route for route in routes(document) if route.name == "PATCH /jobs/{job_id}")
    lax = json.dumps({"max_trials": "10"})
    for event in ({"body": lax}, {"body": base64.b64encode(lax.encode()).decode(), "isBase64Encoded": True}):
        (problem,) = harness.body_outside_its_schema(patch, event)
        assert problem.startswith("PATCH /jobs/{job_id}: accepted a body its schema refuses at max_trials: ")
    assert harness.body_outside_its_schema(patch, {"body": json.dumps({"max_trials": 10})}) == []
