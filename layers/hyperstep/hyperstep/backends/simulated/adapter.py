"""Simulated backend: each trial a timeline of events on a virtual clock.

``launch`` asks the spec's callable for the trial's simulation (``simulation.simulate``)
and schedules its step reports and its end on the virtual clock, from now. Nothing
happens on its own: whoever drives the run calls ``deliver_next(job_id)`` when the job
has nothing left to do but wait (the local runtime, after the job's Suggest Trials has
parked its token: ``hyperstep.local.simulation``, through ``next_event``), which moves
the clock to the job's next event, in time order (ties: trial number, then step), and
publishes it. So a job's
thousands of trials take as long as their handlers take, and a seed gives the same
trials and values on every run, whatever the machine's speed.

``stop`` ends a running trial at once, at the current virtual time (its remaining
events are dropped), as killing a process does; its result is published like any end.
Every result stays for ``describe``.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable

from hyperstep.backends.base import JobView, TrialBackend, TrialView
from hyperstep.backends.simulated.block import SimulatedTrial
from hyperstep.backends.simulated.clock import VirtualClock
from hyperstep.backends.simulated.simulation import Due, load_objective, simulate, timeline, trial_seed
from hyperstep.messages import TrialEvent, TrialMetric, TrialResult

Key = tuple[str, str]

BATCH_REPORTS = 1_000
"""At most this many step reports go to collect as one batch (``next_reports``): a stop
(Ctrl-C, SIGTERM) waits for the batch being recorded, which at 200,000-step curves held
every report up to the next end (minutes; rev-p22)."""


class SimulatedBackend(TrialBackend):
    def __init__(self, clock: VirtualClock, publish: Callable[[TrialEvent], None]) -> None:
        """``publish`` delivers a trial's reports and its result (the runtime's bus)."""
        self.clock = clock
        self.publish = publish
        self._due: dict[str, list[tuple[float, int, int, Due]]] = {}
        """Per job, the events to come of its running trials: a heap of ``Due``'s order
        (time, trial number, step) before each, so that it compares tuples, not ``Due``s."""
        self._running: set[Key] = set()
        self._refs: dict[Key, str] = {}
        self._results: dict[Key, TrialResult] = {}
        self._lock = threading.Lock()
        self.ended = 0
        """How many results this backend has published (ends and stops): what may wake a job."""

    def launch(self, job: JobView, trial: TrialView) -> str:
        block = job.spec.trial
        assert isinstance(block, SimulatedTrial)
        key = (job.id, trial.id)
        with self._lock:
            if key in self._refs:  # running or ended: never a second copy
                return self._refs[key]
        try:
            objective = load_objective(block.objective, block.path)
        except ValueError as exc:
            events = [self._failed_now(job, trial, str(exc))]
        else:
            simulation = simulate(objective, trial.params, trial_seed(job.strategy_seed, trial.number))
            ids = (job.id, trial.id, trial.number)
            events = timeline(simulation, ids, job.spec.primary.metric, self.clock(), block.timeout_seconds)
        ref = f"simulated:{job.id}:{trial.id}"
        with self._lock:
            if key in self._refs:
                return self._refs[key]
            self._refs[key] = ref
            self._running.add(key)
            heap = self._due.setdefault(job.id, [])
            for due in events:
                heapq.heappush(heap, (due.at, due.number, due.seq, due))
        return ref

    def _failed_now(self, job: JobView, trial: TrialView, error: str) -> Due:
        result = TrialResult(job_id=job.id, trial_id=trial.id, state="failed", error=error)
        return Due(self.clock(), trial.number, 0, result)

    def deliver_next(self, job_id: str) -> bool:
        """Move the clock to the job's next event and publish it; False when none is due
        (no trial of the job is running here)."""
        event = self.next_event(job_id)
        if event is not None:
            self.publish(event)
        return event is not None

    def next_due(self, job_id: str) -> float | None:
        """When the job's next event is due (``next_event`` would move the clock there);
        None when none is (no trial of the job is running here)."""
        with self._lock:
            due = self._first(job_id)
            return None if due is None else due.at

    def next_event(self, job_id: str) -> TrialEvent | None:
        """``deliver_next`` but for publishing: the event, for a caller that hands it on
        itself (the local runtime's driver delivers it on its own thread); None when none
        is due. The clock moves to the event before its trial shows as ended (``describe``,
        ``running``): a reaper pass in between finds it running, never ended before its time."""
        while True:
            with self._lock:
                due = self._first(job_id)
                if due is None:
                    return None
                heapq.heappop(self._due[job_id])
            self.clock.advance_to(due.at)
            if not isinstance(due.event, TrialResult):
                return due.event
            with self._lock:
                key = (job_id, due.event.trial_id)
                if key in self._running:  # else stopped meanwhile: its end is published already
                    self._end(key, due.event)
                    return due.event

    def next_reports(self, job_id: str, until: float, limit: int = BATCH_REPORTS) -> list[TrialEvent]:
        """``next_event``, and when it is a step report, the job's step reports that follow
        it, due no later than ``until``, up to its next end (left for the next call) and at
        most ``limit`` in all: what a caller may deliver as one batch when no report can
        decide anything (no early stopping). [] when none is due."""
        run: list[TrialEvent] = []
        while (not run or (len(run) < limit and self._report_next(job_id, until))) and (
            event := self.next_event(job_id)
        ) is not None:
            run.append(event)
            if isinstance(event, TrialResult):
                break
        return run

    def _report_next(self, job_id: str, until: float) -> bool:
        """Whether the job's next event is a step report due no later than ``until``."""
        with self._lock:
            due = self._first(job_id)
            return due is not None and isinstance(due.event, TrialMetric) and due.at <= until

    def _first(self, job_id: str) -> Due | None:
        """The job's next event (under the lock), the rest of stopped trials' timelines dropped."""
        heap = self._due.get(job_id, [])
        while heap and (job_id, heap[0][-1].event.trial_id) not in self._running:
            heapq.heappop(heap)
        return heap[0][-1] if heap else None

    def _end(self, key: Key, result: TrialResult) -> None:
        """Record the trial ended (under the lock): ``describe`` sees its result from now on."""
        self._running.discard(key)
        self._results[key] = result
        self.ended += 1

    def stop(self, job: JobView, trial: TrialView) -> None:
        key = (job.id, trial.id)
        result = TrialResult(job_id=job.id, trial_id=trial.id, state="stopped", error="stopped")
        with self._lock:
            if key not in self._running:
                return
            self._end(key, result)
        self.publish(result)

    def running(self, job_id: str | None = None) -> int:
        """How many trials (of ``job_id``, or of every job) are running here."""
        with self._lock:
            return sum(job_id is None or key[0] == job_id for key in self._running)

    def describe(self, job: JobView, trial: TrialView) -> TrialResult | None:
        """None while the trial runs; the result it ended with; failed for a trial this
        backend never ran (its timeline was lost with the process that simulated it)."""
        key = (job.id, trial.id)
        with self._lock:
            if key in self._running:
                return None
            if key in self._results:
                return self._results[key]
        lost = "simulation lost (hyperstep restarted)"
        return TrialResult(job_id=job.id, trial_id=trial.id, state="failed", error=lost)
