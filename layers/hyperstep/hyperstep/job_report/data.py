"""What a report is drawn from: the job, its trials and each trial's learning curve.

Local jobs come from the SQLite store; jobs on a deployment from its API
(``GET /jobs/{id}`` and ``GET /jobs/{id}/trials``, through ``hyperstep.remote``).
A trial's learning curve is the one its store keeps (``Trial.curve``: the objective's step
reports, which early stopping decides from; the API's trials carry it too). For a local
trial without one (a trial too short for the log to be followed while it ran), the curve is
read from its log (``<runs>/<job>/<trial>/train.log``) with the job's metric regex, line by
line as the local backend reads it: the n-th match is step n.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hyperstep import __version__
from hyperstep.errors import HyperstepError
from hyperstep.metric_regex import find_all
from hyperstep.models import Job, Trial
from hyperstep.spec import JobSpec, describe_validation_error
from hyperstep.stores.base import TrialStore

Read = TypeVar("Read", bound=BaseModel)

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
    "parents",
)
"""Fields of the API's job detail that a ``Job`` holds under the same name."""


@dataclass
class ReportData:
    job: Job
    trials: list[Trial]
    curves: dict[str, dict[int, float]] = field(default_factory=dict)
    """Trial id to the objective's value at each step the trial reported."""


def from_store(store: TrialStore, job_id: str, runs_dir: Path | None = None) -> ReportData:
    job = store.get_job(job_id)
    trials = store.list_trials(job.id)
    logged = learning_curves(job, runs_dir) if runs_dir else {}
    return ReportData(job, trials, {**logged, **stored_curves(trials)})


def stored_curves(trials: list[Trial]) -> dict[str, dict[int, float]]:
    """The curves the store keeps, by trial (trials with none left out)."""
    return {t.id: dict(sorted(t.curve.items())) for t in trials if t.curve}


def from_api(job_id: str, api_url: str, *, session: Any = None) -> ReportData:
    """A job on a deployment, read through its API (SigV4-signed as ``hyperstep status`` does)."""
    from hyperstep import remote

    detail = remote.status(job_id, api_url, session=session)
    job = job_from_detail(detail)
    answer = remote.trials(job.id, api_url, session=session)["trials"]
    trials = [deployed(Trial, t, f"job {job.id!r}, trial {t.get('id')!r}") for t in answer]
    return ReportData(job, trials, stored_curves(trials))


def job_from_detail(detail: dict[str, Any]) -> Job:
    """The ``Job`` that ``GET /jobs/{job_id}`` describes."""
    known = {name: detail[name] for name in JOB_FIELDS if name in detail}
    return Job(
        id=detail["job_id"],
        spec=deployed(JobSpec, detail["spec"], f"job {detail['job_id']!r}"),
        status=detail["status"],
        budget_used=detail.get("trials", 0),
        **known,
    )


def deployed(model: type[Read], data: Any, what: str) -> Read:
    """``data`` from a deployment's answer as ``model``; ``HyperstepError`` (one line) when
    this hyperstep cannot read it: a deployment of another version than this CLI."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise HyperstepError(
            f"{what}: this hyperstep ({__version__}) cannot read what the deployment answers "
            f"({describe_validation_error(exc)}): use the version the stack was deployed with"
        ) from None


def learning_curves(job: Job, runs_dir: Path) -> dict[str, dict[int, float]]:
    """The objective's successive values in each trial's log, at steps 1, 2, ... (trials
    that printed one or more)."""
    block = job.spec.trial
    definitions = [d for d in getattr(block, "metric_definitions", []) if d.name == job.spec.primary.metric]
    if not definitions:
        return {}
    pattern = re.compile(definitions[0].regex)
    curves: dict[str, dict[int, float]] = {}
    for log in sorted((runs_dir / job.id).glob("*/train.log")):
        values = _values(log.read_text(errors="replace"), pattern)
        if values:
            curves[log.parent.name] = dict(enumerate(values, start=1))
    return curves


def _values(text: str, pattern: re.Pattern[str]) -> list[float]:
    values = []
    for line in text.splitlines():
        for match in find_all(pattern, line):
            try:
                values.append(float(match.group(1)))
            except (TypeError, ValueError):
                continue
    return values
