"""The REST API (API Gateway, IAM-signed requests): submit, list, inspect and stop jobs.

Routes (``openapi.json`` next to this file is generated from them and kept in the repo, its
``JobSpec`` as ``POST /jobs`` takes it: ``publish_runs_on_aws``):

- ``POST /jobs``: validate the spec, store the job, start its execution: 202 with the id.
  A spec with ``schedule`` creates an EventBridge Scheduler schedule instead: 201.
- ``GET /jobs``: newest jobs first; ``GET /jobs/{job_id}``: one job with its spec;
  ``GET /jobs/{job_id}/trials``: its trials, a page at a time (``limit``, at most 1,000;
  ``offset``, at most ``MAX_OFFSET``; ``next_offset`` says where the next page starts): a page also ends before
  its body would pass ``PAGE_BYTES``, so it fits Lambda's 6 MB response whatever the trials hold.
- ``POST /jobs/{job_id}/stop``: 202; 409 when the job has ended (one whose execution's start
  failed, which a retry or that execution could still take back, is closed stopped, its
  completion event published: 202).
- ``PATCH /jobs/{job_id}``: change a running job's budget (``BudgetUpdate``): 200 with the
  job; 409 when it is not running; the guardrails apply as at submit.
- ``GET /schedules``: the caller's recurring schedules; ``DELETE /schedules/{name}``: delete one.

Every job and schedule has an owner, the IAM principal that signed the request that
created it (``hyperstep.owners``: a role's sessions count as the role). A caller lists,
reads, reads the trials of, changes and stops only its own jobs; another's job answers 404 exactly
as a missing one (ids are not confirmed to strangers). The principals named in
``HYPERSTEP_ADMIN_PRINCIPALS`` (the ``AdminPrincipals`` parameter) see and stop every job.
A request without an identity is refused with 403 before anything else. A job's spec is
shown with its trial environment values redacted (``hyperstep.redaction``).

Every request gets a JSON answer, one of those its route documents in ``openapi.json``:
``{"field": ..., "reason": ...}`` with 422 for a bad spec, parameter or body, 404 for an
unknown job, 409 for a conflict, 413 / 415 for a body too large or not JSON; anything
unforeseen is a 500 ``{"reason", "request_id"}`` (Lambda's request id, to find the logged
stack trace) that shows nothing of the internals. Request bodies are read by
``hyperstep.http_input`` (bounded, UTF-8, strict JSON) before Powertools validates them
against the models.

The routes run with the service ``handle_api`` is given (``app.context``): the Lambda
passes the AWS service it builds once from its environment; the moto harness its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import cache, partial
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as NoSuchRoute
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.shared.json_encoder import Encoder
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from hyperstep.backends.registry import AWS_BACKENDS
from hyperstep.early_stopping import early_stopping_warnings
from hyperstep.errors import ConflictError, JobExistsError, KeyReusedError, NotFoundError, SpecError
from hyperstep.guardrails import Guardrails
from hyperstep.handlers import count_ends
from hyperstep.http_input import (
    MAX_BODY_BYTES,
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    BodyRefused,
    Routes,
    check_query,
    query_routes,
    readable_body,
    strict_json,
)
from hyperstep.job_pages import PageTokenError, page_token, token_place
from hyperstep.keyed_submit import submit_keyed
from hyperstep.models import Job, StopReason, Trial
from hyperstep.objectives import pareto_front
from hyperstep.owners import Caller, owner_of, parse_admins
from hyperstep.recorded_ends import recording
from hyperstep.recurring import (
    RecurringSchedules,
    ScheduleConflict,
    ScheduleCreated,
    ScheduleSummary,
    SchedulingUnavailable,
)
from hyperstep.redaction import redacted
from hyperstep.service import TuningService
from hyperstep.spec import BudgetUpdate, JobSpec, field_and_reason, named_field
from hyperstep.spec_base import MAX_JSON_INT
from hyperstep.throttling import CallerThrottle, retry_after
from hyperstep.views import job_row
from hyperstep.warm_start import check_parent
from hyperstep.wiring import aws_service_factory, schedules_factory, throttle_factory

logger = Logger()
tracer = Tracer()
metrics = Metrics()
to_json = partial(json.dumps, separators=(",", ":"), allow_nan=False, cls=Encoder)
"""Powertools' compact serializer, refusing NaN and infinity (not JSON) rather than sending them."""
app = APIGatewayRestResolver(enable_validation=True, serializer=to_json, json_body_deserializer=strict_json)
service = aws_service_factory(os.environ)
schedules = schedules_factory(os.environ)
throttle = throttle_factory(os.environ)
guardrails = Guardrails.from_env(os.environ)
Schedules = Callable[[], RecurringSchedules]

JobId = Annotated[str, Path(min_length=1, max_length=256)]
"""Job ids are short (``new_job_id``); a longer one is refused before it reaches the store's keys."""
ScheduleName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9\-]{0,39}$")]
"""A schedule is named by its spec's name (``JobSpec.name``'s pattern)."""
TRIALS_PER_PAGE = 1000
MAX_OFFSET = MAX_JSON_INT
"""The largest offset, published so a client reads the bound from the schema: the JSON-safe
integer. Not ``budget.max_trials``' bound: a stopped trial gives its unit of budget back and
another runs, so a job may hold more trials than that, each reachable through ``next_offset``."""
PAGE_BYTES = 5_000_000
"""A page of trials stops before its body, as Lambda's response carries it (a JSON string
inside the JSON response), passes this: Lambda's limit is 6 MB, a trial (one DynamoDB
item) at most 400 KB."""
IDEMPOTENCY_HEADER = "Idempotency-Key"
HEADERS = {IDEMPOTENCY_HEADER.lower(): IDEMPOTENCY_HEADER}
"""The request headers the routes read, by the lower-case name a validation error gives."""
# A retried POST /jobs with the same key (from the same owner: a role's sessions are one
# owner, as they share their jobs) answers what the first
# one did and starts nothing; the same key with another spec is refused.
IDEMPOTENCY = IdempotencyConfig(
    event_key_jmespath="[owner, key]",
    payload_validation_jmespath="spec",
    expires_after_seconds=24 * 3600,
)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Problem(_Out):
    """Why a request was refused: the field at fault (if any) and the reason."""

    field: str | None = None
    reason: str


class ServerError(_Out):
    """Something went wrong inside: ``request_id`` finds the details in the function's logs."""

    reason: str
    request_id: str | None = None


class JobAccepted(_Out):
    job_id: str
    status: str
    execution_id: str | None = None
    warnings: list[str] = Field(default_factory=list, exclude_if=lambda v: not v)
    """What in the accepted spec nothing reads (``hyperstep validate`` prints the same lines);
    left out when there is none."""


class ScheduleAccepted(ScheduleCreated):
    """The schedule made (``ScheduleCreated``), with ``JobAccepted``'s ``warnings``: each
    tick starts a job of the same spec."""

    warnings: list[str] = Field(default_factory=list, exclude_if=lambda v: not v)


class JobSummary(_Out):
    job_id: str
    name: str
    status: str
    trials: int
    completed: int
    failed: int
    best_trial_id: str | None = None
    best_value: float | None = None
    cost_usd: float = 0.0
    """Dollars the job's ended trials cost (list prices: ``hyperstep.pricing``)."""
    stop_reason: StopReason | None = None
    """Why the job stopped starting trials (``hyperstep.completion``); set once it finishes,
    or earlier by a rule that lets running trials finish (no_improvement, converged)."""
    stop_detail: str | None = None
    """The same in words, with the numbers."""
    max_cost_usd: float | None = None
    """The job's dollar budget (``budget.max_cost_usd``); None: none."""


class JobDetail(JobSummary):
    created_at: float
    ended_at: float | None = None
    execution_id: str | None = None
    error: str | None = None
    spec: dict[str, Any]
    pareto_front: list[str] | None = None
    """With several objectives: the ids of the feasible trials no other feasible one dominates."""
    parents: list[str] = []
    """The earlier jobs whose trials its strategy learns from: the spec's ``warm_start.jobs``
    and, for a run a schedule started, the schedule's last completed run."""


class JobList(_Out):
    jobs: list[JobSummary]
    next_token: str | None = None
    """More jobs remain: pass it back (``?next_token=``) for the next page; None on the last."""


class ScheduleList(_Out):
    schedules: list[ScheduleSummary]


class ScheduleDeleted(_Out):
    name: str
    deleted: bool = True


class TrialList(_Out):
    job_id: str
    trials: list[Trial]
    next_offset: int | None = None
    """Where the next page starts (``?offset=``); None on the last page."""


def _problem(status: int, reason: str, field: str | None = None) -> Response:
    return Response(status, content_types.APPLICATION_JSON, Problem(field=field, reason=reason).model_dump())


REASONS = {
    400: "A next_token no GET /jobs answer gave this caller",
    403: "The request carries no IAM identity",
    404: "No such job (or path); another principal's job answers the same",
    409: "A conflict: the job's state, an existing schedule, a request still in progress",
    413: f"The request body is over {MAX_BODY_BYTES:,} bytes",
    415: "The request body is not JSON",
    422: "Invalid request: the field at fault and the reason",
    429: "Too many requests from this caller (its own rate, ApiCallerRate): wait Retry-After seconds",
    501: "Recurring tuning is not configured in this deployment",
}
EVERY_ROUTE = (403, 413, 415, 422, 429)
"""Refusals any route can answer: the identity, the caller's rate and the body are checked
before routing, and every route validates its parameters."""


def _docs(model: type[BaseModel], description: str, *errors: int) -> dict[int, dict[str, Any]]:
    """OpenAPI responses of a route: its success model, the ``Problem`` errors it returns
    (its own and ``EVERY_ROUTE``'s) and the 500 any request may meet."""
    problem = {"application/json": {"model": Problem}}
    return {
        **{code: {"description": REASONS[code], "content": problem} for code in sorted({*errors, *EVERY_ROUTE})},
        500: {
            "description": "Internal error: the logs hold the details under request_id",
            "content": {"application/json": {"model": ServerError}},
        },
        200 if model is not JobAccepted else 202: {
            "description": description,
            "content": {"application/json": {"model": model}},
        },
    }


@app.exception_handler(RequestValidationError)
def _invalid(exc: RequestValidationError) -> Response:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":  # its loc is ("body", character offset)
        reason = first.get("ctx", {}).get("error", first["msg"])
        return _problem(422, f"not valid JSON{place(app.current_event.body or '', first['loc'][-1])}: {reason}", "body")
    spec_trial = first["loc"][:2] == ("body", "trial") and app.current_event.http_method == "POST"
    if spec_trial and (reason := off_aws(app.current_event.json_body.get("trial"))):
        return _problem(422, reason, "trial.backend")
    part = first["loc"][0] if first["loc"] else None  # body, path, query or header
    in_part = part in ("body", "path", "query", "header")
    field, reason = named_field(*field_and_reason({**first, "loc": first["loc"][1:] if in_part else first["loc"]}))
    if part == "header":  # Powertools reads header names in lower case: named as documented
        field = HEADERS.get(field, field)
    if part in ("query", "header") and isinstance(first.get("input"), list):  # ?limit=5&limit=6: a list, never valid
        reason = "given more than once: give it once"
    return _problem(422, reason, field or ("body" if part == "body" else None))


def place(text: str, offset: Any) -> str:
    """`` at line N, column C`` of a character ``offset`` in ``text``, as ``hyperstep validate``
    names it in a file; empty at offset 0 (``strict_json``'s own refusals, a first character)."""
    if not isinstance(offset, int) or not 0 < offset <= len(text):
        return ""
    line, column = text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)
    return f" at line {line}, column {column}"


@app.exception_handler(SpecError)
def _bad_spec(exc: SpecError) -> Response:
    field, _, reason = str(exc).partition(": ")
    return _problem(422, reason or field, field if reason else None)


@app.exception_handler(PageTokenError)
def _bad_token(exc: PageTokenError) -> Response:
    return _problem(400, str(exc), "next_token")


@app.exception_handler(NotFoundError)
def _not_found(exc: NotFoundError) -> Response:
    return _problem(404, str(exc))


@app.exception_handler(ConflictError)
@app.exception_handler(JobExistsError)
def _conflict(exc: Exception) -> Response:
    return _problem(409, str(exc))


@app.exception_handler(ScheduleConflict)
def _schedule_conflict(exc: ScheduleConflict) -> Response:
    return _problem(409, str(exc), "schedule")


@app.not_found
def _no_route(exc: NoSuchRoute) -> Response:
    """A path no route matches (API Gateway sends only its own resources; a job id with a
    character the routes do not take, such as an encoded '/', lands here)."""
    return _problem(404, "no such resource", "path")


@app.exception_handler(Exception)
def _unforeseen(exc: Exception) -> Response:
    """Anything unforeseen in a route: logged with its stack trace, answered without it."""
    logger.exception("unhandled error")
    return Response(500, content_types.APPLICATION_JSON, server_error(app.lambda_context))


@app.exception_handler(IdempotencyAlreadyInProgressError)
def _in_progress(exc: IdempotencyAlreadyInProgressError) -> Response:
    return _problem(409, "a request with this Idempotency-Key is still in progress", IDEMPOTENCY_HEADER)


@app.exception_handler(IdempotencyValidationError)
@app.exception_handler(KeyReusedError)
def _key_reused(exc: Exception) -> Response:
    return _problem(422, "this Idempotency-Key was used with another spec", IDEMPOTENCY_HEADER)


@app.exception_handler(SchedulingUnavailable)
def _no_scheduler(exc: SchedulingUnavailable) -> Response:
    return _problem(501, str(exc), "schedule")


def check_runs_on_aws(spec: JobSpec) -> None:
    """A deployment runs trials on SageMaker or Batch only: refuse anything else up front."""
    if spec.trial is None:
        raise SpecError("trial: a trial block (backend sagemaker or batch) is required to run on AWS")
    if reason := off_aws({"backend": spec.trial.backend}):
        raise SpecError(f"trial.backend: {reason}")


def off_aws(trial: Any) -> str | None:
    """Why a trial block (as sent) does not run on a deployment, or None. Asked before the
    block's own fields are: a block of another backend (or none) was refused for one of them
    (``trial.objective`` required, of the simulated block) or in words naming the library's
    backends a deployment does not run."""
    if not isinstance(trial, dict) or trial.get("backend") in AWS_BACKENDS:
        return None
    if "backend" not in trial:
        return "Field required (sagemaker or batch)"
    if not isinstance(trial["backend"], str):
        return "should be a string: sagemaker or batch"
    return f"{trial['backend'][:60]!r} cannot run on AWS (use sagemaker or batch)"  # clipped, as a name is


@app.post(
    "/jobs",
    summary="Submit a tuning job (or create its recurring schedule)",
    responses={
        **_docs(JobAccepted, "Job stored and its execution started", 409, 501),
        201: {
            "description": "Recurring schedule created",
            "content": {"application/json": {"model": ScheduleAccepted}},
        },
    },
)
def submit_job(
    spec: JobSpec,
    idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, min_length=1, max_length=255)] = None,
) -> Response[JobAccepted | ScheduleAccepted]:
    check_runs_on_aws(spec)
    guardrails.check(spec)
    check_parents(spec)
    _service().check_listed_prices(spec)  # a schedule's ticks would each be refused for it
    request = {"spec": spec.model_dump(mode="json"), "key": idempotency_key, "owner": _current().owner}
    if idempotency_key is None:
        outcome = _submit(request=request)
    else:
        outcome = idempotent_submit(app.context["idempotency_table"])(request=request)
    answer = JobAccepted if outcome["status"] == 202 else ScheduleAccepted  # from the spec as sent: every field
    body = answer.model_validate({**outcome["body"], "warnings": early_stopping_warnings(spec)}).model_dump()
    return Response(outcome["status"], content_types.APPLICATION_JSON, body)


def _submit(request: dict[str, Any]) -> dict[str, Any]:
    """Create the schedule or store and start the job; the answer as plain JSON (storable)."""
    spec = JobSpec.model_validate(request["spec"])
    if spec.schedule is not None:
        created = _recurring_schedules().create(spec, request["owner"], _service().store)
        logger.info("schedule created", extra={"schedule": created.schedule_name})
        return {"status": 201, "body": created.model_dump()}
    owner, key = request["owner"], request["key"]
    job = _service().submit(spec, owner=owner) if key is None else submit_keyed(_service(), spec, owner, key)
    logger.info("job submitted", extra={"job_id": job.id})
    accepted = JobAccepted(job_id=job.id, status=job.status.value, execution_id=job.execution_id)
    return {"status": 202, "body": accepted.model_dump()}


def check_parents(spec: JobSpec) -> None:
    """A job learns only from jobs its caller may see: a parent that is unknown or another
    principal's is refused (422) naming it, worded alike for both (ids are not confirmed
    to strangers), before anything is stored or scheduled. So is one of another objective
    (``warm_start.check_parent``, as a job's creation refuses it): a schedule's ticks would
    otherwise leave it out each run without a word (``recurring.learnable_parents``)."""
    for index, parent in enumerate(spec.warm_start.jobs if spec.warm_start is not None else ()):
        try:
            job = _visible_job(parent)
        except NotFoundError:
            raise SpecError(f"warm_start.jobs.{index}: job {parent!r} not found") from None
        check_parent(spec, job)


@cache
def idempotent_submit(table: str) -> Callable[..., dict[str, Any]]:
    """``_submit`` made idempotent on (caller, key), its records kept in the job table
    (key ``idempotency#submit`` / hash, removed by the table's TTL). One persistence layer
    per table, built on first use (it makes a DynamoDB client, which needs a region)."""
    persistence = DynamoDBPersistenceLayer(
        table_name=table,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value="idempotency#submit",
        expiry_attr="expires_at",
    )
    return idempotent_function(
        _submit, data_keyword_argument="request", persistence_store=persistence, config=IDEMPOTENCY
    )


def _service() -> TuningService:
    """The service of the request being resolved (``handle_api``'s)."""
    return app.context["service"]


def _recurring_schedules() -> RecurringSchedules:
    """The Scheduler adapter (``SchedulingUnavailable`` when the deployment has none)."""
    return app.context["schedules"]()


def _current() -> Caller:
    """The caller of the request being resolved (``handle_api`` refused it without one)."""
    return app.context["caller"]


def _visible_job(job_id: str) -> Job:
    """The job if the caller may see it; ``NotFoundError``, worded as for a missing job, if
    it is another principal's (ids are not confirmed to strangers)."""
    job = _service().store.get_job(job_id)
    if not _current().sees(job.owner):
        raise NotFoundError(f"job {job_id!r} not found")
    return job


@app.get(
    "/jobs",
    summary="The caller's jobs (an admin's: every job), newest first, a page at a time",
    responses=_docs(JobList, "Jobs", 400),
)
def list_jobs(limit: Annotated[int, Query(ge=1, le=1000)] = 100, next_token: str | None = None) -> JobList:
    caller = _current()
    owner = None if caller.admin else caller.owner
    after = None if next_token is None else token_place(next_token, owner)
    jobs = _service().store.list_jobs(limit=limit + 1, owner=owner, after=after)  # one more: is there a next page?
    page = jobs[:limit]
    token = page_token(page[-1], owner) if len(jobs) > limit else None
    return JobList(jobs=[JobSummary(**job_row(job)) for job in page], next_token=token)


@app.get("/jobs/<job_id>", summary="One job with its spec", responses=_docs(JobDetail, "The job", 404))
def get_job(job_id: JobId) -> JobDetail:
    return job_detail(_visible_job(job_id))


def job_detail(job: Job) -> JobDetail:
    """What ``GET /jobs/{job_id}`` answers: the job, with its spec's secrets redacted (and,
    with several objectives, its Pareto front's trial ids)."""
    front = None
    if job.spec.multi_objective:
        front = [t.id for t in pareto_front(job.spec, _service().store.list_trials(job.id))]
    return JobDetail(
        **job_row(job),
        created_at=job.created_at,
        ended_at=job.ended_at,
        execution_id=job.execution_id,
        error=job.error,
        spec=redacted(job.spec),
        pareto_front=front,
        parents=list(job.parents),
    )


@app.get("/jobs/<job_id>/trials", summary="The job's trials", responses=_docs(TrialList, "Trials", 404))
def list_trials(
    job_id: JobId,
    limit: Annotated[int, Query(ge=1, le=TRIALS_PER_PAGE)] = TRIALS_PER_PAGE,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> TrialList:
    """Trials in number order, a page at a time (a response must stay under Lambda's 6 MB)."""
    store = _service().store
    _visible_job(job_id)  # 404 for an unknown (or another's) job rather than an empty list
    trials = store.list_trials(job_id)
    page = fitting_page(trials[offset : offset + limit])
    end = offset + len(page)
    return TrialList(job_id=job_id, trials=page, next_offset=end if end < len(trials) else None)


def fitting_page(trials: list[Trial]) -> list[Trial]:
    """The first trials whose body stays under ``PAGE_BYTES`` as Lambda's response carries it
    (each trial serialized, then escaped as part of a JSON string); at least one."""
    size = 0
    for count, trial in enumerate(trials):
        size += len(json.dumps(to_json(trial.model_dump(mode="json")))) - 1  # two quotes out, one comma in
        if count and size > PAGE_BYTES:
            return trials[:count]
    return trials


@app.post(
    "/jobs/<job_id>/stop",
    summary="Stop a running job",
    responses=_docs(JobAccepted, "Stopping: running trials are stopped, then the job finishes", 404, 409),
)
def stop_job(job_id: JobId) -> Response[JobAccepted]:
    _visible_job(job_id)
    with recording() as ends:  # the pending trials it records stopped (running ones end in collect)
        try:
            job = _service().stop(job_id)
        finally:  # also when a later step of the stop fails: each end is recorded, and counted, once
            if ends:  # flushed here: most requests count nothing (log_metrics would warn on each)
                count_ends(metrics, _service().store.get_job(job_id), ends)
                metrics.flush_metrics()
    logger.info("job stopping", extra={"job_id": job_id})
    accepted = JobAccepted(job_id=job.id, status=job.status.value, execution_id=job.execution_id)
    return Response(202, content_types.APPLICATION_JSON, accepted.model_dump())


@app.patch(
    "/jobs/<job_id>",
    summary="Change a running job's budget",
    responses=_docs(JobDetail, "Changed: the job's next round plans with the new budget", 404, 409),
)
def update_job(job_id: JobId, update: BudgetUpdate) -> JobDetail:
    """Raise or lower ``max_parallel``, ``max_trials``, ``max_runtime_seconds`` (the fields of
    ``BudgetUpdate``) of a running job: lowering one stops no running trial, except a
    ``max_runtime_seconds`` below the job's age (its deadline passed: running trials stop). The
    deployment's guardrails hold as at submit; a job that is not running answers 409."""
    _visible_job(job_id)
    job = _service().update_budget(job_id, update, check=guardrails.check)
    logger.info("job budget changed", extra={"job_id": job_id, "changes": update.model_dump(exclude_none=True)})
    return job_detail(job)


@app.get("/schedules", summary="List the caller's recurring schedules", responses=_docs(ScheduleList, "Schedules", 501))
def list_schedules() -> ScheduleList:
    return ScheduleList(schedules=_recurring_schedules().owned(_current().owner))


@app.delete(
    "/schedules/<name>",
    summary="Delete one of the caller's recurring schedules",
    responses=_docs(ScheduleDeleted, "Deleted: no further ticks; jobs already started go on", 404, 501),
)
def delete_schedule(name: ScheduleName) -> ScheduleDeleted:
    _recurring_schedules().delete(name, _current().owner, _service().store)
    logger.info("schedule deleted", extra={"schedule": name})
    return ScheduleDeleted(name=name)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # responses hold hyperparameter values
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """The deployment's API: its AWS service, schedules and table (``HYPERSTEP_TABLE``)."""
    try:
        built = service()
    except Exception:  # a deployment that cannot build its service still answers in JSON
        logger.exception("unhandled error")
        return _proxy_response(500, server_error(context))
    return handle_api(
        built,
        event,
        context,
        schedules=schedules,
        idempotency_table=os.environ.get("HYPERSTEP_TABLE", ""),
        admins=ADMINS,
        throttle=throttle(),
    )


ADMINS = parse_admins(os.environ.get("HYPERSTEP_ADMIN_PRINCIPALS"))
"""The deployment's ``AdminPrincipals``: they see and stop every job."""


def handle_api(
    service: TuningService,
    event: dict,
    context: Any,
    *,
    schedules: Schedules,
    idempotency_table: str,
    admins: frozenset[str] = frozenset(),
    throttle: CallerThrottle | None = None,
) -> dict:
    """Every request gets a JSON answer: what its route says, a refusal, or a 500.

    A request without an IAM identity is refused (403) first; then one over its caller's
    rate (``throttle``, ``hyperstep.throttling``) with 429 and ``Retry-After``. The routes run with
    ``service``; ``schedules()`` gives the recurring-schedule adapter (asked for only by the
    routes that need it); an ``Idempotency-Key`` keeps its records in ``idempotency_table``;
    ``admins`` (owners, ``hyperstep.owners.admin_set``) see and stop every job.
    """
    try:
        owner = owner_of((event.get("requestContext") or {}).get("identity"))
        if owner is None:
            return _proxy_response(403, Problem(field="identity", reason=REFUSED_WITHOUT_IDENTITY).model_dump())
        wait = None if throttle is None else _throttled(throttle, owner)
        if wait is not None:
            refused = Problem(reason=f"too many requests from this caller: retry in {retry_after(wait)} s").model_dump()
            return _proxy_response(429, refused, {"Retry-After": retry_after(wait)})
        IDEMPOTENCY.register_lambda_context(context)
        check_query(event, routes)
        body = readable_body(event)
        caller = Caller(owner=owner, admin=owner in admins)
        app.append_context(service=service, schedules=schedules, idempotency_table=idempotency_table, caller=caller)
        return app.resolve(body, context)  # the resolver clears its context after
    except BodyRefused as exc:
        return _proxy_response(exc.status, Problem(field=exc.field, reason=exc.reason).model_dump())
    except Exception:  # outside the routes: an event of another shape, a body that will not serialize
        logger.exception("unhandled error")
        return _proxy_response(500, server_error(context))


OPENAPI_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openapi.json")
"""The API's OpenAPI document, committed beside this file (in the function's package; a test
keeps it equal to what ``app`` generates)."""


@cache
def routes() -> Routes:
    """Each route's query parameters, from the committed OpenAPI document (read on first use:
    about 2 ms, where generating it from ``app`` took 0.4-0.55 s of a cold start's CPU)."""
    with open(OPENAPI_FILE, encoding="utf-8") as document:
        return query_routes(json.load(document)["paths"])


def _throttled(throttle: CallerThrottle, owner: str) -> float | None:
    """Seconds ``owner`` must wait, or None to go on; a throttle that fails lets the request
    through (the limit must not take the API down) and is logged."""
    try:
        return throttle.take(owner)
    except Exception:
        logger.exception("caller throttle unavailable: request let through")
        return None


REFUSED_WITHOUT_IDENTITY = "the request must be signed by an IAM principal (AWS Signature Version 4)"


def server_error(context: Any) -> dict[str, Any]:
    """The 500 body: Lambda's request id, to find the logged details; nothing of the internals."""
    return ServerError(reason="internal error", request_id=getattr(context, "aws_request_id", None)).model_dump()


def _proxy_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway proxy response built without the resolver (shaped as Powertools' own)."""
    return {
        "statusCode": status,
        "body": to_json(body),
        "isBase64Encoded": False,
        "multiValueHeaders": {
            "Content-Type": [content_types.APPLICATION_JSON],
            **{name: [value] for name, value in (headers or {}).items()},
        },
    }


def openapi_document() -> str:
    """The API's OpenAPI document, as committed in ``openapi.json`` next to this file.

    Regenerate after changing a route: ``python functions/api/app.py > functions/api/openapi.json``.
    """
    document = json.loads(
        app.get_openapi_json_schema(
            title="hyperstep",
            version="0.1.0",
            description="Serverless hyperparameter tuning: submit, inspect, change and stop tuning jobs. "
            "Every request is signed with AWS Signature Version 4 (service execute-api); a request without an IAM "
            "identity is refused (403). Each caller sees, changes and stops only its own jobs and schedules (a role's "
            "sessions count as the role); another's job answers 404. "
            f"Request bodies: at most {MAX_BODY_BYTES:,} bytes of UTF-8 JSON (413 beyond), nested at most "
            f"{MAX_DEPTH} levels, number literals at most {MAX_NUMBER_CHARS} characters (422 beyond). "
            "Each caller (a role's sessions together) has its own request rate, set at deploy time: beyond it, "
            "429 with Retry-After (seconds).",
        )
    )
    publish_runs_on_aws(document)
    return json.dumps(document, indent=2, ensure_ascii=False)


def publish_runs_on_aws(document: dict[str, Any]) -> None:
    """The ``JobSpec`` of ``document`` as ``POST /jobs`` takes it: a trial block of an AWS
    backend (``check_runs_on_aws``) and ``budget.max_trials``, a number (``JobSpec`` asks for it
    with a trial; the model's own is optional, and nullable). The model is the library's, which
    also runs local and simulated trials and ask/tell studies: their blocks are left out, so the
    schema refuses what the API does."""
    schemas = document["components"]["schemas"]
    spec = schemas["JobSpec"]
    union = next(option for option in spec["properties"]["trial"].pop("anyOf") if "oneOf" in option)
    blocks = union["discriminator"]["mapping"]
    mapping = {name: ref for name, ref in blocks.items() if name in AWS_BACKENDS}
    union["oneOf"] = [option for option in union["oneOf"] if option["$ref"] in mapping.values()]
    spec["properties"]["trial"].update(union, discriminator={"propertyName": "backend", "mapping": mapping})
    max_trials = {"required": ["max_trials"], "properties": {"max_trials": {"type": "integer"}}}  # present, not null
    spec["properties"]["budget"] = {**spec["properties"]["budget"], **max_trials}
    spec["required"] = [*spec["required"], "trial", "budget"]
    for name, ref in blocks.items():
        if name not in mapping and f'"{ref}"' not in json.dumps(document):
            del schemas[ref.rsplit("/", 1)[-1]]  # a local or simulated block, now unused


if __name__ == "__main__":
    print(openapi_document())
