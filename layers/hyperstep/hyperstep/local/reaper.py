"""The reaper of a local run: what the scheduled reaper function does on AWS, for this process's jobs.

The in-process bus retries a failing collect twice and then drops the event, as Lambda
does with an asynchronous invocation; on AWS the scheduled reaper then finds the trial's
end through Describe* calls. Here a thread does the same every ``interval`` seconds for
the jobs whose executions run in this process (never for another process's jobs in a
shared store file): it records the results the bus lost (the local backend's
``describe`` keeps each ended process's result), fails trials stuck past their timeout
plus ``grace_seconds``, and wakes the waiting execution (``TuningService.reap_job``).
"""

from __future__ import annotations

import logging
import threading

from hyperstep.asl.executor import Executor
from hyperstep.service import TuningService

REAP_SECONDS = 30.0
GRACE_SECONDS = 60.0
log = logging.getLogger(__name__)


class LocalReaper:
    """Reaps the jobs of one executor's running executions on a background thread."""

    def __init__(
        self,
        service: TuningService,
        executor: Executor,
        interval: float = REAP_SECONDS,
        grace_seconds: float = GRACE_SECONDS,
    ) -> None:
        self.service, self.executor = service, executor
        self.interval, self.grace_seconds = interval, grace_seconds
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hyperstep-reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop reaping (a pass under way ends first)."""
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def reap_once(self) -> dict[str, int]:
        """One pass over the jobs whose executions run here."""
        counts = {"jobs": 0, "recorded": 0, "timed_out": 0}
        for job_id in self._running_jobs():
            job = self.service.store.get_job(job_id)
            if not job.status.finished:
                counts["jobs"] += 1
                self.service.reap_job(job, self.grace_seconds, counts)
        return counts

    def _running_jobs(self) -> list[str]:
        inputs = [e.input for e in self.executor.executions() if not e.finished]
        return sorted({i["job_id"] for i in inputs if isinstance(i, dict) and isinstance(i.get("job_id"), str)})

    def _run(self) -> None:
        while not self._closing.wait(self.interval):
            try:
                counts = self.reap_once()
            except Exception:  # the next pass tries again, as the scheduled function would
                log.exception("local reaper pass failed")
                continue
            if counts["recorded"] or counts["timed_out"]:
                log.warning("the local reaper recovered %s", counts)
