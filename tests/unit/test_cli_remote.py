"""``hyperstep submit / status / trials / stop --api URL`` against the loopback API stub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hyperstep.cli import main
from tests.unit.test_api import sagemaker_spec
from tests.unit.test_remote import Stub, stub  # noqa: F401  (the fixture)


def test_submit_prints_the_api_answer(stub: Stub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(sagemaker_spec()))
    stub.answer = (202, {"job_id": "mnist-1", "status": "running"})
    assert main(["submit", str(spec), "--api", stub.url]) == 0
    assert json.loads(capsys.readouterr().out) == {"job_id": "mnist-1", "status": "running"}
    assert stub.received[0]["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 ")


def test_status_trials_and_stop_go_to_the_api(stub: Stub, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    stub.answer = (200, {"ok": True})
    assert main(["status", "job-1", "--api", stub.url]) == 0
    assert main(["trials", "job-1", "--api", stub.url]) == 0
    assert main(["stop", "job-1", "--api", stub.url]) == 0
    sent = [(r["method"], r["path"]) for r in stub.received]
    assert sent == [("GET", "/v1/jobs/job-1"), ("GET", "/v1/jobs/job-1/trials"), ("POST", "/v1/jobs/job-1/stop")]


def test_an_api_refusal_is_one_line_and_exit_2(stub: Stub, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    stub.answer = (409, {"field": "status", "reason": "job is completed"})
    assert main(["stop", "job-1", "--api", stub.url]) == 2
    assert capsys.readouterr().err.strip() == "hyperstep: error: 409 status: job is completed"


def test_submit_without_an_api_url_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HYPERSTEP_API_URL", raising=False)
    assert main(["submit", "spec.yaml"]) == 2
    assert "--api: give the deployment's API URL" in capsys.readouterr().err
