"""The training platform under faults: simulated scripts whose events EventBridge mangles.

``ChaosPlatform`` plays SageMaker, Batch, the training scripts and EventBridge for the
fault-injection run (``tests/integration/chaos.py``). Time moves in ticks (one pass of the
driver loop). Each job hyperstep launched (found through ``aws_like.CloudJobs``) runs a
script with its own seeded random stream: it reports the objective at steps 1..K with
``hyperstep.reporting.report`` (one tick apart, decreasing, the last one ``final``; each
report also printed to the job's CloudWatch Logs stream), then its job ends (Completed /
SUCCEEDED), or, for a failing trial, it reports fewer steps and its job ends Failed (with a
``FailureReason``) / FAILED (exit code 1). A job hyperstep stops ends at once (Stopped, or
FAILED with the stop reason). The platform ends the job in moto first, so Describe shows the
end state, then emits the state-change event built from ``events/`` and Describe's fields;
a Completed event carries ``FinalMetricDataList`` only sometimes (AWS's own sample has none).

Every emitted event goes through EventBridge's faults, each drawn on its own: lost (never
delivered), delayed by 2..``max_delay`` ticks (so later events overtake it: a Batch SUCCEEDED
before the final report, a step-1 report after the final one), duplicated (the same event,
same id, again 0..``max_delay`` ticks later). Events due in one tick go out in random order.
Delivery is what the EventBridge rule does: invoke the collect function; a function error is
retried twice, as Lambda does for asynchronous invocations.

Every trial keeps a log of what happened to its events, for the report of a failure.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from hyperstep.backends.naming import ENV_EVENT_BUS, ENV_JOB_ID, ENV_TRIAL_ID
from hyperstep.reporting import positional
from tests.integration.aws_like import BATCH_FAILED_REASON, TERMINATED_EXIT_CODE, CloudJob, CloudJobs
from tests.integration.moto_harness import MotoStack, function_name
from tests.integration.moto_platform import SAGEMAKER_COPIED, Objective, envelope, reported_event, sample

ASYNC_ATTEMPTS = 3
"""Lambda runs an asynchronous invocation up to three times when the function fails."""
STEP_GAP = 0.5
"""How far each report's value lies above the next one's: a stale value is never close."""


@dataclass(frozen=True)
class Faults:
    """Fault rates of the run (fractions) and how late a reordered event can come."""

    duplicate: float = 0.30
    reorder: float = 0.20
    lose: float = 0.10
    fail: float = 0.10
    throttle: float = 0.05
    retried_task: float = 0.05
    final_metrics_in_event: float = 0.5
    """Share of SageMaker Completed events that carry ``FinalMetricDataList``."""
    max_delay: int = 6


@dataclass
class Script:
    """One trial's training script and what became of its events (the audit's truth)."""

    job: CloudJob
    rng: random.Random
    values: list[float]
    """Objective reported at steps 1..len(values); the last is the final one unless it fails."""
    fails: bool
    outcome: str = "running"
    """completed / failed / stopped once the job has ended."""
    log: list[str] = field(default_factory=list)

    @property
    def final(self) -> float | None:
        return self.values[-1] if self.outcome == "completed" else None


class ChaosPlatform:
    """Runs the scripts of launched jobs and delivers their events under ``Faults``."""

    def __init__(
        self, stack: MotoStack, cloud: CloudJobs, faults: Faults, seed: int, objective: Objective, metric: str
    ) -> None:
        self.stack, self.cloud, self.faults, self.seed = stack, cloud, faults, seed
        self.objective, self.metric = objective, metric
        self.tick = 0
        self.scripts: dict[str, Script] = {}
        """By cloud job name."""
        self._latest: dict[str, Script] = {}
        """By trial key: the trial's latest script (what the reaper's notes go to)."""
        self._happen: dict[int, list[tuple[Script, int]]] = defaultdict(list)
        """Per tick: (script, step) to report, step 0 = the job ends."""
        self._due: dict[int, list[tuple[Script, str, dict[str, Any], float]]] = defaultdict(list)
        self._shuffle = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.end_recorded: Counter[str] = Counter()
        """Per trial key: end events collect answered ``recorded: True`` for."""
        self.errors: list[str] = []
        self.max_lag = 0.0
        """The longest an event took from its emission to its delivery (seconds)."""

    # the loop's one step

    def step(self) -> None:
        """One tick: start scripts of new jobs, end stopped ones, run due steps, deliver due events."""
        self.tick += 1
        for job in self.cloud.take_new():
            self._start(job)
        for job in self.cloud.take_stopped():
            self._stop(job)
        for script, step in self._happen.pop(self.tick, []):
            if script.outcome == "running":
                self._report(script, step) if step else self._end(script)
        due = self._due.pop(self.tick, [])
        self._shuffle.shuffle(due)
        for script, label, event, emitted in due:
            self._deliver(script, label, event)
            self.max_lag = max(self.max_lag, time.monotonic() - emitted)

    def busy(self) -> bool:
        """Whether any script still runs or any event is still on its way."""
        return bool(self._happen or self._due) or any(s.outcome == "running" for s in self.scripts.values())

    # scripts

    def _start(self, job: CloudJob) -> None:
        rng = random.Random(f"{self.seed}/{job.kind}/{job.name.rsplit('-', 2)[-2]}/{job.name.rsplit('-', 1)[-1]}")
        final = self.objective(job.hyperparameters)
        steps = 3
        fails = rng.random() < self.faults.fail
        reported = rng.randint(0, steps - 1) if fails else steps
        values = [final + STEP_GAP * (steps - k) for k in range(1, steps + 1)][:reported]
        script = Script(job, rng, values, fails)
        self.scripts[job.name] = self._latest[trial_key(job)] = script
        start = self.tick + rng.randint(1, 3)
        for step in range(1, reported + 1):
            self._happen[start + step - 1].append((script, step))
        self._happen[start + reported].append((script, 0))
        self._note(script, f"launched {job.name}; {'fails after' if fails else 'reports'} {reported} step(s)")

    def _report(self, script: Script, step: int) -> None:
        value = script.values[step - 1]
        final = not script.fails and step == len(script.values)
        self.cloud.log(script.job, [f"{self.metric}={positional(value)}"])
        event = reported_event({self.metric: value}, self._environment(script.job), step=step, final=final)
        self._emit(script, f"report step={step}{' final' if final else ''} {self.metric}={value:.6g}", event)

    def _end(self, script: Script) -> None:
        job = script.job
        if job.kind == "sagemaker":
            final = {self.metric: script.values[-1]} if not script.fails else None
            status, reason = ("Failed", _failure_reason(job)) if script.fails else ("Completed", None)
            if not self.cloud.end_sagemaker(job, status, reason, final):
                return
            with_final = not script.fails and script.rng.random() < self.faults.final_metrics_in_event
            event = self._sagemaker_event(script, with_final)
            label = f"{status}{' with FinalMetricDataList' if with_final else ''}"
        else:
            code, reason = (1, BATCH_FAILED_REASON) if script.fails else (0, None)
            if not self.cloud.end_batch(job, not script.fails, code, reason):
                return
            event, label = self._batch_event(script), "FAILED exit 1" if script.fails else "SUCCEEDED"
        script.outcome = "failed" if script.fails else "completed"
        self._emit(script, label, event)

    def _stop(self, script_job: CloudJob) -> None:
        script = self.scripts.get(script_job.name)
        if script is None:  # stopped before its script started: start it to end it
            self._start(script_job)
            script = self.scripts[script_job.name]
        if script.job.kind == "sagemaker":
            ended = self.cloud.end_sagemaker(script.job, "Stopped")
        else:
            ended = self.cloud.end_batch(script.job, False, TERMINATED_EXIT_CODE, script.job.stop_reason)
        if not ended:
            return
        script.outcome = "stopped"
        event = self._sagemaker_event(script, False) if script.job.kind == "sagemaker" else self._batch_event(script)
        self._emit(script, "stopped", event)

    # events

    def _environment(self, job: CloudJob) -> dict[str, str]:
        """The container's environment (SageMaker's as the backend sets it)."""
        env = {ENV_JOB_ID: job.tuning_job, ENV_TRIAL_ID: job.trial_id, ENV_EVENT_BUS: "default"}
        return {**env, **job.environment}

    def _sagemaker_event(self, script: Script, with_final: bool) -> dict[str, Any]:
        job = script.job
        found = self.stack.sagemaker.describe_training_job(TrainingJobName=job.name)
        status = found["TrainingJobStatus"]
        template = sample(f"sagemaker-training-job-state-change-{status.lower()}")
        detail = copy.deepcopy(template["detail"])
        for key in (*SAGEMAKER_COPIED, "FailureReason", "FinalMetricDataList"):
            detail.pop(key, None)
        detail.update({key: found[key] for key in (*SAGEMAKER_COPIED, "FailureReason") if key in found})
        detail.update(
            TrainingJobName=job.name,
            TrainingJobArn=found["TrainingJobArn"],
            TrainingJobStatus=status,
            SecondaryStatus=found["SecondaryStatus"],
            HyperParameters=found["HyperParameters"],
            Tags=job.tags,
        )
        if with_final:
            stamp = str(int(found["TrainingEndTime"].timestamp() * 1000))
            metrics = found["FinalMetricDataList"]
            detail["FinalMetricDataList"] = [
                {"MetricName": m["MetricName"], "Value": m["Value"], "Timestamp": stamp} for m in metrics
            ]
        return envelope(template, detail, [found["TrainingJobArn"]])

    def _batch_event(self, script: Script) -> dict[str, Any]:
        job = script.job
        (found,) = self.stack.batch.describe_jobs(jobs=[job.ref])["jobs"]
        name = {"SUCCEEDED": "succeeded", "FAILED": "stopped" if job.stopping else "failed"}[found["status"]]
        template = sample(f"batch-job-state-change-{name}")
        detail = copy.deepcopy(template["detail"])
        container = {
            **detail["container"],
            "command": found["container"]["command"],
            "environment": [{"name": k, "value": v} for k, v in job.environment.items()],
            "exitCode": found["container"]["exitCode"],
            "logStreamName": job.log_stream,
        }
        detail.update(
            jobArn=found["jobArn"],
            jobName=found["jobName"],
            jobId=found["jobId"],
            jobQueue=found["jobQueue"],
            status=found["status"],
            container=container,
            tags={**found.get("tags", {}), "resourceArn": found["jobArn"]},
        )
        if found.get("statusReason"):
            detail["statusReason"] = found["statusReason"]
        return envelope(template, detail, [found["jobArn"]])

    def _emit(self, script: Script, label: str, event: dict[str, Any]) -> None:
        """Hand one event to EventBridge's faults: lost, delayed, duplicated."""
        rng, faults = script.rng, self.faults
        self.counts["emitted"] += 1
        if rng.random() < faults.lose:
            self.counts["lost"] += 1
            self._note(script, f"{label}: emitted, LOST")
            return
        delay = rng.randint(2, faults.max_delay) if rng.random() < faults.reorder else 0
        self.counts["reordered"] += delay > 0
        now = time.monotonic()
        self._due[self.tick + delay].append((script, label, event, now))
        note = f"{label}: emitted" + (f", delayed {delay} ticks" if delay else "")
        if rng.random() < faults.duplicate:
            again = rng.randint(0, faults.max_delay)
            self.counts["duplicated"] += 1
            self._due[self.tick + again].append((script, f"{label} (duplicate)", copy.deepcopy(event), now))
            note += f", duplicated {again} ticks later"
        self._note(script, note)

    def _deliver(self, script: Script, label: str, event: dict[str, Any]) -> None:
        """The EventBridge rule's target: invoke collect (asynchronously: retried on error)."""
        awslambda = self.stack.awslambda
        for attempt in range(1, ASYNC_ATTEMPTS + 1):
            response = awslambda.invoke(FunctionName=function_name("collect"), Payload=json.dumps(event).encode())
            payload = json.loads(response["Payload"].read())
            if not response.get("FunctionError"):
                break
            self._note(script, f"{label}: collect failed (attempt {attempt}): {payload.get('errorMessage')}")
        else:
            self.errors.append(f"{script.job.name}: {label}: collect failed {ASYNC_ATTEMPTS} times")
            return
        self.counts["delivered"] += 1
        is_end = event["source"] != "hyperstep.trial"
        if is_end and payload.get("recorded"):
            self.end_recorded[trial_key(script.job)] += 1
        self._note(script, f"{label}: delivered -> {payload}")

    def reaped(self, key: str, what: str, recorded: bool) -> None:
        """The reaper recorded (or offered) a trial's end: note it in the trial's log."""
        script = self._latest.get(key)
        if script is not None:
            self._note(script, f"reaper: {what} -> recorded {recorded}")

    def _note(self, script: Script, text: str) -> None:
        script.log.append(f"tick {self.tick}: {text}")


def trial_key(job: CloudJob) -> str:
    return f"{job.tuning_job}/{job.trial_id}"


def _failure_reason(job: CloudJob) -> str:
    """A SageMaker FailureReason as the training toolkit writes it for a script that exited 1."""
    return (
        "AlgorithmError: ExecuteUserScriptError:\nExitCode 1\n"
        f'ErrorMessage "RuntimeError: chaos run: trial {job.trial_id} crashed"'
    )
