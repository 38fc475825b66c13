"""``hyperstep submit / status / trials / stop --api URL`` against the loopback API stub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hyperstep import views
from hyperstep.cli import main
from hyperstep.messages import SuggestRequest, TrialResult
from hyperstep.service import TuningService
from tests.unit.test_api import call, sagemaker_spec, service  # noqa: F401  (the fixture)
from tests.unit.test_remote import Stub, stub  # noqa: F401  (the fixture)


def test_submit_prints_the_api_answer(stub: Stub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(sagemaker_spec()))
    stub.answer = (202, {"job_id": "mnist-1", "status": "running"})
    assert main(["submit", str(spec), "--api", stub.url]) == 0
    assert json.loads(capsys.readouterr().out) == {"job_id": "mnist-1", "status": "running"}
    assert stub.received[0]["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 ")


def test_status_and_stop_go_to_the_api(stub: Stub, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    stub.answer = (200, {"ok": True})
    assert main(["status", "job-1", "--api", stub.url]) == 0
    assert main(["stop", "job-1", "--api", stub.url]) == 0
    sent = [(r["method"], r["path"]) for r in stub.received]
    assert sent == [("GET", "/v1/jobs/job-1"), ("POST", "/v1/jobs/job-1/stop")]


@pytest.mark.parametrize("form", ["table", "csv"])
def test_trials_of_a_deployed_job_print_as_a_local_jobs_do(
    service: TuningService,  # noqa: F811
    stub: Stub,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    form: str,
) -> None:
    """``trials --api`` printed the API's JSON and ignored ``--csv``: a table (or CSV) as for
    a local job, from the real handler's answers."""
    job_id = call("POST", "/jobs", sagemaker_spec(budget={"max_trials": 2, "max_parallel": 2}))[1]["job_id"]
    for number, trial_id in enumerate(service.suggest(SuggestRequest(job_id=job_id)).trial_ids):
        service.collect(TrialResult(job_id=job_id, trial_id=trial_id, state="completed", metrics={"loss": number / 4}))
    stub.first_answers = [(200, call("GET", f"/jobs/{job_id}")[1])]
    stub.answer = (200, call("GET", f"/jobs/{job_id}/trials")[1])
    job, trials = service.store.get_job(job_id), service.store.list_trials(job_id)  # what the local command prints
    expected = views.trials_csv(job, trials) if form == "csv" else views.trials_table(job, trials) + "\n"
    assert main(["trials", job_id, "--api", stub.url] + (["--csv"] if form == "csv" else [])) == 0
    printed = capsys.readouterr().out
    assert printed == expected and "0.25" in printed
    assert [(r["method"], r["path"]) for r in stub.received] == [
        ("GET", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{job_id}/trials"),
    ]


def test_an_api_refusal_is_one_line_and_exit_2(stub: Stub, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    stub.answer = (409, {"field": "status", "reason": "job is completed"})
    assert main(["stop", "job-1", "--api", stub.url]) == 2
    assert capsys.readouterr().err.strip() == "hyperstep: error: 409 status: job is completed"


def test_submit_without_an_api_url_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HYPERSTEP_API_URL", raising=False)
    assert main(["submit", "spec.yaml"]) == 2
    assert "--api: give the deployment's API URL" in capsys.readouterr().err


def test_a_profile_that_is_not_there_is_one_line_and_exit_2(
    stub: Stub,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """botocore's ``ProfileNotFound`` was an internal error (exit 1, "HYPERSTEP_DEBUG=1 shows where")."""
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    assert main(["status", "job-1", "--api", stub.url]) == 2
    assert capsys.readouterr().err == (
        "hyperstep: error: AWS credentials: The config profile (no-such-profile) could not be found\n"
    )
    assert stub.received == []


def test_a_url_api_gateway_has_no_route_for_says_so(stub: Stub, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """API Gateway answers a signed request to a path it has no route for (a wrong stage in
    --api) with 403 "Missing Authentication Token", which read as a credentials problem."""
    stub.answer = (403, {"message": "Missing Authentication Token"})
    wrong_stage = stub.url.replace("/v1", "/prod")
    assert main(["status", "job-1", "--api", wrong_stage]) == 2
    assert capsys.readouterr().err == (
        f"hyperstep: error: 403 Missing Authentication Token: API Gateway has no route {wrong_stage}/jobs/job-1; "
        "is --api the stack's ApiUrl output (with its stage)?\n"
    )
