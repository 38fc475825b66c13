"""``hyperstep report --api`` of a job kept in DynamoDB, under moto: the API function's own
answers (signed requests routed to it as API Gateway would hand them over) are what the
report reads. Its learning curves are the curves DynamoDB keeps (``CURVE#`` chunks), with
no log at hand, and a job with two objectives and a constraint draws its Pareto front."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hyperstep.cli import main
from hyperstep.models import Job
from hyperstep.spec import parse_spec
from hyperstep.study import Study
from tests.integration.moto_harness import MotoStack, moto_stack
from tests.integration.test_moto_live_jobs import ALICE, call_api
from tests.integration.test_moto_tuning_job import SAGEMAKER_BLOCK, spec_for

pytestmark = pytest.mark.slow
API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/v1"


@pytest.fixture
def stack() -> Iterator[MotoStack]:
    with moto_stack() as deployed:
        yield deployed


def two_objective_job(stack: MotoStack, trials: int = 10) -> Job:
    """A finished job of Alice's in DynamoDB: val_loss and size_mb minimized, latency_ms at
    most 40; every trial reported val_loss at three steps before its final values."""
    names = ("val_loss", "size_mb", "latency_ms")
    block = {**SAGEMAKER_BLOCK, "metric_definitions": [{"name": n, "regex": f"{n}=([0-9.eE+-]+)"} for n in names]}
    document = {**spec_for(block), "name": "report-me"}
    del document["objective"]
    document["objectives"] = [{"metric": "val_loss", "goal": "minimize"}, {"metric": "size_mb", "goal": "minimize"}]
    document["constraints"] = [{"metric": "latency_ms", "max": 40}]
    job = Job(id="report-me-1", spec=parse_spec(document), owner=ALICE, created_at=stack.service.clock())
    stack.service.store.create_job(job)
    study = Study.from_job(stack.service.store, job)
    for trial in study.ask(trials):
        loss = (trial.params["lr"] - 0.003) ** 2 * 1e4 + 0.1 * trial.params["layers"]
        for step in (1, 2, 3):
            study.report(trial.id, step, loss + 1.0 / step)
        size = 10.0 * trial.params["layers"] / (1 + loss)
        study.tell(trial.id, [loss, size], metrics={"latency_ms": 10.0 * trial.params["layers"]})
    return study.job


def test_the_report_of_an_api_job_has_its_stored_curves_and_its_front(
    stack: MotoStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hyperstep import remote

    job = two_objective_job(stack)
    asked: list[str] = []

    def through_the_api(method: str, api_url: str, path: str, body: Any = None, **_: Any) -> dict[str, Any]:
        assert api_url == API_URL
        asked.append(path)
        status, answer = call_api(stack, method, path, body)
        assert status == 200, answer
        return answer

    monkeypatch.setattr(remote, "request", through_the_api)
    assert main(["report", job.id, "--api", API_URL, "--out", str(tmp_path)]) == 0
    assert asked == [f"/jobs/{job.id}", f"/jobs/{job.id}/trials"]
    html = (tmp_path / "report.html").read_text()
    figures = re.findall(r'<figure id="([a-z_]+)">', html)
    assert {"learning_curves", "pareto_front", "best_vs_trials"} <= set(figures)
    stored = stack.service.store.list_trials(job.id)
    assert all(sorted(t.curve) == [1, 2, 3] for t in stored)  # what the page's curves were drawn from
    front = [t.id for t in Study.from_job(stack.service.store, stack.service.store.get_job(job.id)).pareto_front]
    assert f"<dt>Pareto front</dt><dd>{len(front)} trials: {', '.join(front)}</dd>" in html
