"""A virtual clock: epoch seconds that move only when the simulation moves them.

One ``VirtualClock`` is shared by everything that reads or stamps time in a simulated run
(the store, the service, the simulated backend), so a whole job runs on virtual time: a
trial that "takes" an hour ends an hour later on this clock, and as soon as nothing else
is left to do in real time. It is a callable (``clock()`` is ``clock.now()``), so it goes
wherever a ``clock=`` argument takes ``time.time``.
"""

from __future__ import annotations

import threading


class VirtualClock:
    """Monotonic virtual time, in epoch seconds; thread-safe."""

    def __init__(self, start: float) -> None:
        """``start``: the epoch seconds the run begins at (the real time, typically, so the
        stored times and job ids read as usual)."""
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    __call__ = now

    def advance_to(self, moment: float) -> float:
        """Move the clock forward to ``moment``; an earlier moment leaves it where it is
        (time never runs backwards). Returns the time now."""
        with self._lock:
            self._now = max(self._now, float(moment))
            return self._now
