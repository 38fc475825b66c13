"""Waiting that can be interrupted: cancellation scopes and task attempts awaiting an outcome.

An execution is a tree of scopes (the execution, each Map iteration, each Parallel
branch). Cancelling a scope (stop, execution timeout, a failed sibling iteration) wakes
every wait inside it and its children at once, so ``Execution.stop`` returns promptly
even while a state waits for a task token or sleeps in a Wait state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from hyperstep.asl.failures import StatesError, timeout_error


class Cancelled(Exception):
    """The scope a state runs in was cancelled; no retrier or catcher sees this."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Scope:
    """One cancellable unit of work; cancelling it cancels its children and pending tasks."""

    def __init__(self, parent: Scope | None = None) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._children: list[Scope] = []
        self._pending: set[PendingTask] = set()
        self.reason = ""
        if parent is not None:
            parent._adopt(self)

    def _adopt(self, child: Scope) -> None:
        with self._lock:
            self._children.append(child)
            cancelled = self._event.is_set()
        if cancelled:
            child.cancel(self.reason)

    def child(self) -> Scope:
        return Scope(self)

    def cancel(self, reason: str) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            children, pending = list(self._children), list(self._pending)
        for child in children:
            child.cancel(reason)
        for task in pending:
            task.cancel()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise ``Cancelled`` if this scope has been cancelled."""
        if self._event.is_set():
            raise Cancelled(self.reason)

    def sleep(self, seconds: float) -> None:
        """Sleep in real time, waking at once on cancellation."""
        if seconds > 0:
            self._event.wait(seconds)
        self.check()

    def track(self, task: PendingTask) -> None:
        with self._lock:
            self._pending.add(task)
            cancelled = self._event.is_set()
        if cancelled:
            task.cancel()

    def untrack(self, task: PendingTask) -> None:
        with self._lock:
            self._pending.discard(task)


class PendingTask:
    """One task attempt waiting for its outcome: a return value, an error, or a token callback.

    Thread-safe: the first outcome wins; later ones are refused (``resolve`` returns False),
    like ``SendTaskSuccess`` on a task that no longer waits.

    ``TimeoutSeconds`` counts from the start of the attempt; ``HeartbeatSeconds`` only from
    when the call that hands out the token has returned (``called``): "the heartbeat timeout
    doesn't start counting until after the Lambda function has completed executing and
    returned a result" (Step Functions Developer Guide, "Invoke Lambda with Step Functions").
    ``clock`` (``time.monotonic`` by default) is what both count with.
    """

    def __init__(
        self, token: str | None = None, heartbeat_seconds: float | None = None, clock: Callable[[], float] | None = None
    ) -> None:
        self.token = token
        self._heartbeat_seconds = heartbeat_seconds
        self._clock = clock or time.monotonic
        self._condition = threading.Condition()
        self._outcome: tuple[str, Any] | None = None
        self._called = False
        self._last_beat = self._clock()

    def succeed(self, output: Any) -> bool:
        return self._resolve(("success", output))

    def fail(self, error: StatesError) -> bool:
        return self._resolve(("failure", error))

    def cancel(self) -> bool:
        return self._resolve(("cancelled", None))

    def called(self) -> None:
        """The call that handed out the token has returned: the heartbeat clock starts now."""
        with self._condition:
            self._called = True
            self._last_beat = self._clock()
            self._condition.notify_all()

    def heartbeat(self) -> bool:
        with self._condition:
            if self._outcome is not None:
                return False
            self._last_beat = self._clock()
            return True

    def _resolve(self, outcome: tuple[str, Any]) -> bool:
        with self._condition:
            if self._outcome is not None:
                return False
            self._outcome = outcome
            self._condition.notify_all()
            return True

    def _beat_deadline(self) -> float | None:
        if self._heartbeat_seconds is None or not self._called:
            return None
        return self._last_beat + self._heartbeat_seconds

    def overdue(self, deadline: float | None) -> StatesError | None:
        """The timeout the attempt has run into by now (``deadline``: its ``TimeoutSeconds``
        on ``clock``), or None."""
        now, beat_deadline = self._clock(), self._beat_deadline()
        if deadline is not None and now >= deadline:
            return timeout_error()
        if beat_deadline is not None and now >= beat_deadline:
            return timeout_error(heartbeat=True)
        return None

    def wait(self, timeout_seconds: float | None, scope: Scope) -> Any:
        """The task's output; raises its error, ``States.Timeout`` or ``Cancelled``."""
        deadline = None if timeout_seconds is None else self._clock() + timeout_seconds
        with self._condition:
            while self._outcome is None:
                error = self.overdue(deadline)
                if error is not None:
                    self._outcome = ("failure", error)
                    break
                wakes = [t for t in (deadline, self._beat_deadline()) if t is not None]
                self._condition.wait(min(wakes) - self._clock() if wakes else None)
            kind, value = self._outcome
        if kind == "cancelled":
            scope.check()
            raise Cancelled("cancelled")
        if kind == "failure":
            raise value
        return value
