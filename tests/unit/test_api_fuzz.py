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
