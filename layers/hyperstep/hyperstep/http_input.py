"""What the HTTP API reads from a request body: bounded UTF-8 text holding strict JSON.

API Gateway hands the function any body a caller sends, and Powertools' validation turns
only a ``JSONDecodeError`` into a 422: an integer literal over 4,300 digits (a
``ValueError``), nesting deeper than the interpreter's recursion limit, a multipart body
without a boundary or one that is not latin-1 escaped it as a 502. So, before routing,
``readable_body`` refuses a body that is too large, not UTF-8 or not declared as JSON
(``BodyRefused``: 413, 422, 415), and ``strict_json`` parses it, refusing what JSON is
not (``NaN``, ``Infinity``, duplicate keys) and what no spec needs (over ``MAX_DEPTH``
levels, number literals over ``MAX_NUMBER_CHARS`` characters), always as a
``JSONDecodeError``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from hyperstep.errors import HyperstepError
from hyperstep.messages import SHOWN_CHARS, clipped, shown

MAX_BODY_BYTES = 1_000_000
"""A spec is at most 200,000 bytes as compact JSON (one DynamoDB item): room for layout."""
MAX_DEPTH = 32
"""A spec is 4 levels deep; strategy options may nest a little more."""
MAX_NUMBER_CHARS = 100
"""Far below Python's 4,300-digit limit on int conversion; no spec value needs more."""
JSON = "application/json"


class BodyRefused(HyperstepError):
    """A request (its body, or a query parameter) the API will not read: ``status``, the
    ``field`` at fault, the reason."""

    def __init__(self, status: int, field: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.field = field
        self.reason = reason


LIST_REFUSED = "should be a mapping (key: value pairs), not a list"
"""A body that is a JSON list: what the spec's own refusal of ``[]`` says (``spec.py``)."""


def readable_body(event: Mapping[str, Any]) -> dict[str, Any]:
    """The API Gateway proxy event with its body as UTF-8 text declared as JSON.

    A base64 body (``isBase64Encoded``) is decoded, a byte order mark it starts with skipped
    (a spec file a Windows editor saved, sent as it is); the ``Content-Type`` header, when
    there is a body, must be ``application/json`` (any parameters, any case) or absent.
    It is rewritten as ``application/json`` for the resolver (which would otherwise parse
    an empty "multipart" body, and fail). A JSON list is refused: every route's body is an
    object, and the resolver's validation read a list as its first item. ``BodyRefused`` otherwise.
    """
    body = event.get("body")
    headers = {str(k): v for k, v in (event.get("headers") or {}).items() if str(k).lower() != "content-type"}
    if body is None or body == "":  # nothing to read, whatever its declared type
        return {**event, "headers": {**headers, "Content-Type": JSON}}
    if not isinstance(body, str):
        raise BodyRefused(422, "body", "the body must be text")
    data = _body_bytes(body, bool(event.get("isBase64Encoded")))
    if len(data) > MAX_BODY_BYTES:
        raise BodyRefused(413, "body", f"the body is {len(data):,} bytes; at most {MAX_BODY_BYTES:,}")
    declared = _content_type(event)
    if declared is not None and declared.split(";")[0].strip().lower() != JSON:
        raise BodyRefused(415, "Content-Type", f"the body must be JSON (Content-Type {JSON}), not {declared[:100]!r}")
    try:
        text = data.decode("utf-8-sig")  # a leading BOM skipped, as RFC 8259 allows and read_text_file does
    except UnicodeDecodeError as exc:
        raise BodyRefused(422, "body", f"not UTF-8 text (byte {exc.start})") from None
    if text.lstrip(" \t\r\n").startswith("["):  # every route's body is an object; the resolver's validation
        raise BodyRefused(422, "body", LIST_REFUSED)  # took a list's first item: [spec] started a job
    return {**event, "body": text, "isBase64Encoded": False, "headers": {**headers, "Content-Type": JSON}}


Routes = Mapping[tuple[str, str], Mapping[str, str | None]]
"""Each route, as (method, path template such as ``/jobs/{job_id}``), and its query parameters,
each with its schema's ``type`` (None for a union, as ``anyOf``)."""


def query_routes(paths: Mapping[str, Mapping[str, Any]]) -> Routes:
    """The routes of an OpenAPI document's ``paths`` with the query parameters each declares."""
    return {
        (method.upper(), template): {
            p["name"]: p.get("schema", {}).get("type") for p in op.get("parameters", []) if p.get("in") == "query"
        }
        for template, ops in paths.items()
        for method, op in ops.items()
    }


INTEGER = re.compile(r"-?[0-9]+")
"""An integer query parameter as the published schema means it: ASCII digits, a leading minus.
Python's ``int()`` (Powertools' validation) also takes ``5_0``, `` 5``, ``+5`` and other
scripts' digits."""


# Signature Version 4's query-string authentication (AWS's "Common Parameters" and S3's
# "Authenticating Requests: Using Query Parameters"), lower case.
SIGV4_QUERY = frozenset(
    f"x-amz-{name}"
    for name in ("algorithm", "credential", "date", "expires", "signedheaders", "signature", "security-token")
)


def check_query(event: Mapping[str, Any], routes: Callable[[], Routes]) -> None:
    """Refuse (``BodyRefused``, 422 naming it) a query parameter the request's route does not
    declare: ``?limt=5`` would otherwise be ignored, and answer the default page as if it
    were what was asked for. A path with trailing slashes is its route's, as API Gateway and
    the router take it (``POST /jobs/?dry_run=1`` started a job). A request no route matches
    is left to the router (404). The
    ``X-Amz-*`` parameters of a request signed in its query string (Signature Version 4's
    X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders, -Signature,
    -Security-Token) are IAM's, not the route's, and pass on any route; any other ``X-Amz-``
    name is refused like every unknown one. An integer parameter's value must be digits
    (``INTEGER``), as the schema publishes it. A refused name or value is shown clipped
    (``messages.SHOWN_CHARS``). ``routes`` is called
    only for a request with other parameters (the API builds them from its OpenAPI document,
    0.4 s of CPU that a cold start's first request without a query need not pay)."""
    multi = event.get("multiValueQueryStringParameters") or {}
    single = event.get("queryStringParameters") or {}
    names = {name for name in set(multi) | set(single) if name.lower() not in SIGV4_QUERY}
    if not names:
        return
    method, path = str(event.get("httpMethod", "")).upper(), str(event.get("path", ""))
    for (route_method, template), allowed in routes().items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "/*"
        if route_method == method and re.fullmatch(pattern, path):
            if unknown := sorted(names - allowed.keys()):
                takes = ", ".join(sorted(allowed)) or "none"
                refused = clipped(unknown[0], SHOWN_CHARS)
                raise BodyRefused(422, refused, f"unknown query parameter (this route takes: {takes})")
            for name in sorted(name for name in names if allowed[name] == "integer"):
                for value in [*(multi.get(name) or []), *([single[name]] if name in single else [])]:
                    if not INTEGER.fullmatch(str(value)):
                        raise BodyRefused(422, name, f"should be an integer in digits, not {shown(value)}")
            return


def _body_bytes(body: str, encoded: bool) -> bytes:
    if encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BodyRefused(422, "body", "isBase64Encoded is set but the body is not base64") from None
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates, from \\ud800 escapes in the event
        raise BodyRefused(422, "body", f"not UTF-8 text (character {exc.start})") from None


def _content_type(event: Mapping[str, Any]) -> str | None:
    """The request's Content-Type (header names are case-insensitive), None if not sent."""
    for name, value in (event.get("headers") or {}).items():
        if str(name).lower() == "content-type":
            return str(value)
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if str(name).lower() == "content-type" and values:
            return str(values[-1])
    return None


class _NotJson(ValueError):
    pass


def strict_json(text: str) -> Any:
    """``json.loads`` refusing non-JSON and oversized input; any refusal is a ``JSONDecodeError``."""
    try:
        value = json.loads(
            text, parse_int=_integer, parse_float=_float, parse_constant=_constant, object_pairs_hook=_object
        )
    except RecursionError:
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", text, 0) from None
    except _NotJson as exc:
        raise json.JSONDecodeError(str(exc), text, 0) from None
    if nesting(value) > MAX_DEPTH:
        raise json.JSONDecodeError(f"nested deeper than {MAX_DEPTH} levels", text, 0)
    return value


def nesting(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (a scalar: 0), counted without recursion;
    counting stops once past ``MAX_DEPTH``."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= MAX_DEPTH:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def _integer(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _NotJson(f"a number literal longer than {MAX_NUMBER_CHARS} characters")
    return int(literal)


def _float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _NotJson(f"a number literal longer than {MAX_NUMBER_CHARS} characters")
    value = float(literal)
    if not math.isfinite(value):
        raise _NotJson(f"the number {literal} is out of range")
    return value


def _constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON value")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) < len(pairs):
        duplicate = next(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
        raise _NotJson(f"duplicate key {duplicate[:50]!r}")
    return value
