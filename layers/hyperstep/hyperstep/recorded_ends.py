"""The trial ends one invocation of a function recorded: what it counts in ``Trials*``.

A trial's end is recorded once, by whichever call gets there first (the store's conditional
write, ``TrialStore.finish_trial``), and a late completion replaces a stopped or pruned end
once (``TrialStore.report_after_end``). The call may be Collect's (an end event, reports
that ended the trial), the reaper's (a result it fetched, a timeout), Suggest's (a trial
failed at launch, a pending trial stopped), Finish's (trials it winds down), the API's stop
(pending trials it stops) or a local run's end of its interrupted trials
(``local.runner.end_interrupted``). The service notes each end it recorded (``note``) in the
list of the invocation under way (``recording``), and the caller counts that list when it
is done (``hyperstep.handlers.count_ends``): each end counts once, in the invocation that
recorded it, whatever path it took. A call outside any recording (ask and tell) notes
nothing.

The list belongs to the thread (a ``ContextVar``): a local run's invocations run on
several threads at once, each with its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from hyperstep.models import TrialState


@dataclass(frozen=True)
class RecordedEnd:
    """One end a call recorded."""

    state: TrialState
    replaced: TrialState | None = None
    """The end this one replaced (stopped or pruned: a late completion); None for a first end."""


_ends: ContextVar[list[RecordedEnd] | None] = ContextVar("hyperstep_recorded_ends", default=None)


@contextmanager
def recording() -> Iterator[list[RecordedEnd]]:
    """The ends recorded within the block, on this thread (an inner block keeps its own)."""
    ends: list[RecordedEnd] = []
    token = _ends.set(ends)
    try:
        yield ends
    finally:
        _ends.reset(token)


def note(end: RecordedEnd) -> None:
    """Add an end just recorded to the recording under way, if any."""
    ends = _ends.get()
    if ends is not None:
        ends.append(end)
