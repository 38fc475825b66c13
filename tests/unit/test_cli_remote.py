"""``hyperstep submit / status / trials / stop --api URL`` against the loopback API stub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperstep import views
from hyperstep.cli import main
from hyperstep.messages import FinishRequest, SuggestRequest, TrialResult, Usage
from hyperstep.service import TuningService
from tests.unit.test_api import call, sagemaker_spec, scheduler, service  # noqa: F401  (the fixtures)
from tests.unit.test_remote import Stub, stub  # noqa: F401  (the fixture)


def test_submit_prints_the_api_answer(stub: Stub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(sagemaker_spec()))
    stub.answer = (202, {"job_id": "mnist-1", "status": "running"})
    assert main(["submit", str(spec), "--api", stub.url]) == 0
    printed = capsys.readouterr()
    assert json.loads(printed.out) == {"job_id": "mnist-1", "status": "running"}
    assert stub.received[0]["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 ")
    # the spec's loss regex reads 1.5e-05 as 1.5: submit warned of nothing, where validate and run warn
    assert printed.err.startswith("hyperstep: warning: trial.metric_definitions.0") and printed.err.count("\n") == 1


def test_stop_goes_to_the_api(stub: Stub, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    stub.answer = (202, {"job_id": "job-1", "status": "stopping", "execution_id": "exec-1"})
    assert main(["stop", "job-1", "--api", stub.url]) == 0
    assert [(r["method"], r["path"]) for r in stub.received] == [("POST", "/v1/jobs/job-1/stop")]


def run_two_jobs(service: TuningService) -> str:  # noqa: F811
    """A finished job and a running one warm-started from it, priced and with a dollar
    budget, through the real handler; the running one's id."""
    budget = {"max_trials": 2, "max_parallel": 2, "max_cost_usd": 50}
    first = call("POST", "/jobs", sagemaker_spec(budget=budget))[1]["job_id"]
    for number, trial_id in enumerate(service.suggest(SuggestRequest(job_id=first)).trial_ids):
        usage = Usage(seconds=600, instance_type="ml.m5.large")
        metrics = {"loss": number / 4}
        service.collect(TrialResult(job_id=first, trial_id=trial_id, state="completed", metrics=metrics, usage=usage))
    service.finish(FinishRequest(job_id=first))
    second = call("POST", "/jobs", sagemaker_spec(budget=budget, warm_start={"jobs": [first]}))[1]["job_id"]
    service.suggest(SuggestRequest(job_id=second))
    return second


def test_status_of_a_deployed_job_prints_as_a_local_jobs_does(
    service: TuningService,  # noqa: F811
    stub: Stub,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``status JOB --api`` printed the API's job as it came (its spec, epoch times, no
    objective, best_params or warm_start): the summary the local command prints, from the
    real handler's answers."""
    second = run_two_jobs(service)
    first = service.store.get_job(second).parents[0]
    printed = {}
    for job_id in (first, second):
        stub.first_answers = [(200, call("GET", f"/jobs/{job_id}")[1])]
        stub.answer = (200, call("GET", f"/jobs/{job_id}/trials")[1])
        job, trials = service.store.get_job(job_id), service.store.list_trials(job_id)  # what the local command prints
        best = service.store.get_trial(job_id, job.best_trial_id) if job.best_trial_id else None
        assert main(["status", job_id, "--api", stub.url]) == 0
        printed[job_id] = json.loads(capsys.readouterr().out)
        assert printed[job_id] == views.job_summary(job, best, trials)
    assert printed[first]["best_params"] and printed[first]["cost_usd"] > 0
    assert printed[second]["warm_start"] == [first] and printed[second]["max_cost_usd"] == 50


def test_status_of_every_deployed_job_is_the_local_table(
    service: TuningService,  # noqa: F811
    stub: Stub,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``status --api`` printed the API's JSON; a local ``status`` prints a table (README:
    "all jobs, or one as JSON")."""
    run_two_jobs(service)
    call("POST", "/jobs", sagemaker_spec(name="unbudgeted"))
    stub.answer = (200, call("GET", "/jobs")[1])
    assert main(["status", "--api", stub.url]) == 0
    printed = capsys.readouterr().out
    assert printed == views.jobs_table([views.job_row(job) for job in service.store.list_jobs(limit=10)]) + "\n"
    assert "max_trials" in printed and "unbudgeted" in printed


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


def test_update_of_a_deployed_job_prints_as_a_local_update_does(
    service: TuningService,  # noqa: F811
    stub: Stub,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``update --api`` printed the whole job the API answered (its spec, counters, epoch
    times); a local update prints the job's id, status and new budget."""
    job_id = call("POST", "/jobs", sagemaker_spec())[1]["job_id"]
    stub.answer = (200, call("PATCH", f"/jobs/{job_id}", {"max_parallel": 3})[1])
    assert main(["update", job_id, "--max-parallel", "3", "--api", stub.url]) == 0
    job = service.store.get_job(job_id)  # what the local command prints
    expected = {"job_id": job_id, "status": "running", "budget": job.spec.budget.model_dump()}
    assert json.loads(capsys.readouterr().out) == expected and expected["budget"]["max_parallel"] == 3
    (sent,) = stub.received
    assert (sent["method"], sent["path"]) == ("PATCH", f"/v1/jobs/{job_id}")
    assert json.loads(sent["body"]) == {"max_parallel": 3}


def test_schedules_are_listed_and_deleted_from_the_command_line(
    service: TuningService,  # noqa: F811
    scheduler: Any,  # noqa: F811
    stub: Stub,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``submit`` of a spec with ``schedule`` creates a recurring schedule, but no command
    listed or deleted one: its ticks went on until the caller signed DELETE requests by hand."""
    assert call("POST", "/jobs", sagemaker_spec(name="nightly", schedule="rate(1 day)"))[0] == 201
    listed = call("GET", "/schedules")[1]
    stub.answer = (200, listed)
    assert main(["schedules", "--api", stub.url]) == 0
    (row,) = capsys.readouterr().out.splitlines()[2:]
    assert row.split() == ["nightly", "ENABLED", listed["schedules"][0]["schedule_arn"]]
    stub.answer = (200, call("DELETE", "/schedules/nightly")[1])
    assert main(["unschedule", "nightly", "--api", stub.url]) == 0
    assert json.loads(capsys.readouterr().out) == {"name": "nightly", "deleted": True}
    assert [(r["method"], r["path"]) for r in stub.received] == [
        ("GET", "/v1/schedules"),
        ("DELETE", "/v1/schedules/nightly"),
    ]


def test_a_spec_this_version_cannot_read_is_one_line_and_exit_2(
    service: TuningService,  # noqa: F811
    stub: Stub,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A deployment of a newer hyperstep answers a spec or trial field this CLI does not
    know: its pydantic ValidationError was an internal error (exit 1)."""
    job_id = call("POST", "/jobs", sagemaker_spec())[1]["job_id"]
    detail = call("GET", f"/jobs/{job_id}")[1]
    stub.answer = (200, {**detail, "spec": {**detail["spec"], "fidelity": {"name": "epochs"}}})
    assert main(["status", job_id, "--api", stub.url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hyperstep: error: job '{job_id}': this hyperstep (") and err.count("\n") == 1
    assert "fidelity" in err and "use the version the stack was deployed with" in err
    service.suggest(SuggestRequest(job_id=job_id))
    trials = call("GET", f"/jobs/{job_id}/trials")[1]
    first = trials["trials"][0]
    stub.first_answers = [(200, detail)]
    stub.answer = (200, {**trials, "trials": [{**first, "phase": "warmup"}]})
    assert main(["trials", job_id, "--api", stub.url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hyperstep: error: job '{job_id}', trial '{first['id']}': this hyperstep (")
    assert "phase" in err and err.count("\n") == 1
