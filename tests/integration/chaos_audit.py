"""The audit of a fault-injection run: the store held against the platform's truth.

Four figures, each of which must be 0 (``tests/integration/chaos.py`` says what counts in
each). A finding names the trial, what was expected and what was recorded, its ``kind`` (a
short, factual class: "an intermediate value instead of the final one", "pending, never
launched", ...) and the log of the trial's events.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from hyperstep.models import Job, Trial, TrialState
from hyperstep.stores.base import TrialStore
from tests.integration.chaos_platform import ChaosPlatform, Script, trial_key

FIGURES = ("lost", "counted twice", "budget overrun", "stuck executions")


@dataclass
class Finding:
    figure: str
    kind: str
    backend: str
    trial: str
    expected: str
    recorded: str
    events: list[str] = field(default_factory=list)


def _same(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _wrong(trial: Trial, script: Script) -> str | None:
    """How the trial's record differs from what its script did, or None when it does not."""
    if trial.state.active:
        return f"still {trial.state.value}"
    if trial.state.value != script.outcome:
        return f"{trial.state.value} ({trial.error}) instead of {script.outcome}"
    if script.final is None or _same(trial.value, script.final):
        return None
    if any(_same(trial.value, v) for v in script.values[:-1]):
        return "an intermediate value instead of the final one"
    return "a value its script never reported"


class Audit:
    """Holds the store against the platform's truth (see the module docstring's figures)."""

    def __init__(
        self, store: TrialStore, platform: ChaosPlatform, parallel: int, stuck: list[str], notes: dict[str, str]
    ) -> None:
        self.store, self.platform, self.parallel, self.stuck = store, platform, parallel, stuck
        self.notes = notes
        """Per trial key: what happened to it outside the platform (a lost Suggest response)."""
        self.findings: list[Finding] = []
        self.states: dict[str, dict[str, int]] = {}
        self.finished = 0

    def figures(self) -> dict[str, int]:
        count = Counter(f.figure for f in self.findings)
        return {name: count[name] for name in FIGURES}

    def _find(
        self,
        figure: str,
        backend: str,
        trial: str,
        expected: str,
        recorded: str,
        script: Script | None = None,
        kind: str | None = None,
    ) -> None:
        events = list(script.log) if script is not None else []
        self.findings.append(Finding(figure, kind or recorded, backend, trial, expected, recorded, events))

    def job(self, backend: str, job: Job, max_trials: int) -> None:
        final, trials = self.store.get_job(job.id), self.store.list_trials(job.id)
        self.states[backend] = dict(Counter(t.state.value for t in trials))
        self.finished += sum(t.state.finished for t in trials)
        runs: dict[str, list[Script]] = defaultdict(list)
        for script in self.platform.scripts.values():
            if script.job.tuning_job == job.id:
                runs[script.job.trial_id].append(script)
        for trial in trials:
            self._trial(backend, trial, runs.get(trial.id, []))
        held = sum(t.state is not TrialState.STOPPED for t in trials)
        for n in range(held, max_trials):
            self._find("lost", backend, f"(budget unit {n + 1})", "a trial", "never suggested")
        for n in range(max_trials, held):
            self._find("budget overrun", backend, f"(trial {n + 1})", f"at most {max_trials} trials", "more trials")
        launched = sum(len(r) for r in runs.values())
        if launched > max_trials:
            self._find("budget overrun", backend, "-", f"<= {max_trials} training jobs", str(launched), kind="jobs")
        peak = self.platform.cloud.peak[job.id]
        if peak > self.parallel:
            self._find(
                "budget overrun", backend, "-", f"<= {self.parallel} running", f"{peak} running", kind="parallel"
            )
        self._counters(backend, final, trials)
        self._stuck(backend, final)

    def _trial(self, backend: str, trial: Trial, runs: list[Script]) -> None:
        recorded = f"{trial.state.value} value={trial.value} error={trial.error!r}"
        if not runs:
            self._find(
                "lost",
                backend,
                trial.id,
                "launched and recorded",
                recorded,
                kind=f"{trial.state.value}, never launched",
            )
            note = self.notes.get(f"{trial.job_id}/{trial.id}")
            self.findings[-1].events.extend([note] if note else [])
            return
        if len(runs) > 1:
            self._find(
                "counted twice", backend, trial.id, "one training job", f"{len(runs)} jobs", runs[-1], "trained twice"
            )
        script = runs[-1]
        expected = f"{script.outcome}" + (f" value={script.final}" if script.final is not None else "")
        wrong = _wrong(trial, script)
        if wrong:
            self._find("lost", backend, trial.id, expected, recorded, script, wrong)
        ends = self.platform.end_recorded[trial_key(script.job)]
        if ends > 1:
            self._find(
                "counted twice", backend, trial.id, "one end recorded", f"{ends} recorded", script, "recorded twice"
            )

    def _counters(self, backend: str, job: Job, trials: list[Trial]) -> None:
        states = Counter(t.state for t in trials)
        expected = {
            "completed": states[TrialState.COMPLETED],
            "failed": states[TrialState.FAILED],
            "budget_used": len(trials) - states[TrialState.STOPPED],
        }
        recorded = {"completed": job.completed, "failed": job.failed, "budget_used": job.budget_used}
        for name, value in expected.items():
            if recorded[name] != value:
                self._find("counted twice", backend, job.id, f"{name}={value}", f"{name}={recorded[name]}", kind=name)

    def recordings(self, by_reaper: int) -> None:
        """Results recorded (by end events and by the reaper) beyond the trials that ended."""
        recorded = sum(self.platform.end_recorded.values()) + by_reaper
        for n in range(self.finished, recorded):
            self._find(
                "counted twice", "-", f"(recording {n + 1})", f"{self.finished}", str(recorded), kind="recordings"
            )

    def _stuck(self, backend: str, job: Job) -> None:
        """Each execution of the job that was still running; or the job, if its status is not final."""
        mine = [arn for arn in self.stuck if arn.rsplit(":", 1)[-1].startswith(job.id[:60])]
        for arn in mine:
            self._find("stuck executions", backend, arn.rsplit(":", 1)[-1], "ended", "still running")
        if not mine and not job.status.finished:
            self._find(
                "stuck executions", backend, job.id, "a final job status", job.status.value, kind="job not final"
            )
