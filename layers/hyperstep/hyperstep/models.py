"""Records that the stores keep: jobs and trials.

They are plain pydantic models so that every adapter (SQLite, DynamoDB, in-memory)
stores and returns exactly the same thing.

A trial's reported metrics are kept with their step and finality (``MetricReport``) and
merged by ``merge_reports``, which gives the same result whatever order the reports
arrive in and however often each arrives: EventBridge delivers a script's reports
unordered, some twice, some after the trial's end.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import secrets
import sys
import time
from array import array
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, NoReturn

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from hyperstep.messages import MAX_STEP, MAX_TRIAL_METRICS, LogCursor
from hyperstep.report_signing import ReportRefused
from hyperstep.spec import JobSpec
from hyperstep.spec_base import ReadBackKeepsKnownFields

MAX_USER_ATTRS = 64
"""The most user attributes a trial keeps (``Trial.with_user_attr``)."""
MAX_USER_ATTR_KEY = 255
"""The longest user attribute key, in characters (as a metric name, ``MAX_METRIC_NAME``)."""
MAX_USER_ATTRS_BYTES = 16_384
"""The most a trial's user attributes take as JSON (UTF-8, keys included). A trial is one
DynamoDB item of at most 400 KB: its configuration (``spec.MAX_CONFIG_BYTES``) and reports
leave it about 52 KB for the rest, and this takes 16 KB of them."""


class TrialState(StrEnum):
    PENDING = "pending"  # suggested, not started yet
    RUNNING = "running"  # started on a backend
    COMPLETED = "completed"  # finished with an objective value
    FAILED = "failed"  # finished without one (crash, timeout, missing metric)
    STOPPED = "stopped"  # stopped by the user or by an interrupted run; gives its budget back
    PRUNED = "pruned"  # stopped early by the job's scheduler: keeps its curve, value and budget

    @property
    def finished(self) -> bool:
        return self in (TrialState.COMPLETED, TrialState.FAILED, TrialState.STOPPED, TrialState.PRUNED)

    @property
    def active(self) -> bool:
        return self in (TrialState.PENDING, TrialState.RUNNING)


# Optuna's names for the same members, set on the class rather than declared in it: an alias
# declared there joins ``__members__``, and the API's schema listed "completed" and "failed" twice.
TrialState.COMPLETE = TrialState.COMPLETED  # type: ignore[attr-defined]
TrialState.FAIL = TrialState.FAILED  # type: ignore[attr-defined]


class StopReason(StrEnum):
    """Why a job stopped starting trials (``Job.stop_reason``; ``hyperstep.completion``)."""

    MAX_TRIALS = "max_trials"
    MAX_RUNTIME = "max_runtime"
    MAX_COST = "max_cost"
    TARGET_REACHED = "target_reached"
    NO_IMPROVEMENT = "no_improvement"
    CONVERGED = "converged"
    MAX_FAILED_TRIALS = "max_failed_trials"
    NO_TRIAL_SUCCEEDED = "no_trial_succeeded"
    SEARCH_SPACE_EXHAUSTED = "search_space_exhausted"
    STOPPED_BY_USER = "stopped_by_user"
    FAILED = "failed"


class JobStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.STOPPED, JobStatus.FAILED)


class MetricReport(ReadBackKeepsKnownFields):
    """One value a trial's script reported for one metric, and what orders it.

    Reports of one metric are ranked by ``rank``: a final report beats any other, then a
    higher step beats a lower one (no step counts as below step 0), then a later report
    (``at``, the script's own clock) beats an earlier one. So the kept value is the final
    one once it has arrived, else the newest step's, whatever the arrival order.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float
    step: int | None = Field(default=None, ge=0, le=MAX_STEP)
    final: bool = False
    at: float | None = None
    """When the script reported it (epoch seconds); orders reports of equal step."""

    @property
    def rank(self) -> tuple[bool, int, float]:
        return (self.final, -1 if self.step is None else self.step, _time_rank(self.at))


def _time_rank(at: float | None) -> float:
    """How a report's ``at`` orders it: no ``at`` counts as older than any, ``0.0`` (a
    virtual clock's start) included."""
    return -math.inf if at is None else at


def replaces_point(at: float | None, held: float | None) -> bool:
    """Whether a step report made at ``at`` replaces the value its trial's curve holds at
    that step, written by a report made at ``held`` (None: no ``at``: a report that carried
    none, or a point stored before the stores kept one). The stores keep each point's ``at``
    and ask this, so the curve orders a step's reports as ``merge_reports`` orders a metric's
    (``MetricReport.rank``): the later ``at`` wins whatever the arrival order (EventBridge's,
    or a replay of an older signed report), a report with no ``at`` is older than any with
    one, and of equal ones (a duplicate; two with none) the later arrival wins."""
    return _time_rank(at) >= _time_rank(held)


def merge_reports(kept: Mapping[str, MetricReport], new: Mapping[str, MetricReport]) -> dict[str, MetricReport]:
    """Per metric, the report that ranks highest among ``kept`` and ``new``.

    A duplicate ranks the same and carries the same value, so merging it again changes
    nothing. Two different values of equal rank (same finality and step, no ``at``) have
    nothing that orders them; the newer arrival wins then.
    """
    merged = dict(kept)
    for name, report in new.items():
        old = merged.get(name)
        if old is None or report.rank >= old.rank:
            merged[name] = report
    return merged


def pack_points(curve: Mapping[int, float]) -> bytes:
    """Steps (int32) then values (float64), little-endian: 12 bytes a step."""
    steps = sorted(curve)
    packed_steps, packed_values = array("i", steps), array("d", [curve[s] for s in steps])
    if sys.byteorder != "little":
        packed_steps.byteswap()
        packed_values.byteswap()
    return packed_steps.tobytes() + packed_values.tobytes()


def _pack_curve(curve: Mapping[int, float]) -> str:
    """``pack_points`` as one base64 string (a curve in a trial's JSON). An empty curve is
    the empty string, not packed: the body of every trial whose curve is in its store's
    rows (each step report's write, ``stored_json``)."""
    return base64.b64encode(pack_points(curve)).decode() if curve else ""


def _unpack_curve(data: Any) -> Any:
    if not isinstance(data, str):
        return data
    return unpack_points(base64.b64decode(data))


def unpack_points(raw: bytes) -> dict[int, float]:
    """The curve ``pack_points`` packed."""
    count = len(raw) // 12
    steps, values = array("i"), array("d")
    steps.frombytes(raw[: 4 * count])
    values.frombytes(raw[4 * count :])
    if sys.byteorder != "little":
        steps.byteswap()
        values.byteswap()
    return dict(zip(steps, values))


PackedCurve = Annotated[
    dict[int, float], BeforeValidator(_unpack_curve), PlainSerializer(_pack_curve, return_type=str, when_used="json")
]
"""A learning curve (step -> objective value), stored compactly (``_pack_curve``)."""


class Charge(ReadBackKeepsKnownFields):
    """What an ended trial cost (``hyperstep.pricing``), recorded with its end."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cost_usd: float | None = Field(default=None, ge=0)
    billable_seconds: float | None = Field(default=None, ge=0)
    cost_basis: str | None = None

    def fields(self) -> dict[str, Any]:
        """The ``Trial`` fields it sets."""
        return self.model_dump()


class Trial(ReadBackKeepsKnownFields):
    """One configuration and what became of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    id: str
    number: int
    params: dict[str, Any]
    state: TrialState = TrialState.PENDING
    value: float | None = None
    """The objective's value (with several objectives: the first one's)."""
    values: list[float] | None = None
    """With several objectives: every objective's value, in the spec's order; else None."""
    metrics: dict[str, float] = Field(default_factory=dict)
    error: str | None = None
    backend_ref: str | None = None
    """The backend's name for the running trial (process id, training job name, Batch job id)."""
    created_at: float = Field(default_factory=time.time)
    """Epoch seconds, as every time here; the study stamps it with its store's clock."""
    started_at: float | None = None
    ended_at: float | None = None
    reports: dict[str, MetricReport] = Field(default_factory=dict)
    """Per metric, the highest-ranking report of the trial's script (``merge_reports``);
    while the trial is active, ``metrics`` holds their values."""
    awaiting_result_since: float | None = None
    """When the backend said the trial completed without its final objective value (epoch
    seconds). The trial stays running, holding its budget and slot, until a final report
    completes it or the reaper, after its grace period, settles it from the source."""

    cost_usd: float | None = None
    """What the trial cost in dollars once it ended (``hyperstep.pricing``); None when it
    could not be priced."""
    billable_seconds: float | None = None
    """The seconds it was billed for (per instance), as its platform reported them."""
    cost_basis: str | None = None
    """How it was priced: the rate and where the rate comes from."""
    log_cursor: LogCursor | None = None
    """How far the running trial's platform log has been read for step values (SageMaker:
    ``TuningService.follow_log``); None before the first reading."""
    expected_improvement: float | None = None
    """What the strategy's model expected when it proposed this trial: the largest expected
    improvement over its candidates, in units of the spread of the objective values it
    models (``strategies.base.Proposal``); None for a trial proposed without a model. Near
    zero for a few proposals in a row: converged (``hyperstep.completion``)."""

    user_attrs: dict[str, Any] = Field(default_factory=dict)
    """Optuna's user attributes: what the objective noted about the trial (``Study.set_trial_user_attr``,
    ``TrialHandle.set_user_attr``), each value as JSON gives it back, within ``with_user_attr``'s
    bounds. The stores leave it out of a trial's body while it is empty (``stored_json``)."""

    curve: PackedCurve = Field(default_factory=dict)
    """The objective by step, as the script reported it on the way (``stores.base.point_of``;
    a step reported twice keeps the newer report's value, ``replaces_point``): what early stopping
    decides from; a trial stopped early keeps it. The stores keep it apart
    from the trial's record and attach it on every read."""
    end_unseen: bool = Field(default=False, repr=False, exclude=True)
    """Recorded pruned (our stop) before its platform (SageMaker, Batch) was seen to end its
    job: its end event may be lost, so the reaper reads the end from the platform until one
    is recorded (``TuningService.reap_job``; the end decides its charge and whether it failed
    on its own). The stores alone keep it (``stored_json``): no answer shows it."""
    report_key: str | None = Field(default=None, repr=False, exclude=True)
    """The key its script's metric reports are signed with (``hyperstep.report_signing``).
    Secret: out of the repr and of every dump (API answers, views, logs, events); the stores
    alone keep it (``stored_json``)."""

    @property
    def intermediate_values(self) -> dict[int, float]:
        """Optuna's name for ``curve``: the objective by step, as reported."""
        return dict(self.curve)

    @property
    def datetime_start(self) -> datetime.datetime:
        """Optuna's: when the trial started (on a backend; a ``Study``'s trial when asked), local time."""
        return datetime.datetime.fromtimestamp(self.created_at if self.started_at is None else self.started_at)

    @property
    def datetime_complete(self) -> datetime.datetime | None:
        """Optuna's: when the trial ended, local time; None while it runs."""
        return None if self.ended_at is None else datetime.datetime.fromtimestamp(self.ended_at)

    @property
    def duration(self) -> datetime.timedelta | None:
        """Optuna's: ``datetime_complete - datetime_start``; None while the trial runs."""
        complete = self.datetime_complete
        return None if complete is None else complete - self.datetime_start

    def with_reports(self, reports: Mapping[str, MetricReport], objective: str | None = None) -> Trial:
        """The trial with ``reports`` merged in and ``metrics`` showing the merged values
        (its ``curve`` as it was: the stores write a step report's point, ordered by its
        ``at``, ``replaces_point``).

        Raises ``ReportRefused`` when ``reports`` name a metric the trial lacks and it would
        then keep more than ``MAX_TRIAL_METRICS`` metrics besides ``objective`` (it keeps its
        reports in one store item: a DynamoDB item holds 400 KB)."""
        merged = merge_reports(self.reports, reports)
        kept = len(merged.keys() - {objective})
        if kept > MAX_TRIAL_METRICS and not reports.keys() <= self.reports.keys():
            raise ReportRefused(
                f"the report would make trial {self.id} keep {kept} metrics: "
                f"a trial keeps at most {MAX_TRIAL_METRICS} metrics besides its objective"
            )
        values = {name: report.value for name, report in merged.items()}
        return self.model_copy(update={"reports": merged, "metrics": {**self.metrics, **values}})

    def with_user_attr(self, key: str, value: Any) -> Trial:
        """The trial with ``user_attrs[key]`` set to ``value`` as JSON gives it back (a tuple as
        a list). A ``ValueError`` naming the key and the limit for a key that is not a string or
        is longer than ``MAX_USER_ATTR_KEY`` characters, a value JSON cannot hold (Optuna asks
        for ``json.dumps``; NaN and infinity included, which JSON lacks), a key past
        ``MAX_USER_ATTRS``, or attributes past ``MAX_USER_ATTRS_BYTES``: the trial is one store
        item, and a DynamoDB item holds 400 KB."""
        if not isinstance(key, str) or not 0 < len(key) <= MAX_USER_ATTR_KEY:
            raise ValueError(f"user attribute key {key!r}: a string of 1 to {MAX_USER_ATTR_KEY} characters")
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"user attribute {key!r}: the value must be JSON-serializable ({exc})") from None
        attrs = {**self.user_attrs, key: json.loads(text)}
        if len(attrs) > MAX_USER_ATTRS:
            raise ValueError(f"user attribute {key!r}: a trial keeps at most {MAX_USER_ATTRS} user attributes")
        size = len(json.dumps(attrs, ensure_ascii=False).encode())
        if size > MAX_USER_ATTRS_BYTES:
            raise ValueError(
                f"user attribute {key!r}: the trial's user attributes would take {size:,} bytes as JSON;"
                f" at most {MAX_USER_ATTRS_BYTES:,} (a trial is one DynamoDB item, which holds 400 KB)"
            )
        return self.model_copy(update={"user_attrs": attrs})

    def set_user_attr(self, key: str, value: Any) -> NoReturn:
        """Optuna's ``ask`` gives a trial that takes ``set_user_attr``; ``ask`` here gives this
        frozen record: a ``TypeError`` naming the call that keeps the attribute."""
        raise TypeError(
            f"trial {self.number} is a stored record (a Trial is frozen): keep a user attribute with"
            f" study.set_trial_user_attr(trial, {key!r}, value); inside optimize, trial.set_user_attr works"
        )

    def final_reports(self) -> dict[str, float]:
        """The values the script reported as final, by metric."""
        return {name: report.value for name, report in self.reports.items() if report.final}


def stored_json(trial: Trial) -> str:
    """The trial as a store keeps it: its JSON with its ``report_key`` and ``end_unseen``,
    which every other dump leaves out (the store's item is encrypted at rest; reading it back
    takes the key), and without ``user_attrs`` while it is empty: a trial's body is what it
    was before the field came (``simulated_store_dump``'s digest)."""
    body = trial.model_dump_json(exclude=None if trial.user_attrs else {"user_attrs"})
    kept = {"report_key": trial.report_key, "end_unseen": trial.end_unseen or None}
    kept = {name: value for name, value in kept.items() if value is not None}
    if not kept:
        return body
    return f"{body[:-1]},{json.dumps(kept, separators=(',', ':'))[1:]}"


def drawn_seed(spec: JobSpec) -> int | None:
    """A seed for a new job whose spec gives none (numpy takes any non-negative integer);
    None when the spec gives one."""
    return secrets.randbelow(2**31) if spec.strategy.seed is None else None


def finite_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """The metrics a store can keep: NaN and infinity (a diverged run) are dropped."""
    return {name: value for name, value in metrics.items() if math.isfinite(value)}


def trial_id(number: int) -> str:
    """The id of the trial with this number within its job."""
    return f"t{number:04d}"


class Job(ReadBackKeepsKnownFields):
    """A tuning job: its spec, status and counters.

    ``budget_used`` counts trials that hold budget (all but stopped ones; trials stopped
    early by the scheduler, ``pruned``, keep theirs), ``trial_seq`` the trial numbers
    handed out; both only move up through ``TrialStore.add_trials``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    spec: JobSpec
    status: JobStatus = JobStatus.RUNNING
    created_at: float = Field(default_factory=time.time)
    """Epoch seconds; the service and the study stamp it with the store's clock."""
    ended_at: float | None = None
    reopened_at: float | None = None
    """When the job last became unfinished again after an end (``TrialStore.set_job_status``
    with ``reopen``: a keyed retry or a tick carrying on a failed start, ``run --resume``),
    on the store's clock; None if it never was."""
    trial_seq: int = 0
    budget_used: int = 0
    completed: int = 0
    failed: int = 0
    pruned: int = 0
    """Trials the job's scheduler stopped early (``TrialState.PRUNED``)."""
    best_trial_id: str | None = None
    best_value: float | None = None
    cost_usd: float = 0.0
    """What the job's ended trials cost in all (dollars): each trial's ``cost_usd`` is added
    in the step that records its end."""
    execution_id: str | None = None
    error: str | None = None
    parents: tuple[str, ...] = ()
    """Earlier jobs whose completed trials this one learns from (warm start), as SageMaker
    AMT's ``WarmStartConfig.ParentHyperParameterTuningJobs``."""
    seed: int | None = None
    """The seed drawn for a job whose spec gives none (``drawn_seed``), once, when the job
    is created and stored with it: every Suggest of the job continues the same sequence,
    and the job can be repeated. None when the spec gives the seed."""
    owner: str | None = None
    """The principal that submitted the job through the API (``hyperstep.owners``); None
    for a job created locally. Only its owner (and the deployment's admins) see it there."""
    stop_reason: StopReason | None = None
    """Why the job stopped starting trials: set by Finish (and, for a rule that lets
    running trials finish, by the Suggest that first saw it, so it holds until then)."""
    stop_detail: str | None = None
    """The same in words, with the numbers: ``no improvement in the last 10 completed trials``."""
    enqueued: dict[int, dict[str, Any]] = Field(default_factory=dict)
    """Points ``Study.enqueue_trial`` stored with the job (``TrialStore.enqueue``), by the
    trial number that runs each: numbers past the spec's ``enqueue`` points and past every
    trial number handed out when the point was stored, so any reader of the job (another
    ``Study``, the CLI's ``resume``, Suggest) runs each once, in the order they came."""
    completion_published: bool = False
    """Whether Finish has published the job's completion event since the job last became
    finished (``TrialStore.mark_completion_published``; a status write of a new end or of
    an unfinished status clears it): a
    retried Finish does not publish it twice, and the reaper announces a finished job left
    without it (``TuningService.announce_lost``)."""

    @model_serializer(mode="wrap")
    def _without_empty_enqueued(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The job as written, without ``enqueued`` while it holds no point: a job's body is
        what it was before the field came (the stores', ``simulated_store_dump``'s digest)."""
        data: dict[str, Any] = handler(self)
        if not self.enqueued:
            data.pop("enqueued", None)
        return data

    @property
    def next_enqueued_number(self) -> int:
        """The trial number ``TrialStore.enqueue`` gives the next point: past the numbers
        handed out, the spec's points and the points stored before."""
        return max(self.trial_seq, len(self.spec.enqueue), *self.enqueued) + 1

    @property
    def opened_at(self) -> float:
        """When the job's current run began: its creation, or its last reopening. A start
        under way counts its grace from it (``TuningService._close_if_ended``)."""
        return self.created_at if self.reopened_at is None else self.reopened_at

    @property
    def strategy_seed(self) -> int | None:
        """The seed the job's strategy runs with: the spec's, else the one drawn for the job
        (None only for a job stored before seeds were kept)."""
        return self.spec.strategy.seed if self.spec.strategy.seed is not None else self.seed

    @property
    def minimize(self) -> bool:
        return self.spec.primary.goal == "minimize"

    def feasible(self, trial: Trial) -> bool:
        """Whether ``trial`` completed with a value and meets the spec's constraints."""
        return trial.state is TrialState.COMPLETED and trial.value is not None and self.spec.feasible(trial.metrics)

    def beats_best(self, trial: Trial) -> bool:
        """Whether ``trial`` (just finished) becomes the job's best: it is feasible and
        better than the best so far. Never with several objectives: they have a front instead."""
        return not self.spec.multi_objective and self.feasible(trial) and self.better(trial.value, self.best_value)  # type: ignore[arg-type]

    def better(self, a: float, b: float | None) -> bool:
        """Whether objective value ``a`` beats ``b`` (None is beaten by anything)."""
        return b is None or (a < b if self.minimize else a > b)

    def summary(self) -> dict[str, Any]:
        """The fields a status line or the API shows."""
        return {
            "job_id": self.id,
            "name": self.spec.name,
            "status": self.status.value,
            "trials": self.budget_used,
            "completed": self.completed,
            "failed": self.failed,
            "best_trial_id": self.best_trial_id,
            "best_value": self.best_value,
            "cost_usd": self.cost_usd,
            "stop_reason": None if self.stop_reason is None else self.stop_reason.value,
            "stop_detail": self.stop_detail,
        }
