"""What a report is drawn from: the job, its trials and, where the logs are at hand, each
trial's intermediate metric values.

Local jobs come from the SQLite store; jobs on a deployment from its API
(``GET /jobs/{id}`` and ``GET /jobs/{id}/trials``, through ``hyperstep.remote``).
Learning curves are read from a local run's trial logs (``<runs>/<job>/<trial>/train.log``)
with the job's metric regexes, line by line as the local backend and SageMaker read them:
every match of the objective's regex is one point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperstep.models import Job, Trial
from hyperstep.spec import JobSpec
from hyperstep.stores.base import TrialStore

JOB_FIELDS = (
    "created_at",
    "ended_at",
    "completed",
    "failed",
    "best_trial_id",
    "best_value",
    "execution_id",
    "error",
    "cost_usd",
    "stop_reason",
    "stop_detail",
)
"""Fields of the API's job detail that a ``Job`` holds under the same name."""


@dataclass
class ReportData:
    job: Job
    trials: list[Trial]
    curves: dict[str, list[float]] = field(default_factory=dict)
    """Trial id to the objective's values in the order the trial printed them."""


def from_store(store: TrialStore, job_id: str, runs_dir: Path | None = None) -> ReportData:
    job = store.get_job(job_id)
    trials = store.list_trials(job.id)
    return ReportData(job, trials, learning_curves(job, runs_dir) if runs_dir else {})


def from_api(job_id: str, api_url: str, *, session: Any = None) -> ReportData:
    """A job on a deployment, read through its API (SigV4-signed as ``hyperstep status`` does)."""
    from hyperstep import remote

    detail = remote.status(job_id, api_url, session=session)
    job = job_from_detail(detail)
    trials = [Trial.model_validate(t) for t in remote.trials(job.id, api_url, session=session)["trials"]]
    return ReportData(job, trials)


def job_from_detail(detail: dict[str, Any]) -> Job:
    """The ``Job`` that ``GET /jobs/{job_id}`` describes."""
    known = {name: detail[name] for name in JOB_FIELDS if name in detail}
    return Job(
        id=detail["job_id"],
        spec=JobSpec.model_validate(detail["spec"]),
        status=detail["status"],
        budget_used=detail.get("trials", 0),
        **known,
    )


def learning_curves(job: Job, runs_dir: Path) -> dict[str, list[float]]:
    """The objective's successive values in each trial's log (trials that printed one or more)."""
    block = job.spec.trial
    definitions = [d for d in getattr(block, "metric_definitions", []) if d.name == job.spec.primary.metric]
    if not definitions:
        return {}
    pattern = re.compile(definitions[0].regex)
    curves: dict[str, list[float]] = {}
    for log in sorted((runs_dir / job.id).glob("*/train.log")):
        values = _values(log.read_text(errors="replace"), pattern)
        if values:
            curves[log.parent.name] = values
    return curves


def _values(text: str, pattern: re.Pattern[str]) -> list[float]:
    values = []
    for line in text.splitlines():
        for match in pattern.finditer(line):
            try:
                values.append(float(match.group(1)))
            except (TypeError, ValueError):
                continue
    return values
