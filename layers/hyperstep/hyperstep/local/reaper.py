"""The reaper of a local run: what the scheduled reaper function does on AWS, for this process's jobs.

The in-process bus retries a failing collect twice and then drops the event, as Lambda
does with an asynchronous invocation; on AWS the scheduled reaper then finds the trial's
end through Describe* calls. Here a thread does the same every ``interval`` seconds for
the jobs whose executions run in this process (never for another process's jobs in a
shared store file): it records the results the bus lost (the local backend's
``describe`` keeps each ended process's result), fails trials stuck past their timeout
plus ``grace_seconds``, and wakes the waiting execution, through the reaper function's
handler (``handle_reaper``): the ends it records count in each job's ``Trials*`` metrics,
written to the run's ``handlers.log`` as the function's would go to CloudWatch.

A job with a time budget is also reaped at its deadline (``completion.deadline``), not
at the next pass after it: the pass comes sooner when a running job's deadline is nearer
than ``interval``, and the wake lets the job's Suggest stop its running trials there
(``max_runtime``). A job past its deadline that has not finished is reaped again every
``OVERDUE_SECONDS`` (its first wake may have found no parked token: a Suggest round under
way). Deadlines are read on the service's clock and waited for in real time.

A runtime on a virtual clock (a simulated run) starts no thread: a pass at a moment real
time chose would land between two of the simulation's deliveries. Its simulation driver
calls ``reap_once`` for a job where an end was lost instead, at a point of virtual time
the job's events fix (``local/simulation.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator

from hyperstep.asl.executor import Executor
from hyperstep.completion import deadline
from hyperstep.handlers import handle_reaper
from hyperstep.local.telemetry import HandlerLog, Silent
from hyperstep.models import Job
from hyperstep.service import TuningService

REAP_SECONDS = 30.0
GRACE_SECONDS = 60.0
OVERDUE_SECONDS = 1.0
"""How often a job past its time budget's deadline is reaped until it finishes."""
LATE_SECONDS = 0.01
"""How long after a deadline its pass comes (a wait may end a little early by the clock)."""
log = logging.getLogger(__name__)


class LocalReaper:
    """Reaps the jobs of one executor's running executions on a background thread."""

    def __init__(
        self,
        service: TuningService,
        executor: Executor,
        interval: float = REAP_SECONDS,
        grace_seconds: float = GRACE_SECONDS,
        *,
        handler_log: HandlerLog | Silent | None = None,
    ) -> None:
        """``handler_log`` gets each pass's logs and metrics as one invocation of the
        reaper function (none by default)."""
        self.service, self.executor = service, executor
        self.handler_log = handler_log or Silent()
        self.interval, self.grace_seconds = interval, grace_seconds
        self._closing = threading.Event()
        self._nudged = threading.Event()
        """Set by ``close`` and ``nudge``: the loop reads the time to its next pass again."""
        self._regular = time.monotonic() + interval
        """When the next pass every ``interval`` seconds is due (monotonic)."""
        self._thread = threading.Thread(target=self._run, name="hyperstep-reaper", daemon=True)

    def start(self) -> None:
        self._regular = time.monotonic() + self.interval
        self._thread.start()

    def nudge(self) -> None:
        """A job's execution started here: its deadline may come before the next pass."""
        self._nudged.set()

    def close(self) -> None:
        """Stop reaping (a pass under way ends first)."""
        self._closing.set()
        self._nudged.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def reap_once(self, job_ids: Iterable[str] | None = None) -> dict[str, int]:
        """One pass over the jobs whose executions run here (or over ``job_ids``): one
        invocation of the reaper function's handler."""
        jobs = self._unfinished(self._running_jobs() if job_ids is None else job_ids)
        with self.handler_log.invocation("reaper") as telemetry:
            return handle_reaper(self.service, {}, telemetry, grace_seconds=self.grace_seconds, jobs=jobs)

    def _unfinished(self, job_ids: Iterable[str]) -> Iterator[Job]:
        """The unfinished ones of these jobs, each read as the pass comes to it."""
        for job_id in job_ids:
            job = self.service.store.get_job(job_id)
            if not job.status.finished:
                yield job

    def next_pass(self) -> float:
        """Seconds until the next pass: the rest of ``interval`` since the last, or less when
        a running job's deadline comes sooner (``LATE_SECONDS`` after it), or
        ``OVERDUE_SECONDS`` while a job past its deadline has not finished."""
        wait = max(self._regular - time.monotonic(), 0.0)
        now = self.service.clock()
        for job_id in self._running_jobs():
            job = self.service.store.get_job(job_id)
            end = deadline(job)
            if end is not None and not job.status.finished:
                wait = min(wait, end - now + LATE_SECONDS if end > now else OVERDUE_SECONDS)
        return wait

    def _running_jobs(self) -> list[str]:
        inputs = [e.input for e in self.executor.executions() if not e.finished]
        return sorted({i["job_id"] for i in inputs if isinstance(i, dict) and isinstance(i.get("job_id"), str)})

    def _run(self) -> None:
        while True:
            nudged = self._nudged.wait(self._next_wait())
            if self._closing.is_set():
                return
            if nudged:
                self._nudged.clear()
                continue
            self._regular = time.monotonic() + self.interval
            try:
                counts = self.reap_once()
            except Exception:  # the next pass tries again, as the scheduled function would
                log.exception("local reaper pass failed")
                continue
            if counts["recorded"] or counts["timed_out"]:
                log.warning("the local reaper recovered %s", counts)

    def _next_wait(self) -> float:
        try:
            return self.next_pass()
        except Exception:  # a store that cannot be read now: the usual interval
            log.exception("local reaper could not read its jobs' deadlines")
            return self.interval
