"""Driving a simulated job's virtual clock from the local runtime: time moves when the job waits.

A simulated trial (``hyperstep.backends.simulated``) has its reports and end scheduled on
a ``VirtualClock``; nothing moves that clock but this driver. Whenever the job's
execution parks its Suggest Trials token with no news (the suggest handler found no result
it had not seen, and the job runs), the job has nothing left to do in real time: the driver
delivers the job's next event (moving the clock to it) to collect through the bus, on
its own thread (``InProcessBus.deliver``: no thread switch), waits for what that
published (a stopped trial's end), and goes on until a result has woken the execution.
A job that stops nothing early gets its step reports up to its next end as one batch
(one collect invocation, each report recorded in turn; at most ``BATCH_REPORTS``, so a
stop waits for no more): none of them can wake it.
The state machine, the handlers, the store and the bus are the real ones; only waiting
is skipped.

A job with a time budget (``budget.max_runtime_seconds``) is woken at its deadline: when
its next event is due after it, the driver moves the clock to the deadline instead and
wakes the job (``wake``), whose Suggest stops the running trials there, with the reports
they made so far; no trial of it ends after the deadline.

One delivery at a time, each delivered before the next is chosen, and only while the
execution waits: so the execution's every Suggest sees the same results on every run
of the same spec and seed, whatever the machine's speed (the seed decides the trials,
the virtual times decide their order, trial numbers break ties).

The reaper of a simulated job runs here too, on virtual time, never on a real-time
schedule (a pass between two deliveries would record or wake at whatever moment real
time gave it). The bus drops an event collect failed on three times (``InProcessBus``),
and only a reaper pass recovers a dropped end (``describe``): the driver makes one for
the job (``reap``) at the two moments a lost end shows, both fixed by the job's events
alone: a delivery ended a trial on the backend and the job still waits (its end was not
recorded), and the job waits with no event left to deliver (the ends of trials stopped
outside a delivery: a dropped stop). A pass there records the end at the virtual time it
was due, as collect would have.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from hyperstep import early_stopping
from hyperstep.backends.simulated.adapter import SimulatedBackend
from hyperstep.completion import deadline
from hyperstep.messages import TrialEvent
from hyperstep.models import Job
from hyperstep.service import results_of
from hyperstep.stores.base import TrialStore

Function = Callable[..., Any]


class SimulationDriver:
    """Advances simulated jobs' virtual time whenever their executions wait."""

    def __init__(
        self,
        backend: SimulatedBackend,
        store: TrialStore,
        drain: Callable[[], None],
        deliver: Callable[[list[TrialEvent]], None],
        wake: Callable[[str], bool],
        reap: Callable[[str], object],
    ) -> None:
        """``drain`` returns once the bus has delivered every event published so far;
        ``deliver`` publishes trials' events (one, or a batch of step reports: ``_next``)
        and returns once they have been delivered (``InProcessBus.deliver``, on this
        thread). ``wake`` resumes a job's waiting execution (``TuningService.wake``): at its
        time budget's deadline. ``reap`` makes one reaper pass over a job
        (``LocalReaper.reap_once``): where an end was lost."""
        self.backend, self.store, self.drain = backend, store, drain
        self.deliver, self.wake, self.reap = deliver, wake, reap
        self._woken: dict[str, float] = {}
        """Per job, the deadline it was last woken at."""
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """Deliver nothing more: returns once the delivery under way (a batch being recorded)
        has ended, so the runtime may close the store. Before (rev-p22), a stopped run closed
        it under the driver's next batch: ``Cannot operate on a closed database`` on stderr."""
        self._closed = True  # read by job_waits' loop, which holds the lock while it delivers
        with self._lock:
            pass

    def resolver(self, resolve: Callable[[str], Function]) -> Callable[[str], Function]:
        """``resolve`` (the executor's: a function name to its handler), with the suggest
        handler followed by moving the job's time on (``after_suggest``)."""

        def resolved(name: str) -> Function:
            handler = resolve(name)
            return self.after_suggest(handler) if name.rsplit(":", 1)[-1].endswith("-suggest") else handler

        return resolved

    def after_suggest(self, suggest: Function) -> Function:
        """The suggest handler, followed, when it parked its token (a plan that neither
        ends the job nor hands it over), by moving the job's time on while it still waits."""

        def invoke(event: dict[str, Any], *args: Any) -> Any:
            plan = suggest(event, *args)
            if event.get("task_token") and not (plan["done"] or plan["handoff"]):
                self.job_waits(event["job_id"], plan["results_seen"])
            return plan

        return invoke

    def job_waits(self, job_id: str, results_seen: int) -> int:
        """Deliver the job's events in time order while its execution waits for a result
        newer than ``results_seen`` (the condition under which the wait handler woke it
        at once, reversed), reaping the job where an end was lost (module docstring);
        returns how many were delivered."""
        delivered = 0
        with self._lock:
            waiting = None if self._closed else self._waiting(job_id, results_seen)  # the store may be closed
            while waiting is not None and not self._closed:
                ended = self.backend.ended
                if self._deadline_first(waiting):
                    break
                events = self._next(waiting)
                if not events:
                    self.drain()  # the ends of trials stopped outside a delivery, if on the way
                    self._reap_if_waiting(job_id, results_seen)
                    break
                delivered += len(events)
                self.deliver(events)
                self.drain()  # and what its delivery published (a stopped trial's end)
                if self.backend.ended != ended:  # a result (or a stop it led to): the job may be awake
                    waiting = self._reap_if_waiting(job_id, results_seen)
        return delivered

    def _next(self, job: Job) -> list[TrialEvent]:
        """The job's next event; when it is a step report and the job stops nothing early,
        with the reports that follow it up to its next end (before its deadline, if any):
        none of them can wake the job or change what the next one finds, so they go to
        collect as one batch, each recorded in turn as it would be alone. With early
        stopping a report may stop a trial, and the job's next Suggest must come before
        the next report: one event at a time."""
        if early_stopping.enabled(job.spec):
            event = self.backend.next_event(job.id)
            return [] if event is None else [event]
        end = deadline(job)
        return self.backend.next_reports(job.id, math.inf if end is None else end)

    def _waiting(self, job_id: str, results_seen: int) -> Job | None:
        """The job, while its execution still waits (running, or stopping until its trials'
        ends are in); None once it may be awake."""
        job = self.store.get_job(job_id)
        return None if job.status.finished or results_of(job) > results_seen else job

    def _reap_if_waiting(self, job_id: str, results_seen: int) -> Job | None:
        """When the job still waits, a reaper pass over it (what an end that was lost
        leaves to the reaper); the job, while it waits even so."""
        if self._waiting(job_id, results_seen) is None:
            return None
        self.reap(job_id)
        return self._waiting(job_id, results_seen)

    def _deadline_first(self, job: Job) -> bool:
        """When the job's time budget runs out before its next event: move the clock to the
        deadline and wake the job (its Suggest stops the running trials); True if so. A
        job woken at its deadline already has its events delivered as they come."""
        end = deadline(job)
        if end is None or self._woken.get(job.id) == end:
            return False
        due = self.backend.next_due(job.id)
        if due is None or due <= end:
            return False
        self._woken[job.id] = end
        self.backend.clock.advance_to(end)
        self.wake(job.id)
        return True
