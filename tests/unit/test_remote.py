"""The deployment client against a loopback HTTP stub: requests are SigV4-signed for execute-api.

The stub records each request and answers with a canned status and body; the test then
recomputes the signature from what arrived, with the same fake credentials, so a request
whose signature does not cover its method, path, query and body fails.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import UnauthorizedSSOTokenError

from hyperstep import remote
from hyperstep.errors import SpecError
from tests.unit.test_api import sagemaker_spec

KEY, SECRET, TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token"
AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<scope>[^,]+), SignedHeaders=(?P<signed>[^,]+), Signature=(?P<sig>\w+)$"
)


class Stub(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.received: list[dict[str, Any]] = []
        self.answer: tuple[Any, ...] = (200, {"ok": True})
        """Status, body (JSON, or bytes sent as they are) and, optionally, headers."""
        self.first_answers: list[tuple[Any, ...]] = []
        """Answers given (in order) before ``answer``."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    server: Stub

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.received.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body}
        )
        answer = self.server.first_answers.pop(0) if self.server.first_answers else self.server.answer
        status, payload, *headers = answer
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()  # bytes: sent as they are
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers[0] if headers else {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stub]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    server = Stub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def expected_signature(stub: Stub, got: dict[str, Any]) -> str:
    """Sign what arrived again, over the headers the client said it signed."""
    auth = AUTH.match(got["headers"]["Authorization"])
    assert auth is not None
    signed = auth["signed"].split(";")
    headers = {k: v for k, v in got["headers"].items() if k.lower() in signed}
    url = f"http://127.0.0.1:{stub.server_address[1]}{got['path']}"
    request = AWSRequest(method=got["method"], url=url, data=got["body"] or None, headers=headers)
    request.context["timestamp"] = got["headers"]["X-Amz-Date"]
    signer = SigV4Auth(Credentials(KEY, SECRET, TOKEN), "execute-api", "eu-west-1")
    return signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)


def test_submit_sends_the_spec_signed_for_execute_api(stub: Stub, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(sagemaker_spec()))
    stub.answer = (202, {"job_id": "mnist-1", "status": "running", "execution_id": "arn:exec"})

    assert remote.submit(path, stub.url) == {"job_id": "mnist-1", "status": "running", "execution_id": "arn:exec"}

    (got,) = stub.received
    assert got["method"] == "POST" and got["path"] == "/v1/jobs"
    assert json.loads(got["body"]) == sagemaker_spec()
    auth = AUTH.match(got["headers"]["Authorization"])
    assert auth is not None
    assert re.fullmatch(rf"{KEY}/\d{{8}}/eu-west-1/execute-api/aws4_request", auth["scope"])
    assert {"host", "x-amz-date", "x-amz-security-token"} <= set(auth["signed"].split(";"))
    assert got["headers"]["X-Amz-Security-Token"] == TOKEN
    assert auth["sig"] == expected_signature(stub, got)


def test_the_signature_covers_the_body(stub: Stub, tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(sagemaker_spec()))
    remote.submit(path, stub.url)
    (got,) = stub.received
    tampered = {**got, "body": got["body"].replace(b"mnist", b"other")}
    assert AUTH.match(got["headers"]["Authorization"])["sig"] != expected_signature(stub, tampered)


def test_status_of_one_job_and_of_all_jobs(stub: Stub) -> None:
    stub.answer = (200, {"job_id": "a/b", "status": "running"})
    assert remote.status("a/b", stub.url + "/")["status"] == "running"
    remote.status(None, stub.url, limit=5)
    first, second = stub.received
    assert (first["method"], first["path"]) == ("GET", "/v1/jobs/a%2Fb")
    assert (second["method"], second["path"]) == ("GET", "/v1/jobs?limit=5")
    for got in (first, second):
        assert got["body"] == b""
        assert AUTH.match(got["headers"]["Authorization"])["sig"] == expected_signature(stub, got)


def test_stop_and_trials(stub: Stub) -> None:
    remote.stop("j1", stub.url)
    remote.trials("j1", stub.url)
    assert [(g["method"], g["path"]) for g in stub.received] == [
        ("POST", "/v1/jobs/j1/stop"),
        ("GET", "/v1/jobs/j1/trials"),
    ]


def test_api_errors_become_one_line_remote_errors(stub: Stub) -> None:
    stub.answer = (404, {"field": None, "reason": "job 'nope' not found"})
    with pytest.raises(remote.RemoteError, match="404 job 'nope' not found") as caught:
        remote.status("nope", stub.url)
    assert caught.value.status == 404
    stub.answer = (403, {"message": "Missing Authentication Token"})
    with pytest.raises(remote.RemoteError, match="403 Missing Authentication Token"):
        remote.status(None, stub.url)
    stub.answer = (500, {"reason": "internal error", "request_id": "c0ffee"})
    with pytest.raises(remote.RemoteError, match=r"500 internal error \(request id c0ffee\)"):
        remote.stop("x", stub.url)  # not repeated: a POST without an idempotency key


def test_a_bad_spec_is_refused_before_anything_is_sent(stub: Stub, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(sagemaker_spec(budget={"max_trials": 0})))
    with pytest.raises(SpecError, match=r"budget\.max_trials"):
        remote.submit(path, stub.url)
    assert stub.received == []


def test_the_region_comes_from_the_api_host() -> None:
    assert remote.region_of("https://abc123.execute-api.ap-southeast-2.amazonaws.com/v1") == "ap-southeast-2"
    assert remote.region_of("https://tuning.example.com/v1") is None


def test_submit_sends_an_idempotency_key_and_retries_a_throttled_call_with_it(
    stub: Stub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "RETRY_SECONDS", 0.0)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(sagemaker_spec()))
    stub.first_answers = [(429, {"message": "Too Many Requests"}), (503, {"message": "Service Unavailable"})]
    stub.answer = (202, {"job_id": "mnist-1", "status": "running"})
    assert remote.submit(spec, stub.url) == {"job_id": "mnist-1", "status": "running"}
    keys = [r["headers"].get("Idempotency-Key") for r in stub.received]
    assert len(keys) == 3 and keys[0] and len(set(keys)) == 1
    assert remote.submit(spec, stub.url) == stub.answer[1]
    assert stub.received[-1]["headers"]["Idempotency-Key"] != keys[0]  # a new submit is a new job


def test_a_stop_is_not_repeated_and_a_refusal_is_not_retried(stub: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote, "RETRY_SECONDS", 0.0)
    stub.answer = (503, {"message": "Service Unavailable"})
    with pytest.raises(remote.RemoteError, match="503"):
        remote.stop("mnist-1", stub.url)
    assert len(stub.received) == 1
    stub.answer = (404, {"reason": "job 'x' not found"})
    with pytest.raises(remote.RemoteError, match="404"):
        remote.status("x", stub.url)
    assert len(stub.received) == 2


@pytest.mark.parametrize(
    "url",
    [
        "http://abc123.execute-api.us-east-1.amazonaws.com/v1",
        "abc123.execute-api.us-east-1.amazonaws.com/v1",
        "ftp://abc123.execute-api.us-east-1.amazonaws.com/v1",
    ],
)
def test_signed_requests_go_over_https_only(stub: Stub, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """A signed request carries the session token and the spec; plain HTTP only to this
    machine (``sam local start-api``)."""

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a request was sent")

    monkeypatch.setattr(remote.OPENER, "open", no_network)
    with pytest.raises(remote.RemoteError, match=r"--api: an https:// URL is needed"):
        remote.status(None, url)


def test_trials_follows_the_pages(stub: Stub) -> None:
    stub.first_answers = [(200, {"job_id": "j1", "trials": [{"id": "t0001"}, {"id": "t0002"}], "next_offset": 2})]
    stub.answer = (200, {"job_id": "j1", "trials": [{"id": "t0003"}], "next_offset": None})
    answer = remote.trials("j1", stub.url)
    assert [t["id"] for t in answer["trials"]] == ["t0001", "t0002", "t0003"]
    assert [r["path"] for r in stub.received] == ["/v1/jobs/j1/trials", "/v1/jobs/j1/trials?offset=2"]


def test_status_of_all_jobs_follows_next_token_to_the_last_page(stub: Stub) -> None:
    """The token goes back as the answer gave it (URL-encoded), with the same page size."""
    stub.first_answers = [
        (200, {"jobs": [{"job_id": "j3"}, {"job_id": "j2"}], "next_token": "WzEuMCwiajIiLCIqIl0="}),
    ]
    stub.answer = (200, {"jobs": [{"job_id": "j1"}], "next_token": None})
    answer = remote.status(None, stub.url, limit=2)
    assert [j["job_id"] for j in answer["jobs"]] == ["j3", "j2", "j1"] and answer["next_token"] is None
    assert [r["path"] for r in stub.received] == [
        "/v1/jobs?limit=2",
        "/v1/jobs?limit=2&next_token=WzEuMCwiajIiLCIqIl0%3D",
    ]


PAGE = b"<html>\n<head><title>Sign in</title></head>\n<body>Corporate proxy</body>\n</html>"


@pytest.mark.parametrize(("status", "payload"), [(200, PAGE), (200, [1, 2]), (502, PAGE)])
def test_an_answer_that_is_not_the_apis_json_is_one_line(stub: Stub, status: int, payload: Any) -> None:
    """A proxy's or a login page's HTML (a wrong --api URL) was a JSONDecodeError, a JSON
    list an AttributeError in the caller, and an HTML error page a message of many lines."""
    stub.answer = (status, payload)
    with pytest.raises(remote.RemoteError) as caught:
        remote.stop("j1", stub.url)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(status)) and caught.value.status == status
    assert ("<html> <head><title>Sign in" if payload == PAGE else "[1, 2]") in message


def test_an_answer_cut_short_is_no_answer_and_is_retried(stub: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection closed before the whole body came (``http.client.IncompleteRead``, not an
    ``OSError``) escaped as an internal error; it is a lost answer, retried as one."""
    monkeypatch.setattr(remote, "RETRY_SECONDS", 0.0)
    sent = []

    def cut(request: Any, timeout: float) -> None:
        sent.append(request.full_url)
        raise http.client.IncompleteRead(b'{"jo', 996)

    monkeypatch.setattr(remote.OPENER, "open", cut)
    with pytest.raises(remote.RemoteError, match=r"^no answer from .*/v1/jobs/j1: IncompleteRead") as caught:
        remote.status("j1", stub.url)
    assert caught.value.status == 0 and len(sent) == remote.ATTEMPTS


@pytest.mark.parametrize(
    "url",
    [
        "https://exa mple.com/v1",
        "https://abc123.execute-api.us-east-1.amazonaws.com:99999/v1",
        "https://abc123.execute-api.us-east-1.amazonaws.com:v1",
        "https://[::1/v1",
        "https://abc123.execute-api.us-east-1.amazonaws.com/v1?stage=v1",
        "https://abc123.execute-api.us-east-1.amazonaws.com/v1#jobs",
    ],
)
def test_a_malformed_api_url_is_refused_before_anything_is_sent(
    stub: Stub, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """A space, a bad port or a broken IPv6 host escaped as ``ValueError`` (an internal error);
    a query or fragment had the route's path glued after it (``/v1?stage=v1/jobs/j1``)."""

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a request was sent")

    monkeypatch.setattr(remote.OPENER, "open", no_network)
    with pytest.raises(remote.RemoteError, match=r"^--api: ") as caught:
        remote.status("j1", url)
    assert "\n" not in str(caught.value)


class ExpiredSso:
    """A botocore session whose SSO token has expired, as ``get_credentials`` then raises."""

    def get_credentials(self) -> None:
        raise UnauthorizedSSOTokenError()


def test_credentials_that_cannot_be_loaded_are_one_line(stub: Stub) -> None:
    """An expired SSO token (or a missing profile, a role that cannot be assumed) escaped as
    botocore's exception: an internal error instead of what to do."""
    with pytest.raises(remote.RemoteError, match=r"^AWS credentials: The SSO session .* has expired") as caught:
        remote.status("j1", stub.url, session=ExpiredSso())
    assert "\n" not in str(caught.value) and stub.received == []


def test_submit_retries_while_the_first_request_with_its_key_is_in_progress(
    stub: Stub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a lost answer the retry can arrive while the first request still runs: the API
    answers 409 naming the Idempotency-Key. Submit failed there (and a second submit by hand
    started a second job); it tries again and gets the first request's answer. A conflict of
    another field (a schedule that exists) is not retried."""
    monkeypatch.setattr(remote, "RETRY_SECONDS", 0.0)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(sagemaker_spec()))
    in_progress = {"field": "Idempotency-Key", "reason": "a request with this Idempotency-Key is still in progress"}
    stub.first_answers = [(409, in_progress)]
    stub.answer = (202, {"job_id": "mnist-1", "status": "running"})
    assert remote.submit(spec, stub.url) == {"job_id": "mnist-1", "status": "running"}
    assert len(stub.received) == 2
    assert len({r["headers"]["Idempotency-Key"] for r in stub.received}) == 1
    stub.answer = (409, {"field": "schedule", "reason": "schedule 'mnist' exists"})
    with pytest.raises(remote.RemoteError, match="409 schedule: schedule 'mnist' exists") as caught:
        remote.submit(spec, stub.url)
    assert len(stub.received) == 3 and caught.value.field == "schedule"


def test_a_throttled_read_waits_what_retry_after_asks(stub: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's 429 says how long the caller's bucket needs (``Retry-After``); the retry came
    after 1 s whatever it said, and was throttled again. A wait past the cap is cut to it."""
    waits: list[float] = []
    monkeypatch.setattr(remote.time, "sleep", waits.append)
    throttled = {"field": None, "reason": "too many requests from this caller: retry in 4 s"}
    stub.first_answers = [(429, throttled, {"Retry-After": "4"}), (429, throttled, {"Retry-After": "3600"})]
    stub.answer = (200, {"job_id": "j1", "status": "running"})
    assert remote.status("j1", stub.url)["status"] == "running"
    assert waits == [4.0, remote.MAX_RETRY_AFTER_SECONDS]


def test_a_redirect_is_not_followed_with_the_signed_headers(stub: Stub) -> None:
    """urllib followed a 302 and sent Authorization and X-Amz-Security-Token on to where it
    pointed, plain HTTP to another host included (check_api_url allows https only for that)."""
    elsewhere = Stub()
    threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
    try:
        stub.answer = (302, b"", {"Location": f"{elsewhere.url}/jobs/j1"})
        with pytest.raises(remote.RemoteError, match=rf"^302 .* redirects to {elsewhere.url}/jobs/j1: ") as caught:
            remote.status("j1", stub.url)
        assert elsewhere.received == [] and caught.value.status == 302
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()


class CutBody:
    """An error answer's body whose connection closed part way (``IncompleteRead``)."""

    def read(self, *args: Any) -> bytes:
        raise http.client.IncompleteRead(b'{"re', 96)

    def close(self) -> None:
        return None


def test_an_error_answer_cut_short_is_no_answer_and_is_retried(stub: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 502 whose body was cut raised ``IncompleteRead`` from inside the ``HTTPError``
    handler, past the other handlers: an internal error, not retried."""
    import email.message
    import urllib.error

    monkeypatch.setattr(remote, "RETRY_SECONDS", 0.0)
    sent = []

    def cut(request: Any, timeout: float) -> None:
        sent.append(request.full_url)
        raise urllib.error.HTTPError(request.full_url, 502, "Bad Gateway", email.message.Message(), CutBody())  # type: ignore[arg-type]

    monkeypatch.setattr(remote.OPENER, "open", cut)
    with pytest.raises(remote.RemoteError, match=r"^502 no details .*IncompleteRead") as caught:
        remote.status("j1", stub.url)
    assert caught.value.status == 502 and len(sent) == remote.ATTEMPTS


def test_a_retry_after_of_other_digits_is_no_wait_asked(stub: Stub, monkeypatch: pytest.MonkeyPatch) -> None:
    """``"²"`` (a latin-1 header byte) passed ``isdigit`` and then failed ``float``: ValueError."""
    waits: list[float] = []
    monkeypatch.setattr(remote.time, "sleep", waits.append)
    stub.first_answers = [(429, {"reason": "slow down"}, {"Retry-After": "\xb2"})]
    stub.answer = (200, {"job_id": "j1"})
    assert remote.status("j1", stub.url) == {"job_id": "j1"}
    assert waits == [remote.RETRY_SECONDS]


def test_a_refusal_of_many_lines_is_one(stub: Stub) -> None:
    """A JSON refusal whose reason has line breaks (a proxy's, not the API's) was printed as
    several lines; every error is one."""
    stub.answer = (403, {"message": "denied\nby policy\r\n  see admin"})
    with pytest.raises(remote.RemoteError) as caught:
        remote.status("j1", stub.url)
    assert str(caught.value) == "403 denied by policy see admin"


def test_a_schedule_name_is_one_path_segment(stub: Stub) -> None:
    """A name typed with a slash or a query mark stays in its segment (the API refuses it)."""
    stub.answer = (200, {"name": "a/b?c", "deleted": True})
    remote.delete_schedule("a/b?c", stub.url)
    assert stub.received[-1]["path"] == "/v1/schedules/a%2Fb%3Fc"
