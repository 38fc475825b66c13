"""Execution history and results, shaped after Step Functions' GetExecutionHistory.

Event types are the service's own (``ExecutionStarted``, ``TaskStateEntered``,
``LambdaFunctionSucceeded``, ``MapIterationStarted``...). ``details`` holds what the
matching ``...EventDetails`` structure holds (``input``, ``output``, ``error``, ``cause``,
``resource``), so a history can be compared with moto's or AWS's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["RUNNING", "SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"]


@dataclass(frozen=True)
class HistoryEvent:
    """One history event; ``name`` is the state's name for state entered/exited events."""

    id: int
    previous_event_id: int
    type: str
    timestamp: datetime
    name: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_aws(self) -> dict[str, Any]:
        """This event as one item of GetExecutionHistory's ``events`` list."""
        event: dict[str, Any] = {
            "id": self.id,
            "previousEventId": self.previous_event_id,
            "timestamp": self.timestamp,
            "type": self.type,
        }
        details = {key: value for key, value in self.details.items() if value not in (None, "")}
        for payload in ("input", "output"):
            if payload in details:
                details[f"{payload}Details"] = {"truncated": False}
        if self.type.endswith(("StateEntered", "StateExited")):
            key = "stateEnteredEventDetails" if self.type.endswith("Entered") else "stateExitedEventDetails"
            event[key] = {"name": self.name, **details}
        elif self.type.startswith("MapIteration"):
            event[_details_key(self.type)] = {"name": self.name, **details}
        elif details:
            event[_details_key(self.type)] = details
        return event


def _details_key(event_type: str) -> str:
    return event_type[0].lower() + event_type[1:] + "EventDetails"


@dataclass(frozen=True)
class ExecutionResult:
    """How an execution ended: ``output`` when it succeeded, ``error``/``cause`` otherwise."""

    execution_id: str
    name: str
    status: Status
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history: tuple[HistoryEvent, ...] = ()

    @property
    def state_path(self) -> list[str]:
        """The names of the states entered, in order (see ``state_path``)."""
        return state_path(self.history)


class ExecutionHistory:
    """A thread-safe, append-only event log (Map iterations and branches write concurrently)."""

    def __init__(self) -> None:
        self._events: list[HistoryEvent] = []
        self._lock = threading.Lock()

    def add(self, event_type: str, name: str | None = None, **details: Any) -> HistoryEvent:
        with self._lock:
            previous = self._events[-1].id if self._events else 0
            event = HistoryEvent(previous + 1, previous, event_type, datetime.now(UTC), name, details)
            self._events.append(event)
            return event

    def events(self) -> tuple[HistoryEvent, ...]:
        with self._lock:
            return tuple(self._events)


def state_path(events: tuple[HistoryEvent, ...] | list[HistoryEvent]) -> list[str]:
    """The names of the states entered, in history order (``stateEnteredEventDetails.name``)."""
    return [event.name for event in events if event.type.endswith("StateEntered") and event.name is not None]
