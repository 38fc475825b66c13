"""Live jobs: a running job's budget changed (``TuningService.update_budget``, ``PATCH
/jobs/{id}``, ``hyperstep update``); the loop plans with it from its next round."""

from __future__ import annotations

import json

import pytest

from hyperstep.cli import main
from hyperstep.errors import ConflictError, SpecError
from hyperstep.guardrails import Guardrails
from hyperstep.messages import FinishRequest, SuggestRequest, WaitRequest
from hyperstep.models import JobStatus
from hyperstep.spec import BudgetUpdate
from hyperstep.stores.sqlite import SQLiteStore
from tests.unit.test_api_owners import ADMIN, ALICE, BOB, as_, published, service, submit  # noqa: F401  (fixtures)
from tests.unit.test_completion import launch_all, parts  # noqa: F401  (parts: a fixture)
from tests.unit.test_service import finish
from tests.unit.test_service import submit as submit_local


def test_a_raised_max_parallel_is_used_at_once_by_a_waiting_job(parts) -> None:  # noqa: F811
    tuning, _, orchestrator, _ = parts
    submit_local(tuning, budget={"max_trials": 10, "max_parallel": 2})
    assert len(launch_all(tuning)) == 2
    tuning.wait(WaitRequest(job_id="job", task_token="token-1", results_seen=0))
    job = tuning.update_budget("job", BudgetUpdate(max_parallel=5))
    assert job.spec.budget.max_parallel == 5 and job.spec.budget.max_trials == 10  # the rest kept
    assert [token for token, _ in orchestrator.woken] == ["token-1"]  # woken: its next round is now
    assert orchestrator.woken[0][1]["done"] is False
    assert len(launch_all(tuning)) == 3


def test_a_lowered_max_trials_stops_no_running_trial_and_ends_the_job_after_them(parts) -> None:  # noqa: F811
    tuning, backend, _, _ = parts
    submit_local(tuning, budget={"max_trials": 10, "max_parallel": 3})
    first, second, third = launch_all(tuning)
    tuning.update_budget("job", BudgetUpdate(max_trials=1))
    finish(tuning, first, 0.3)
    plan = tuning.suggest(SuggestRequest(job_id="job"))
    assert (plan.trial_ids, plan.done, backend.stopped) == ([], False, [])  # the other two run on
    finish(tuning, second, 0.2)
    finish(tuning, third, 0.1)
    assert tuning.suggest(SuggestRequest(job_id="job")).done
    tuning.finish(FinishRequest(job_id="job"))
    job = tuning.store.get_job("job")
    assert (job.completed, job.best_value, job.stop_reason) == (3, 0.1, "max_trials")
    # it said "max_trials 1 used" of a job whose 3 trials all count
    assert job.stop_detail == "max_trials 1 used: 3 trials count (it was lowered below those started)"


def test_a_finished_job_or_a_bad_value_is_refused(parts) -> None:  # noqa: F811
    tuning, _, _, _ = parts
    submit_local(tuning, budget={"max_trials": 2, "max_parallel": 1, "max_runtime_seconds": 60})
    with pytest.raises(ValueError, match="give at least one of max_parallel, max_trials, max_runtime_seconds"):
        BudgetUpdate()
    with pytest.raises(SpecError, match=r"budget\.max_parallel"):
        tuning.update_budget("job", BudgetUpdate.model_construct(max_parallel=0))
    tuning.stop("job")
    with pytest.raises(ConflictError, match="only a running job's budget can change"):
        tuning.update_budget("job", BudgetUpdate(max_trials=5))
    assert tuning.store.get_job("job").spec.budget.max_trials == 2


# ---- the API --------------------------------------------------------------------------


def test_patch_changes_the_owners_running_job_and_no_one_elses(service) -> None:  # noqa: F811
    job_id = submit(ALICE)
    for other in (BOB,):
        assert as_(other, "PATCH", f"/jobs/{job_id}", {"max_parallel": 4}) == (
            404,
            {"field": None, "reason": f"job {job_id!r} not found"},
        )
    status, body = as_(ALICE, "PATCH", f"/jobs/{job_id}", {"max_parallel": 4, "max_trials": 8})
    assert status == 200 and body["spec"]["budget"]["max_parallel"] == 4 and body["spec"]["budget"]["max_trials"] == 8
    assert as_(ADMIN, "PATCH", f"/jobs/{job_id}", {"max_runtime_seconds": 3600})[0] == 200
    assert service.store.get_job(job_id).spec.budget.max_runtime_seconds == 3600


def test_patch_refuses_a_bad_body_a_guardrail_and_a_finished_job(service, monkeypatch) -> None:  # noqa: F811
    from hyperstep_functions.api import app as api

    job_id = submit(ALICE)
    assert as_(ALICE, "PATCH", f"/jobs/{job_id}", {})[0] == 422
    assert as_(ALICE, "PATCH", f"/jobs/{job_id}", {"max_parallel": 0})[1]["field"] == "max_parallel"
    assert as_(ALICE, "PATCH", f"/jobs/{job_id}", {"target": 0.1})[1]["field"] == "target"  # not patchable
    assert as_(ALICE, "PATCH", f"/jobs/{job_id}", {"target": 0.1})[1]["reason"] == (
        "unknown field (known: max_parallel, max_trials, max_runtime_seconds, max_cost_usd)"
    )
    assert as_(ALICE, "PATCH", f"/jobs/{job_id}", {"max_paralel": 4}) == (
        422,
        {"field": "max_paralel", "reason": "unknown field; did you mean max_parallel?"},
    )
    monkeypatch.setattr(api, "guardrails", Guardrails(max_parallel=3))
    status, body = as_(ALICE, "PATCH", f"/jobs/{job_id}", {"max_parallel": 4})
    assert (status, body["field"]) == (422, "budget.max_parallel") and "limit of 3" in body["reason"]
    service.stop(job_id)
    status, body = as_(ALICE, "PATCH", f"/jobs/{job_id}", {"max_parallel": 2})
    assert status == 409 and "stopping" in body["reason"]
    assert service.store.get_job(job_id).spec.budget.max_parallel == 2


# ---- the command line -----------------------------------------------------------------


def test_update_changes_a_job_in_the_local_store_and_names_a_bad_flag(tmp_path, capsys, parts) -> None:  # noqa: F811
    tuning, _, _, _ = parts
    store_path = tmp_path / "store.db"
    store = SQLiteStore(store_path)
    submit_local(type(tuning)(store, {}, parts[2]))
    assert main(["--store", str(store_path), "update", "job", "--max-trials", "9", "--max-parallel", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["budget"]["max_trials"] == 9
    assert store.get_job("job").spec.budget.max_parallel == 3
    assert main(["--store", str(store_path), "update", "job"]) == 2
    assert "hyperstep: error: update: give at least one of" in capsys.readouterr().err
    assert main(["--store", str(store_path), "update", "job", "--max-parallel", "0"]) == 2
    assert "hyperstep: error: --max-parallel: Input should be greater than or equal to 1" in capsys.readouterr().err
    store.set_job_status("job", JobStatus.COMPLETED)
    assert main(["--store", str(store_path), "update", "job", "--max-trials", "20"]) == 2
    assert "is completed: only a running job's budget can change" in capsys.readouterr().err
