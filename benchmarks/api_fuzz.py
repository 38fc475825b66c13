"""Fuzz the HTTP API in-process: every route of ``openapi.json``, generated and hostile requests.

    .venv/bin/python -m benchmarks.api_fuzz [--examples 5000] [--seed N]   # -> results/api_fuzz.md

The real handler (``functions/api/app.py``) answers API Gateway REST proxy events drawn by
``api_fuzz_requests`` (hypothesis), with the real AWS service behind it in moto: the
DynamoDB table (idempotency records included), a Step Functions state machine, the
EventBridge Scheduler group. moto checks less than AWS, so every AWS call the API makes
is first held against botocore's service model (``tests/integration/aws_model.py``: the
``max``, ``enum`` and ``pattern`` AWS enforces) and refused with a ``ValidationException``
as AWS would. Every ``HOSTILE`` body goes to every route before the generated requests.

Each answer must be: no exception out of the handler; a status the route documents; a
body that is strict JSON (no NaN) and matches that status's documented schema; a 2xx only
for a request body the route's request schema takes; a 4xx with a reason (and, for
413/415/422, the field); never a 500 (under moto nothing fails inside, so a 500 is a
request the API did not foresee). ``make test`` runs a fast slice
(``tests/unit/test_api_fuzz.py``); ``run`` is what the fault-injection command calls.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "hyperstep-fuzz")  # read when the handler module loads

import boto3
import botocore.handlers
import hypothesis
import jsonschema
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from benchmarks.api_fuzz_requests import HOSTILE, OPENAPI, USERS, VALID_SPECS, Route, events, proxy_event, routes
from hyperstep.models import Trial
from hyperstep.recurring import RecurringSchedules
from hyperstep.spec import parse_spec
from hyperstep.stores.dynamodb import create_table
from hyperstep.wiring import build_aws_service
from hyperstep_functions.api import app as api
from tests.integration.aws_model import violations
from tests.lambda_context import LambdaContext

REGION, ACCOUNT, TABLE = "us-east-1", "123456789012", "hyperstep-fuzz"
START_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:hyperstep-start"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/hyperstep"
ENV = {
    "AWS_ACCESS_KEY_ID": "fuzz",
    "AWS_SECRET_ACCESS_KEY": "fuzz",
    "AWS_DEFAULT_REGION": REGION,
    "HYPERSTEP_TABLE": TABLE,
}
RESULT = Path(__file__).resolve().parent / "results" / "api_fuzz.md"
FAST_EXAMPLES = 1700
"""The ``make test`` slice (plus every hostile body on every route)."""


@dataclass
class Report:
    """What a run sent and got back; ``violations`` lists every answer that broke a rule."""

    requests: int = 0
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.violations


class ApiUnderMoto:
    """The API handler wired to the real AWS service in moto; ``send`` one event, get ``Outcome``."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = document.get("components", {}).get("schemas", {})
        self.job_ids: list[str] = []

    def answer(self, route: Route, event: dict[str, Any]) -> tuple[int | None, list[str]]:
        """Send the event; its status and the rules the answer broke."""
        context = LambdaContext()
        try:
            response = api.lambda_handler(event, context)
        except Exception as exc:  # an escaped exception is what we look for
            return None, [f"{route.name}: escaped {type(exc).__name__}: {str(exc)[:200]}"]
        status = response.get("statusCode")
        problems = self.check(route, response, context.aws_request_id)
        if isinstance(status, int) and 200 <= status < 300:
            problems += self.body_outside_its_schema(route, event)
        if route.name == "POST /jobs" and status == 202 and not problems:
            self.job_ids.append(json.loads(response["body"])["job_id"])  # later reads and stops find it
        return status, problems

    def check(self, route: Route, response: dict[str, Any], request_id: str) -> list[str]:
        status = response.get("statusCode")
        if status not in route.responses:
            return [f"{route.name}: status {status} is not documented ({sorted(route.responses)})"]
        try:
            body = json.loads(response.get("body") or "", parse_constant=_not_json)
        except ValueError as exc:
            return [f"{route.name}: {status} body is not JSON: {exc}"]
        schema = route.responses[status]
        problems = []
        if schema is not None:
            error = jsonschema.exceptions.best_match(self._validator(schema).iter_errors(body))
            if error is not None:
                problems.append(f"{route.name}: {status} body does not match its schema: {error.message[:200]}")
        if status == 500:
            problems.append(f"{route.name}: 500 {body} (request id {request_id})")
        elif status >= 400 and not (isinstance(body, dict) and body.get("reason")):
            problems.append(f"{route.name}: {status} without a reason: {body}")
        elif status in (413, 415, 422) and not body.get("field"):
            problems.append(f"{route.name}: {status} naming no field: {body}")
        return problems

    def body_outside_its_schema(self, route: Route, event: dict[str, Any]) -> list[str]:
        """A request accepted although its body breaks the route's published request schema
        (the API and ``openapi.json`` disagree: pydantic's lax mode took ``"10"`` for 10)."""
        body = event.get("body")
        if route.body_schema is None or not body:
            return []
        text = base64.b64decode(body) if event.get("isBase64Encoded") else body.removeprefix("\ufeff")  # as the API
        error = jsonschema.exceptions.best_match(self._validator(route.body_schema).iter_errors(json.loads(text)))
        if error is None:
            return []
        where = ".".join(map(str, error.absolute_path)) or "body"
        return [f"{route.name}: accepted a body its schema refuses at {where}: {error.message[:200]}"]

    def _validator(self, schema: dict[str, Any]) -> jsonschema.protocols.Validator:
        return jsonschema.Draft202012Validator({**schema, "components": self.document.get("components", {})})


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@contextmanager
def api_under_moto() -> Iterator[ApiUnderMoto]:
    """moto with the table, a state machine and the schedule group; the handler's service
    and scheduler adapter pointed at them; AWS's own input checks on every call."""
    with ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, ENV))
        stack.enter_context(mock_aws())
        stack.enter_context(aws_input_checks())
        create_table(boto3.client("dynamodb"), TABLE)
        machine = boto3.client("stepfunctions").create_state_machine(
            name="hyperstep-tuning",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn=ROLE_ARN,
        )["stateMachineArn"]
        boto3.client("scheduler").create_schedule_group(Name="hyperstep")
        service = build_aws_service({**ENV, "HYPERSTEP_STATE_MACHINE_ARN": machine})
        schedules = RecurringSchedules(boto3.client("scheduler"), "hyperstep", START_ARN, ROLE_ARN)
        stack.enter_context(mock.patch.object(api, "service", lambda: service))
        stack.enter_context(mock.patch.object(api, "schedules", lambda: schedules))
        stack.callback(api.logger.setLevel, api.logger.log_level)
        api.logger.setLevel(logging.CRITICAL)  # the 500s' stack traces show in the report, not on stdout
        api.idempotent_submit.cache_clear()
        stack.callback(api.idempotent_submit.cache_clear)
        harness = ApiUnderMoto(json.loads(OPENAPI.read_text()))
        for user, document in zip(USERS, VALID_SPECS[:2], strict=True):  # a job with trials for each user,
            job = service.submit(parse_spec(document), owner=user)  # so reads and stops find something
            service.store.put_trials(
                [Trial(job_id=job.id, id=f"t{n:04d}", number=n, params={"lr": 0.01}) for n in range(3)]
            )
            harness.job_ids.append(job.id)
        for user in USERS:  # a schedule for each user, so deletes find something
            for document in VALID_SPECS:
                if "schedule" in document:
                    schedules.create(parse_spec(document), user, service.store)
        yield harness


@contextmanager
def aws_input_checks() -> Iterator[None]:
    """Refuse, as AWS would, any call whose parameters break the service's model."""

    def check(params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        service = model.service_model.service_name
        found = violations(service, model.name, params)
        if found:
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "; ".join(found)[:500]}}, model.name)

    handler = ("before-parameter-build", check)
    botocore.handlers.BUILTIN_HANDLERS.append(handler)  # sessions made from now on (Powertools' own)
    default = boto3.DEFAULT_SESSION
    if default is not None:
        default.events.register("before-parameter-build", check, unique_id="hyperstep-fuzz-aws-input")
    try:
        yield
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(handler)
        if default is not None:
            default.events.unregister("before-parameter-build", unique_id="hyperstep-fuzz-aws-input")


def run(examples: int = FAST_EXAMPLES, seed: int | None = 0) -> Report:
    """Every hostile body on every route, then ``examples`` generated requests; the report.

    ``seed`` None draws fresh examples each run; a number repeats them exactly.
    """
    report, started = Report(), time.perf_counter()
    with api_under_moto() as harness:
        every = routes(harness.document)

        def send(route: Route, event: dict[str, Any]) -> None:
            status, problems = harness.answer(route, event)
            report.requests += 1
            report.statuses[(route.name, status or 0)] += 1
            report.violations += [f"{problem} <- {describe(event)}" for problem in problems]

        for route in every:  # first, one request each route does its work for (PATCH before stop)
            send(route, good_event(route, harness.job_ids[0]))
        for route in every:
            for body in HOSTILE:
                for content_type in ("application/json", "multipart/form-data"):
                    send(route, hostile_event(route, harness.job_ids[0], body, content_type))

        requests = st.one_of(
            [st.tuples(st.just(route), events(route, harness.job_ids, harness.components)) for route in every]
        )

        @settings(
            max_examples=examples,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        @given(requests)
        def fuzz(request: tuple[Route, dict[str, Any]]) -> None:
            send(*request)

        (fuzz if seed is None else hypothesis.seed(seed)(fuzz))()
    report.seconds = time.perf_counter() - started
    return report


def describe(event: dict[str, Any]) -> str:
    """The parts of a request that tell what it was, short."""
    headers = {
        k: v for k, v in (event.get("headers") or {}).items() if k.lower() in ("content-type", "idempotency-key")
    }
    body = event.get("body")
    shown = repr(body[:120]) + (f"... ({len(body):,} chars)" if len(body) > 120 else "") if body else repr(body)
    encoded = " (base64)" if event.get("isBase64Encoded") else ""
    query = event.get("multiValueQueryStringParameters")
    return f"{event['httpMethod']} {event['path'][:120]} query={query} headers={headers} body{encoded}={shown}"


GOOD_BODIES = {"PATCH /jobs/{job_id}": json.dumps({"max_trials": 20}), "POST /jobs": json.dumps(VALID_SPECS[0])}
"""A body each route that takes one accepts (the others are sent without a body)."""


def good_event(route: Route, job_id: str) -> dict[str, Any]:
    """A request of ``USERS[0]`` that ``route`` answers with a 2xx: on the first seeded job, or
    deleting the first user's "nightly" schedule; sent before any generated request could
    stop that job or delete that schedule, so every route's success path is checked whatever
    the generated requests happen to be."""
    path_parameters = {"job_id": job_id} if "{job_id}" in route.template else {}
    path_parameters |= {"name": "nightly"} if "{name}" in route.template else {}
    path = route.template.format(**path_parameters)
    body = GOOD_BODIES.get(route.name)
    headers = {"Content-Type": ["application/json"]} if body else {}
    return proxy_event(route, path, path_parameters, {}, headers, body, False, USERS[0])


def hostile_event(route: Route, job_id: str, body: str, content_type: str) -> dict[str, Any]:
    path = route.template.replace("{job_id}", job_id)
    headers = {"Content-Type": [content_type]}
    return proxy_event(
        route, path, {"job_id": job_id} if "{job_id}" in route.template else {}, {}, headers, body, False, USERS[0]
    )


def summary(report: Report, command: str) -> str:
    """The run as Markdown: requests, statuses per route, violations."""
    lines = [
        f"# API fuzz: {report.requests:,} requests in {report.seconds:.0f} s, {len(report.violations)} violations",
        "",
        f"Command: `{command}`",
        "",
        "| route | status | answers |",
        "| --- | --- | ---: |",
        *[f"| {route} | {status} | {count:,} |" for (route, status), count in sorted(report.statuses.items())],
    ]
    if report.violations:
        lines += ["", "Violations (first 20):", "", *[f"- {v}" for v in report.violations[:20]]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000, help="generated requests (besides the hostile bodies)")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run exactly (default: fresh examples)")
    args = parser.parse_args(argv)
    report = run(args.examples, args.seed)
    given_args = sys.argv[1:] if argv is None else argv
    text = summary(report, " ".join([".venv/bin/python -m benchmarks.api_fuzz", *given_args]))
    RESULT.write_text(text)
    print(text)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
