"""At-least-once delivery as AWS gives it, for the harnesses of both engines.

Step Functions runs a Task again when its response is lost (a Lambda service error, a
timeout) even though the handler's writes have landed; EventBridge delivers an event
twice. ``LoseFirstResponse`` plays the first: it stands in for the function's handler in
``hyperstep.handlers.LOOP_HANDLERS`` (where the local runtime and the moto harness both
look it up at each call), so the first call with each input runs the real handler to its
end and then fails as ``Lambda.ServiceException``, an error every Task's ``Retry`` of
``tuning.asl.json`` matches: the state runs the handler again with the same input.

``Outcome`` is what must not change: the trials (ids, params, states, values), the
job's budget counters and best, and its status.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from unittest import mock

from hyperstep.handlers import LOOP_HANDLERS, Handler, Telemetry
from hyperstep.models import JobStatus, TrialState
from hyperstep.service import TuningService
from hyperstep.stores.base import TrialStore

TASK_FUNCTIONS = ("suggest", "finish")
"""The functions behind the Task states: Suggest Trials (which launches, then parks or sends its token), Finish Job."""

LostResponse = type(
    "Lambda.ServiceException",
    (Exception,),
    {"__doc__": "A response lost after the handler ran; both engines report the class name as the error."},
)


class LoseFirstResponse:
    """Within the block, the first call of function ``name`` with each input runs the
    handler, then raises ``LostResponse``; the repeat with the same input goes through.

    ``ignore`` names input fields that differ between attempts of one Task (Suggest
    Trials' task token is new on every attempt).
    """

    def __init__(self, name: str, ignore: tuple[str, ...] = ("task_token",)) -> None:
        self.ignore = ignore
        self.lost: list[dict[str, Any]] = []
        """The inputs whose first response was lost."""
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._patch = mock.patch.dict(LOOP_HANDLERS, {name: self._wrap(LOOP_HANDLERS[name])})

    def _wrap(self, handler: Handler) -> Handler:
        def lose_first(service: TuningService, event: dict[str, Any], telemetry: Telemetry) -> dict[str, Any]:
            result = handler(service, event, telemetry)
            key = json.dumps({k: v for k, v in event.items() if k not in self.ignore}, sort_keys=True)
            with self._lock:
                first = key not in self._seen
                self._seen.add(key)
                if first:
                    self.lost.append(event)
            if first:
                raise LostResponse(f"the response to {json.dumps(event)} was lost")
            return result

        return lose_first

    def __enter__(self) -> LoseFirstResponse:
        self._patch.start()
        return self

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self._patch.stop()


@dataclass(frozen=True)
class Outcome:
    """How a job ended: what an at-least-once run must reproduce exactly."""

    status: JobStatus
    trials: tuple[tuple[str, TrialState, str, float | None], ...]
    """(id, state, params as JSON, value) of each trial, by number."""
    budget: tuple[int, int, int, int]
    """(trial_seq, budget_used, completed, failed)."""
    best: tuple[str | None, float | None]


def outcome(store: TrialStore, job_id: str) -> Outcome:
    job = store.get_job(job_id)
    trials = tuple((t.id, t.state, json.dumps(t.params, sort_keys=True), t.value) for t in store.list_trials(job_id))
    return Outcome(
        status=job.status,
        trials=trials,
        budget=(job.trial_seq, job.budget_used, job.completed, job.failed),
        best=(job.best_trial_id, job.best_value),
    )
