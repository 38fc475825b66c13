"""The fault-injection run: whole tuning jobs under moto while everything AWS may do goes wrong.

``run_chaos(config)`` deploys hyperstep in moto (``moto_harness``), makes SageMaker and Batch
behave as on AWS (``aws_like``), submits one SageMaker and one Batch job of
``config.trials / 2`` trials each (random search, ``max_parallel`` each), and drives them to
the end while:

- the platform's events are lost, late, out of order and duplicated, and some trials fail
  (``chaos_platform``);
- some launches are throttled: ``CreateTrainingJob`` / ``SubmitJob`` refuse every SDK attempt
  of the first Suggest invocation that launches it (botocore's default retry mode makes
  ``SDK_ATTEMPTS``), so the Lambda fails and the state machine's Retry must absorb it;
- some Task invocations (Suggest, Finish) run and write, then their response
  is lost (``Lambda.ServiceException``), so Step Functions' Retry runs them again;
- the reaper runs every ``reap_every`` ticks with ``grace_seconds`` of grace, beside the
  event traffic, as its schedule would.

The run is over when every execution has ended and no event is on its way, or when nothing
has moved for ``stall_seconds`` (the executions still running then are stuck: they are
stopped, and counted).

Then it audits the store against the platform's truth and returns four figures, each of
which must be 0: trials **lost** (a trial of the budget not ending with what its script did:
never launched, still active, failed instead of completed, or a recorded value that is not
the final value its script reported), trials **counted twice** (a result recorded more
than once, a trial trained twice, a job counter that disagrees with its trials), **budget
overrun** (trials or training jobs beyond ``max_trials``, running jobs beyond
``max_parallel``), **stuck executions** (an execution still running or a job whose status
is not final when nothing moves any more). Each non-zero figure comes with its findings:
the trial, what was expected and recorded, and the log of its events.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from typing import Any
from unittest import mock

from moto.awslambda.models import LambdaBackend
from moto.awslambda_simple.models import LambdaSimpleBackend

from hyperstep.backends.base import TrialResult
from hyperstep.models import Job, Trial
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from tests.integration.aws_like import Kind, aws_like_jobs
from tests.integration.chaos_audit import Audit, Finding
from tests.integration.chaos_platform import ChaosPlatform, Faults
from tests.integration.moto_harness import MotoStack, moto_stack
from tests.integration.moto_platform import create_batch_environment, sample
from tests.integration.test_moto_tuning_job import BATCH_BLOCK, PARAMETERS, SAGEMAKER_BLOCK, val_loss

SDK_ATTEMPTS = 5
"""Attempts botocore makes per call in its default (legacy) retry mode (``_retry.json``)."""
TASKS = ("suggest", "finish")
"""The functions the state machine runs as Task states (collect and the API are not Tasks)."""
BLOCKS = {"sagemaker": SAGEMAKER_BLOCK, "batch": BATCH_BLOCK}


@dataclass(frozen=True)
class ChaosConfig:
    trials: int = 1000
    """Trials in all, half on SageMaker, half on Batch."""
    parallel: int = 25
    """``max_parallel`` of each job."""
    seed: int = 0
    faults: Faults = field(default_factory=Faults)
    tick_seconds: float = 0.02
    reap_every: int = 25
    """Ticks between reaper passes: well past ``faults.max_delay``, as minutes are past EventBridge's seconds."""
    grace_seconds: float = 120.0
    """The reaper's grace: longer than events of the run are late (``counts["max_event_lag_seconds"]``
    says how late the latest was: on a loaded machine deliveries queue up, 66 s at worst seen)."""
    stall_seconds: float = 210.0
    """Nothing moved for this long (no script running, no event on its way): the run is over. Longer
    than the grace, so a reaper that waits out its grace for a late metric is not taken for a hang."""
    timeout_seconds: float = 3600.0


@dataclass
class ChaosResult:
    config: ChaosConfig
    figures: dict[str, int]
    wall_seconds: float
    counts: dict[str, Any]
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not any(self.figures.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "figures": self.figures,
            "wall_seconds": round(self.wall_seconds, 1),
            "counts": self.counts,
            "findings": [asdict(f) for f in self.findings],
        }


class Throttle:
    """Which launches are throttled: a ``rate`` share of job names, for their first ``attempts`` requests."""

    def __init__(self, rate: float, seed: int, attempts: int = SDK_ATTEMPTS) -> None:
        self.rate, self.seed, self.attempts = rate, seed, attempts
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.chosen: dict[str, bool] = {}

    def __call__(self, kind: Kind, name: str) -> bool:
        with self.lock:
            if name not in self.chosen:
                draw = random.Random(f"{self.seed}/throttle/{kind}/{_trial_part(name)}").random()
                self.chosen[name] = draw < self.rate
            self.calls[name] += 1
            return self.chosen[name] and self.calls[name] <= self.attempts

    @property
    def launches(self) -> int:
        return sum(self.chosen.values())


class RetriedTasks:
    """For a ``rate`` share of Task invocations the handler runs (and writes), then its
    response is lost: the state sees ``Lambda.ServiceException`` and its Retry runs it again."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate, self.seed = rate, seed
        self.lock = threading.Lock()
        self.invocations: Counter[str] = Counter()
        self.lost: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()
        self.notes: dict[str, str] = {}
        """Per trial key: what a lost Task response did to it (for the audit's event logs)."""

    def _note_plan(self, plan: dict[str, Any]) -> None:
        for trial_id in plan.get("trial_ids", []):
            self.notes[f"{plan['job_id']}/{trial_id}"] = (
                f"reserved by a Suggest run whose response was lost (its plan: {len(plan['trial_ids'])} trials to "
                "launch); Step Functions ran Suggest again"
            )

    def _loses(self, handler: str, body: Any) -> bool:
        """Drawn from the seed, the function, its input (less the task token) and how many
        times that input came before: the same run meets the same losses."""
        event = json.loads(body or "{}")
        for unique in ("task_token", "execution"):  # different in every run
            event.pop(unique, None)
        key = f"{handler}/{json.dumps(event, sort_keys=True)}"
        self._seen[key] += 1
        return random.Random(f"{self.seed}/task/{key}/{self._seen[key]}").random() < self.rate

    def install(self, stack: ExitStack) -> None:
        routed = LambdaSimpleBackend.invoke  # moto_stack's route to the real handlers

        def invoke(backend: Any, name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
            out = routed(backend, name, qualifier, body, headers, response_headers)
            handler = backend.get_function(name, qualifier).function_name.removeprefix("hyperstep-")
            if handler not in TASKS or response_headers.get("x-amz-function-error"):
                return out
            with self.lock:
                self.invocations[handler] += 1
                if not self._loses(handler, body):
                    return out
                self.lost[handler] += 1
                if handler == "suggest":
                    self._note_plan(json.loads(out))
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {"errorType": "Lambda.ServiceException", "errorMessage": "chaos: the response of a run was lost"}
            return json.dumps(error).encode()

        stack.enter_context(mock.patch.object(LambdaSimpleBackend, "invoke", invoke))
        stack.enter_context(mock.patch.object(LambdaBackend, "invoke", invoke))


class ReaperLoop(threading.Thread):
    """The reaper's schedule: the reaper function (``stack.invoke("reaper", ...)``, with the run's
    grace) each time the driver pokes it (every ``reap_every`` ticks, so its pace keeps step
    with the events'), beside the event traffic."""

    def __init__(self, stack: MotoStack, grace: float, on_record: Callable[[str, str, bool], None]) -> None:
        super().__init__(name="chaos-reaper", daemon=True)
        self.stack = stack
        stack.reaper_grace_seconds = grace
        self.totals: Counter[str] = Counter()
        self.errors: list[str] = []
        self._poked, self._halt = threading.Event(), threading.Event()
        _note_records(stack.function_service("reaper"), on_record)

    def poke(self) -> None:
        self._poked.set()

    def run(self) -> None:
        event = sample("scheduled-event")
        while self._poked.wait() and not self._halt.is_set():
            self._poked.clear()
            try:
                self.totals.update(self.stack.invoke("reaper", event))
                self.totals["passes"] += 1
            except AssertionError as failed:  # the next pass tries again, as the schedule would
                self.errors.append(str(failed)[:300])

    def stop(self) -> None:
        self._halt.set()
        self._poked.set()
        self.join()


def _note_records(service: TuningService, on_record: Callable[[str, str, bool], None]) -> None:
    """Tell ``on_record`` what the reaper's service records (for the trials' event logs): the
    results it collects from Describe and the trials it settles after the grace. Only the
    reaper function's own service is wrapped."""
    collect, settle = service.collect, service._settle_from_source

    def collected(result: TrialResult) -> bool:
        recorded = collect(result)
        on_record(f"{result.job_id}/{result.trial_id}", f"Describe says {result.state}", recorded)
        return recorded

    def settled(job: Job, trial: Trial, grace: float | None = None) -> bool:
        recorded = settle(job, trial, grace)
        on_record(f"{job.id}/{trial.id}", f"settled from the source after {grace} s of grace", recorded)
        return recorded

    service.collect = collected  # type: ignore[method-assign]
    service._settle_from_source = settled  # type: ignore[method-assign]


def _trial_part(name: str) -> str:
    """``t0007-1`` of ``hs-<job id>-t0007-1``: the trial and attempt, without the job id's timestamp."""
    return "-".join(name.rsplit("-", 2)[-2:])


def spec_document(backend: Kind, trials: int, parallel: int, seed: int) -> dict[str, Any]:
    return {
        "name": f"chaos-{backend}",
        "objective": {"metric": "val_loss", "goal": "minimize"},
        "parameters": PARAMETERS,
        "strategy": {"name": "random", "seed": seed},
        "budget": {"max_trials": trials, "max_parallel": parallel},
        "trial": BLOCKS[backend],
    }


def running_executions(stack: MotoStack) -> list[str]:
    pages = stack.sfn.get_paginator("list_executions").paginate(
        stateMachineArn=stack.state_machine_arn, statusFilter="RUNNING"
    )
    return [e["executionArn"] for page in pages for e in page["executions"]]


def _drive(
    stack: MotoStack,
    platform: ChaosPlatform,
    reaper: ReaperLoop,
    jobs: dict[Kind, Job],
    config: ChaosConfig,
    say: Callable[[str], None],
) -> list[str]:
    """Tick the platform until every execution ended and nothing is on its way, or nothing
    moves any more; returns the executions still running then (stopped here)."""
    store = stack.service.store
    deadline, moved, last = time.monotonic() + config.timeout_seconds, time.monotonic(), None
    while time.monotonic() < deadline:
        platform.step()
        if platform.tick % config.reap_every == 0:
            reaper.poke()
        if platform.tick % 10 == 0:
            running = running_executions(stack)
            finished = all(store.get_job(job.id).status.finished for job in jobs.values())
            if not running and finished and not platform.busy():
                return []
            state = (
                tuple(store.get_job(job.id).model_dump_json() for job in jobs.values()),
                platform.counts["delivered"],
                len(platform.cloud.created),
                len(running),
            )
            if platform.tick % 500 == 0:
                ended = ", ".join(f"{b} {_ended(store.get_job(j.id))}" for b, j in jobs.items())
                say(f"tick {platform.tick}: trials ended: {ended}; {platform.counts['delivered']} events delivered")
            if platform.busy() or state != last:
                moved, last = time.monotonic(), state
            elif time.monotonic() - moved > config.stall_seconds:
                break
        time.sleep(config.tick_seconds)
    stuck = running_executions(stack)
    for arn in stuck:  # end them, so moto's threads stop
        stack.sfn.stop_execution(executionArn=arn, cause="chaos run: nothing moved any more")
    return stuck


def _ended(job: Job) -> str:
    return f"{job.completed + job.failed}/{job.spec.budget.max_trials} ({job.status.value})"


def run_chaos(config: ChaosConfig, progress: Callable[[str], None] | None = None) -> ChaosResult:
    """One fault-injection run (see the module docstring)."""
    say = progress or (lambda _: None)
    throttle = Throttle(config.faults.throttle, config.seed)
    retried = RetriedTasks(config.faults.retried_task, config.seed)
    with moto_stack() as stack, aws_like_jobs(throttle) as cloud, ExitStack() as patches:
        retried.install(patches)
        create_batch_environment()
        per_backend = {"sagemaker": config.trials // 2, "batch": config.trials - config.trials // 2}
        platform = ChaosPlatform(stack, cloud, config.faults, config.seed, val_loss, "val_loss")
        reaper = ReaperLoop(stack, config.grace_seconds, platform.reaped)
        started = time.perf_counter()
        jobs: dict[Kind, Job] = {}
        for backend, trials in per_backend.items():
            document = spec_document(backend, trials, config.parallel, config.seed)  # type: ignore[arg-type]
            job_id = f"chaos-{backend}-{config.seed}"
            jobs[backend] = stack.service.submit(parse_spec(document), job_id=job_id)  # type: ignore[index]
        say(f"submitted {', '.join(f'{j.id} ({n} trials)' for j, n in zip(jobs.values(), per_backend.values()))}")
        reaper.start()
        try:
            stuck = _drive(stack, platform, reaper, jobs, config, say)
        finally:
            reaper.stop()
        wall = time.perf_counter() - started
        say(f"driven in {wall:.0f} s; auditing")
        audit = Audit(stack.service.store, platform, config.parallel, stuck, retried.notes)
        for backend, job in jobs.items():
            audit.job(backend, job, per_backend[backend])
        audit.recordings(reaper.totals["recorded"])
        counts = {
            "trials": per_backend,
            "trial_states": audit.states,
            "events": dict(platform.counts),
            "failing_scripts": sum(s.fails for s in platform.scripts.values()),
            "throttled_launches": throttle.launches,
            "throttled_requests": dict(cloud.throttled),
            "task_invocations": dict(retried.invocations),
            "task_responses_lost": dict(retried.lost),
            "reaper": dict(reaper.totals),
            "reaper_errors": reaper.errors[:5],
            "collect_errors": platform.errors[:5],
            "peak_running": {b: cloud.peak[j.id] for b, j in jobs.items()},
            "executions": len(stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]),
            "ticks": platform.tick,
            "max_event_lag_seconds": round(platform.max_lag, 2),
        }
        return ChaosResult(config, audit.figures(), wall, counts, audit.findings)
