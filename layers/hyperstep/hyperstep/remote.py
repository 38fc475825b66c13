"""Client of a deployed hyperstep API: what ``hyperstep submit/status/stop/schedules --api URL`` call.

The API accepts only IAM-signed requests (``AWS_IAM`` authorizer), so every request is
signed with AWS Signature Version 4 for the ``execute-api`` service, using the caller's
normal credentials (environment, profile, SSO, instance role: botocore's chain). The
region comes from the API's host name (``<id>.execute-api.<region>.amazonaws.com``) or,
for a custom domain, from the configuration. Plain ``urllib``: no extra dependency.

Errors come back as ``RemoteError`` with the API's field and reason in one line.
Reads, and submits (which carry an ``Idempotency-Key``, so the API starts one job however
often it is asked), are retried on throttling, 5xx answers and lost connections.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from hyperstep.errors import HyperstepError
from hyperstep.spec import parse_spec, read_document

SERVICE = "execute-api"
TIMEOUT_SECONDS = 30.0
ATTEMPTS = 3
RETRY_SECONDS = 1.0
MAX_RETRY_AFTER_SECONDS = 30.0
"""The longest wait a ``Retry-After`` gets before a retry."""
TRANSIENT = {0, 429, 500, 502, 503, 504}
"""Statuses worth another try (0: no answer at all)."""
IDEMPOTENCY_HEADER = "Idempotency-Key"
_REGION_IN_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class RemoteError(HyperstepError):
    """The API refused a request or could not be reached; ``status`` is the HTTP status (0:
    none), ``field`` the one the API's refusal names (None: none)."""

    def __init__(
        self, message: str, status: int = 0, field: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.retry_after = retry_after
        """Seconds the answer's ``Retry-After`` asks to wait (a throttled caller), if it says."""

    def transient(self, keyed: bool) -> bool:
        """Worth another try: throttled, 5xx, no answer; for a request with an
        ``Idempotency-Key`` also a 409 saying the first one with that key is still in
        progress (a retry after a lost answer: the next try gets that request's answer)."""
        return self.status in TRANSIENT or (keyed and self.status == 409 and self.field == IDEMPOTENCY_HEADER)


def submit(spec_path: str | Path, api_url: str, *, session: Any = None) -> dict[str, Any]:
    """Validate the spec file here (same rules as the API), then ``POST /jobs``.

    Returns ``{"job_id", "status", "execution_id"}``, or for a spec with ``schedule``
    ``{"schedule_name", "schedule_arn", "expression"}``. ``SpecError`` for a bad file.
    """
    document = read_document(spec_path)
    parse_spec(document)
    return request("POST", api_url, "/jobs", document, session=session, idempotency_key=str(uuid.uuid4()))


def status(job_id: str | None, api_url: str, *, session: Any = None, limit: int = 100) -> dict[str, Any]:
    """One job (``GET /jobs/{job_id}``), or with ``job_id`` None every job the caller sees,
    newest first (``GET /jobs``, ``limit`` a page, page after page)."""
    if job_id is None:
        return _every_page(api_url, f"/jobs?limit={int(limit)}", "jobs", "next_token", session)
    return request("GET", api_url, f"/jobs/{_segment(job_id)}", session=session)


def trials(job_id: str, api_url: str, *, session: Any = None) -> dict[str, Any]:
    """All the job's trials (``GET /jobs/{job_id}/trials``, page after page)."""
    return _every_page(api_url, f"/jobs/{_segment(job_id)}/trials", "trials", "next_offset", session, "offset")


def _every_page(
    api_url: str, path: str, items: str, cursor: str, session: Any, parameter: str | None = None
) -> dict[str, Any]:
    """The last page's answer holding the ``items`` of every page: each next one asked for
    with the ``cursor`` its answer gave, as query ``parameter`` (by default the cursor's name)."""
    answer = request("GET", api_url, path, session=session)
    collected = list(answer.get(items, []))
    while answer.get(cursor) is not None:
        query = urllib.parse.urlencode({parameter or cursor: answer[cursor]})
        answer = request("GET", api_url, f"{path}{'&' if '?' in path else '?'}{query}", session=session)
        collected += answer.get(items, [])
    return {**answer, items: collected, cursor: None}


def stop(job_id: str, api_url: str, *, session: Any = None) -> dict[str, Any]:
    """Ask a running job to stop (``POST /jobs/{job_id}/stop``)."""
    return request("POST", api_url, f"/jobs/{_segment(job_id)}/stop", session=session)


def update(job_id: str, changes: dict[str, Any], api_url: str, *, session: Any = None) -> dict[str, Any]:
    """Change a running job's budget (``PATCH /jobs/{job_id}``, ``BudgetUpdate``'s fields)."""
    return request("PATCH", api_url, f"/jobs/{_segment(job_id)}", changes, session=session)


def schedules(api_url: str, *, session: Any = None) -> dict[str, Any]:
    """The caller's recurring schedules (``GET /schedules``)."""
    return request("GET", api_url, "/schedules", session=session)


def delete_schedule(name: str, api_url: str, *, session: Any = None) -> dict[str, Any]:
    """Delete one of the caller's recurring schedules (``DELETE /schedules/{name}``)."""
    return request("DELETE", api_url, f"/schedules/{_segment(name)}", session=session)


def request(
    method: str,
    api_url: str,
    path: str,
    body: Any = None,
    *,
    session: Any = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Send a SigV4-signed JSON request and return the parsed JSON answer.

    GETs and requests with an ``idempotency_key`` are safe to repeat: they are tried up to
    ``ATTEMPTS`` times while the answer is transient (throttled, 5xx, no answer), waiting
    longer each time, and at least what a throttled answer's ``Retry-After`` asks.
    """
    check_api_url(api_url)
    repeatable = method == "GET" or idempotency_key is not None
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _send(method, api_url.rstrip("/") + path, body, session, idempotency_key)
        except RemoteError as exc:
            if not repeatable or not exc.transient(idempotency_key is not None) or attempt == ATTEMPTS:
                raise
            time.sleep(max(RETRY_SECONDS * 2 ** (attempt - 1), exc.retry_after or 0.0))
    raise AssertionError("unreachable")


def check_api_url(api_url: str) -> None:
    """Refuse to send signed requests (session token, spec) anywhere but over HTTPS (plain
    HTTP only to this machine: ``sam local start-api``), and a URL no request could be sent
    to or that paths cannot be added to (a query, a fragment), before anything is signed."""
    try:
        parts = urllib.parse.urlsplit(api_url)
        parts.port  # noqa: B018  (reading it checks it: a port that is no number or out of range)
    except ValueError as exc:
        raise RemoteError(f"--api: not a URL ({exc}): {api_url!r}") from None
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        raise RemoteError(f"--api: an https:// URL is needed (plain http only to localhost), got {api_url!r}")
    if parts.query or parts.fragment or any(c.isspace() or not c.isprintable() for c in api_url):
        raise RemoteError(
            f"--api: give the API's base URL (the stack's ApiUrl output, ending with its stage, e.g. "
            f"https://abc123.execute-api.us-east-1.amazonaws.com/v1), without a query, fragment or space: {api_url!r}"
        )


def _send(method: str, url: str, body: Any, session: Any, idempotency_key: str | None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = sign(method, url, data, session=session)
    if idempotency_key is not None:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    outgoing = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with OPENER.open(outgoing, timeout=TIMEOUT_SECONDS) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            where = exc.headers.get("Location")
            raise RemoteError(
                f"{exc.code} {url} redirects to {where}: a signed request is not sent on; "
                "give --api the URL it should go to",
                exc.code,
            ) from None
        try:
            payload = exc.read()
        except (OSError, http.client.HTTPException) as cut:  # raised here, the handlers below miss it
            raise RemoteError(f"{exc.code} no details (the answer was cut short: {cut!r})", exc.code) from None
        refusal = _refusal(exc.code, payload, url)
        refusal.retry_after = _seconds(exc.headers.get("Retry-After"))
        raise refusal from None
    except urllib.error.URLError as exc:
        raise RemoteError(f"cannot reach {url}: {exc.reason}") from None
    except (OSError, http.client.HTTPException) as exc:  # the connection broke or timed out while reading the answer
        raise RemoteError(f"no answer from {url}: {exc}") from None
    return _json_object(status, payload, url)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Follows no redirect: urllib's would send the signed headers (the session token among
    them) on to wherever it points, plain HTTP included; the 3xx is answered as an error."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


def _json_object(status: int, payload: bytes, url: str) -> dict[str, Any]:
    """The answer's JSON object; ``RemoteError`` for anything else (a proxy's or a login
    page's HTML: the URL is not the API's)."""
    try:
        answer = json.loads(payload or b"{}")
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise RemoteError(
            f"{status} from {url} is not the API's JSON ({_excerpt(payload)}): is --api the stack's ApiUrl output?",
            status,
        )
    return answer


def sign(method: str, url: str, data: bytes | None, *, session: Any = None) -> dict[str, str]:
    """The headers of the request, ``Authorization`` (SigV4, ``execute-api``) included."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.exceptions import BotoCoreError, ClientError

    session = session or botocore.session.get_session()
    try:  # a profile that is not there, an expired SSO token, a role that cannot be assumed
        credentials = session.get_credentials()
        frozen = None if credentials is None else credentials.get_frozen_credentials()
        region = region_of(url) or session.get_config_variable("region")
    except (BotoCoreError, ClientError) as exc:
        raise RemoteError(f"AWS credentials: {' '.join(str(exc).split())}") from None
    if frozen is None:
        raise RemoteError("no AWS credentials found: configure them as for the AWS CLI")
    if not region:
        raise RemoteError(f"cannot tell the region of {url}: set AWS_REGION or a profile region")
    headers = (
        {"Content-Type": "application/json", "Accept": "application/json"} if data else {"Accept": "application/json"}
    )
    signed = AWSRequest(method=method, url=url, data=data, headers=headers)
    SigV4Auth(frozen, SERVICE, region).add_auth(signed)
    return dict(signed.headers.items())


def region_of(url: str) -> str | None:
    """The region in an API Gateway host name; None for any other host."""
    match = _REGION_IN_HOST.search(urllib.parse.urlsplit(url).hostname or "")
    return match.group(1) if match else None


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


NO_ROUTE = "Missing Authentication Token"
"""What API Gateway answers (403) a signed request for a path or method it has no route for."""


def _refusal(status: int, payload: bytes, url: str) -> RemoteError:
    """``"422 parameters.0: low must be less than high"`` from the API's error body; a 500
    says its request id (``"500 internal error (request id ...)"``), which finds the logs;
    API Gateway's 403 for a route it lacks says which URL (a wrong stage in ``--api``)."""
    try:
        body = json.loads(payload)
    except ValueError:
        body = None
    if isinstance(body, dict) and ("reason" in body or "message" in body):
        reason = body.get("reason") or body.get("message")
        if body.get("request_id"):
            reason = f"{reason} (request id {body['request_id']})"
        if status == 403 and reason == NO_ROUTE:
            reason = f"{reason}: API Gateway has no route {url}; is --api the stack's ApiUrl output (with its stage)?"
        field = body.get("field")
        message = f"{status} {field}: {reason}" if field else f"{status} {reason}"
        return RemoteError(" ".join(message.split()), status, field)  # one line, whatever the body held
    return RemoteError(f"{status} {_excerpt(payload) or 'no details'}", status)


def _seconds(retry_after: str | None) -> float | None:
    """A ``Retry-After`` in seconds (at most ``MAX_RETRY_AFTER_SECONDS``); None for none, or
    for the HTTP-date form (the API sends seconds)."""
    if retry_after is None or not (retry_after.strip().isascii() and retry_after.strip().isdigit()):  # "²" isdigit
        return None
    return min(float(retry_after), MAX_RETRY_AFTER_SECONDS)


def _excerpt(payload: bytes) -> str:
    """The start of a body that is not the API's, on one line (an HTML page has many)."""
    return " ".join(payload.decode(errors="replace").split())[:300]
