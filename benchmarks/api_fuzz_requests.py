"""Requests for the API fuzz: API Gateway REST proxy events generated from ``openapi.json``.

For each route of the committed OpenAPI document, ``events(route, job_ids)`` draws an event
shaped like ``events/api-*.json``: path parameters (known job ids, schema values, any
text, percent-encoded into the path), query strings (declared and stray, single and
repeated), headers (``Content-Type`` variants, ``Idempotency-Key``, stray ones) and a
body. Bodies mix values drawn from the route's request schema, valid specs mutated a few
times (so requests reach the model validators, the store, Step Functions and Scheduler),
any JSON, and ``HOSTILE`` texts (huge integer literals, deep nesting, NaN and Infinity,
duplicate keys, nulls everywhere, bad multipart, invalid UTF-8, over-large bodies), sent
plain or base64-encoded with ``isBase64Encoded``.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

OPENAPI = Path(__file__).resolve().parents[1] / "functions" / "api" / "openapi.json"
USERS = ("arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/bob")
LOSS = [{"name": "loss", "regex": "loss=([0-9.]+)"}]
SAGEMAKER = {
    "backend": "sagemaker",
    "training_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:latest",
    "instance_type": "ml.m5.large",
    "role_arn": "arn:aws:iam::123456789012:role/training",
    "output_path": "s3://bucket/out",
    "metric_definitions": LOSS,
    "input_channels": {"train": {"s3_uri": "s3://bucket/train"}},
    "tags": {"team": "ml"},
}
BATCH = {"backend": "batch", "job_queue": "queue", "job_definition": "train:3", "command": ["python", "train.py"]}
BATCH["metric_definitions"] = LOSS


def spec(name: str, trial: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A spec the API accepts."""
    return {
        "name": name,
        "objective": {"metric": "loss", "goal": "minimize"},
        "parameters": [
            {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "scale": "log"},
            {"name": "layers", "type": "int", "low": 1, "high": 8},
            {"name": "optimizer", "type": "categorical", "choices": ["adam", "sgd"]},
        ],
        "strategy": {"name": "random", "seed": 1},
        "budget": {"max_trials": 8, "max_parallel": 2},
        "trial": trial,
        **extra,
    }


VALID_SPECS = (
    spec("mnist", SAGEMAKER),
    spec("cifar", BATCH),
    spec("nightly", SAGEMAKER, schedule="cron(0 3 * * ? *)"),
    spec("hourly", BATCH, schedule="rate(1 hour)"),
)


def nulls_everywhere(value: Any) -> Any:
    """The same document with every scalar replaced by null."""
    if isinstance(value, dict):
        return {key: nulls_everywhere(item) for key, item in value.items()}
    if isinstance(value, list):
        return [nulls_everywhere(item) for item in value]
    return None


_SPEC = json.dumps(VALID_SPECS[0])
HOSTILE: tuple[str, ...] = (
    '{"name": ' + "9" * 4301 + "}",
    "-" + "1" * 5000,
    _SPEC.replace('"max_trials": 8', '"max_trials": ' + "1" * 4400),
    "[" * 100_000 + "]" * 100_000,
    '{"a": ' * 2000 + "1" + "}" * 2000,
    _SPEC.replace('"max_parallel": 2', '"max_parallel": ' + "[" * 990 + "]" * 990),
    "NaN",
    "-Infinity",
    _SPEC.replace('"max_trials": 8', '"max_trials": NaN'),
    _SPEC.replace('"low": 0.0001', '"low": Infinity'),
    _SPEC.replace('"high": 0.1', '"high": 1e999'),
    '{"name": "a", "name": "b"}',
    _SPEC.replace('"name": "mnist"', '"name": "mnist", "name": "mnist"'),
    json.dumps(nulls_everywhere(VALID_SPECS[0])),
    json.dumps({key: None for key in VALID_SPECS[0]}),
    "null",
    "[]",
    "{}",
    '""',
    "",
    " \n",
    "{",
    "\ufeff" + _SPEC,
    "\x00",
    "\ud800",
    '{"name": "\udfff"}',
    "é€𝄞" * 10,
    '--b\r\nContent-Disposition: form-data; name="name"\r\n\r\n€\r\n--b--\r\n',
    "name=mnist&name=cifar",
    "x" * 1_000_001,
    json.dumps({**VALID_SPECS[0], "padding": "p" * 1_000_000}),
    json.dumps({**VALID_SPECS[0], "parameters": VALID_SPECS[0]["parameters"] * 3000}),
)
"""Bodies that broke the API, or could: each is sent to every route in the fast run too."""

CONTENT_TYPES: tuple[str | None, ...] = (
    None,
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "multipart/form-data",
    "multipart/form-data; boundary=b",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/json-patch+json",
    "",
)


@dataclass(frozen=True)
class Route:
    """One operation of the OpenAPI document and the statuses it may answer."""

    method: str
    template: str
    parameters: tuple[dict[str, Any], ...]
    body_schema: dict[str, Any] | None
    responses: dict[int, dict[str, Any] | None]
    """Status -> the JSON schema of its body."""

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


def routes(document: dict[str, Any] | None = None) -> list[Route]:
    """Every operation in the OpenAPI document (the committed one by default)."""
    document = document or json.loads(OPENAPI.read_text())
    found = []
    for template, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            responses = {
                int(status): answer.get("content", {}).get("application/json", {}).get("schema")
                for status, answer in operation["responses"].items()
            }
            found.append(Route(method.upper(), template, tuple(operation.get("parameters", [])), body, responses))
    return found


def from_schema(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of a JSON schema (the subset pydantic and Powertools emit), mostly small."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return st.deferred(lambda: from_schema(components[name], components))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return st.one_of([from_schema(option, components) for option in schema[union]])
    kind = schema.get("type")
    makers = {
        "string": _strings,
        "integer": _integers,
        "number": _numbers,
        "array": _arrays,
        "object": _objects,
        "boolean": lambda s, c: st.booleans(),
        "null": lambda s, c: st.none(),
    }
    return makers[kind](schema, components) if kind in makers else json_values()


def _strings(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if "pattern" in schema:
        strategy = st.from_regex(schema["pattern"], fullmatch=True)
        return strategy.filter(lambda s: low <= len(s) <= (high or math.inf))
    return st.text(min_size=low, max_size=min(high or 40, 40) if low <= 40 else low)


def _integers(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[int]:
    low = schema.get("minimum", schema.get("exclusiveMinimum", -math.inf) + 1)
    high = schema.get("maximum", math.inf)
    return st.integers(
        min_value=None if low == -math.inf else math.ceil(low), max_value=None if high == math.inf else int(high)
    )


def _numbers(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[float]:
    return st.floats(
        min_value=schema.get("minimum", schema.get("exclusiveMinimum")),
        max_value=schema.get("maximum"),
        exclude_min="exclusiveMinimum" in schema,
        allow_nan=False,
        allow_infinity=False,
    )


def _arrays(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[list[Any]]:
    low = schema.get("minItems", 0)
    items = from_schema(schema.get("items", {}), components)
    return st.lists(items, min_size=low, max_size=max(low, min(schema.get("maxItems", 3), 3)))


def _objects(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    fixed = {key: from_schema(value, components) for key, value in properties.items() if key in required}
    optional = {key: from_schema(value, components) for key, value in properties.items() if key not in required}
    strategy = st.fixed_dictionaries(fixed, optional=optional)
    extra: list[st.SearchStrategy[dict[str, Any]]] = [
        st.dictionaries(st.from_regex(pattern, fullmatch=True), from_schema(value, components), max_size=2)
        for pattern, value in schema.get("patternProperties", {}).items()
    ]
    if schema.get("additionalProperties") is True:
        extra.append(st.dictionaries(st.text(max_size=8), json_values(), max_size=3))
    for more in extra:
        strategy = st.tuples(strategy, more).map(lambda pair: {**pair[1], **pair[0]})
    return strategy


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value, small."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    )


EDGE_VALUES = (
    None,
    0,
    -1,
    1,
    10_000,
    10_001,
    2**63,
    10**40,
    -0.0,
    1e308,
    5e-324,
    "",
    " ",
    "x" * 300,
    "é€",
    "\x00",
    "../..",
    "a" * 70,
    [],
    {},
    True,
)


def schedules() -> st.SearchStrategy[str]:
    """Schedule expressions around what EventBridge Scheduler accepts."""
    tokens = st.sampled_from(
        (
            "*",
            "?",
            "0",
            "5",
            "59",
            "60",
            "1-5",
            "0/15",
            "*/5",
            "L",
            "15W",
            "MON#2",
            "JAN-MAR",
            "MON-FRI",
            "2199",
            "0,30",
        )
    )
    fields = st.lists(tokens | st.text(alphabet="0123456789*?/-,LW#", min_size=1, max_size=5), min_size=5, max_size=7)
    cron = fields.map(lambda f: f"cron({' '.join(f)})")
    units = st.sampled_from(("minute", "minutes", "hour", "hours", "day", "days", "weeks"))
    rate = st.tuples(st.integers(-1, 10**6), units).map(lambda p: f"rate({p[0]} {p[1]})")
    valid = st.sampled_from(("rate(1 day)", "rate(5 minutes)", "cron(0 3 * * ? *)", "cron(0/15 * ? * MON-FRI *)"))
    return valid | cron | rate | st.text(max_size=20)


@st.composite
def mutated_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid spec changed in a few places (replaced, retyped, deleted, added, a schedule drawn)."""
    document = copy.deepcopy(draw(st.sampled_from(VALID_SPECS)))
    document["name"] = draw(st.sampled_from(("mnist", "cifar", "nightly", "n" + "1" * 39))) + draw(
        st.sampled_from(("", "-2"))
    )
    if draw(st.integers(0, 3)) == 0:
        document["schedule"] = draw(schedules())
    for _ in range(draw(st.sampled_from((0, 0, 1, 1, 2, 3)))):
        document = _mutate(draw, document)
    return document


def _retype(draw: st.DrawFn, node: Any) -> Any:
    """``node`` with one scalar in it (drawn) given as the string a lax client sends for it:
    a number or boolean as its text (``"10"``, ``"true"``); a string as it is."""
    if isinstance(node, (dict, list)) and node:
        key = draw(st.sampled_from(list(node) if isinstance(node, dict) else list(range(len(node)))))
        node[key] = _retype(draw, node[key])
        return node
    if isinstance(node, bool):
        return str(node).lower()
    return str(node) if isinstance(node, int | float) else node


def _mutate(draw: st.DrawFn, node: Any) -> Any:
    if isinstance(node, (dict, list)) and node:
        key = draw(st.sampled_from(list(node) if isinstance(node, dict) else list(range(len(node)))))
        action = draw(st.sampled_from(("descend", "descend", "delete", "replace", "retype", "add")))
        if action == "descend":
            node[key] = _mutate(draw, node[key])
        elif action == "retype":
            node[key] = _retype(draw, node[key])
        elif action == "delete":
            del node[key]
        elif action == "replace":
            node[key] = draw(st.sampled_from(EDGE_VALUES) | json_values())
        elif isinstance(node, dict):
            node[draw(st.text(max_size=12))] = draw(json_values())
        else:
            node.append(draw(json_values()))
        return node
    return draw(st.sampled_from(EDGE_VALUES) | json_values())


def bodies(route: Route, components: dict[str, Any]) -> st.SearchStrategy[str | None]:
    """Request bodies as text: from the route's schema, mutated specs, any JSON, hostile."""
    generated = [json_values().map(json.dumps), st.sampled_from(HOSTILE)]
    if route.body_schema is not None:
        specs = mutated_specs().map(json.dumps)
        return st.one_of([specs, specs, specs, from_schema(route.body_schema, components).map(json.dumps), *generated])
    return st.none() | st.none() | st.one_of(generated)


def events(route: Route, job_ids: list[str], components: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """API Gateway REST proxy events for ``route`` (its strategies built once, drawn often)."""
    values = {p["name"]: _parameter_values(p, job_ids, components) for p in route.parameters}
    stray_query = st.dictionaries(
        st.text(min_size=1, max_size=8), st.lists(st.text(max_size=8), min_size=1, max_size=2)
    )
    stray_headers = st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z-]{0,15}", fullmatch=True), st.text(max_size=20))
    body_texts = bodies(route, components)

    @st.composite
    def event(draw: st.DrawFn) -> dict[str, Any]:
        path, path_parameters = route.template, {}
        query: dict[str, list[str]] = {}
        headers: dict[str, list[str]] = {}
        for parameter in route.parameters:
            name, where = parameter["name"], parameter["in"]
            if where == "path":
                path_parameters[name] = value = draw(values[name])
                path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
            elif where == "query" and draw(st.booleans()):
                query[name] = draw(st.lists(values[name], min_size=1, max_size=2))
            elif where == "header" and draw(st.booleans()):
                headers[draw(st.sampled_from((name, name.title(), name.upper())))] = [draw(values[name])]
        query.update(draw(stray_query))
        content_type = draw(st.sampled_from(("application/json", None)) | st.sampled_from(CONTENT_TYPES))
        if content_type is not None:
            headers[draw(st.sampled_from(("Content-Type", "content-type")))] = [content_type]
        for name, value in draw(stray_headers).items():
            if name.lower() not in ("content-type", "idempotency-key"):
                headers[name] = [value]
        body = draw(body_texts)
        encoded = body is not None and draw(st.integers(0, 4)) == 0
        if encoded:
            body = draw(st.sampled_from((_b64(body), _b64(body, "latin-1"), "%%% not base64")))
        return proxy_event(route, path, path_parameters, query, headers, body, encoded, draw(st.sampled_from(USERS)))

    return event()


SCHEDULE_NAMES = tuple(document["name"] for document in VALID_SPECS if "schedule" in document)
"""The schedules the valid specs create (``DELETE /schedules/{name}`` often names one)."""


def _parameter_values(
    parameter: dict[str, Any], job_ids: list[str], components: dict[str, Any]
) -> st.SearchStrategy[str]:
    """A parameter's values as text: path parameters are never empty (API Gateway routes no
    empty segment to a ``{param}``) and are often a known job id (``job_ids`` may grow
    as the run submits jobs); a schedule's name is often one of ``SCHEDULE_NAMES``."""
    from_its_schema = from_schema(parameter["schema"], components).map(lambda v: "" if v is None else str(v))
    if parameter["in"] == "path" and parameter["name"] == "name":  # a schedule: often one the valid specs create
        names = st.sampled_from(SCHEDULE_NAMES)
        return st.one_of(names, names, from_its_schema, st.text(min_size=1, max_size=300)).filter(bool)
    if parameter["in"] == "path":
        known = st.integers(min_value=0).map(lambda i: job_ids[i % len(job_ids)])
        return st.one_of(known, known, from_its_schema, st.text(min_size=1, max_size=300)).filter(bool)
    if parameter["in"] == "header":  # Idempotency-Key: mostly what clients send
        return st.one_of(st.uuids().map(str), st.uuids().map(str), from_its_schema, st.text(max_size=300))
    edge = st.sampled_from(("", "0", "-1", "1.5", "1e3", "NaN", "9" * 5000, "0x10", " 1", "\uff11", "x" * 300))
    return st.one_of(from_its_schema, edge, st.text(max_size=10))


def _b64(text: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(text.encode(encoding, errors="replace")).decode()


def proxy_event(
    route: Route,
    path: str,
    path_parameters: dict[str, str],
    query: dict[str, list[str]],
    headers: dict[str, list[str]],
    body: str | None,
    encoded: bool,
    user: str,
) -> dict[str, Any]:
    """An event as API Gateway's REST proxy integration sends it (``events/api-*.json``)."""
    return {
        "resource": route.template,
        "path": path,
        "httpMethod": route.method,
        "headers": {name: values[-1] for name, values in headers.items()},
        "multiValueHeaders": headers,
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.template,
            "httpMethod": route.method,
            "path": f"/v1{path}",
            "accountId": "123456789012",
            "stage": "v1",
            "requestId": "fuzz",
            "identity": {"userArn": user, "accountId": "123456789012"},
            "apiId": "a1b2c3d4e5",
        },
        "body": body,
        "isBase64Encoded": encoded,
    }
