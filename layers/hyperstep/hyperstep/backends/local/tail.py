"""Intermediate metrics of a running local trial, read from its log as it grows.

The local backend follows ``train.log`` while the process runs and hands each new match
of a ``metric_definitions`` regex on as a step report, so early stopping acts while the
trial trains. **A metric's step is how many lines so far matched its regex** (1, 2, 3...):
a script prints one line per epoch (``epoch=3 loss=0.41``, or ``hyperstep.report(...,
step=)`` which prints ``loss=0.41``). A script that ends with a final
``hyperstep.report`` prints one line more, which counts as one step more.

The final values come from the same lines when the process ends (``log_lines``, read by
``backends.logs.read_metrics``: each metric's last match), so the two agree: a line longer
than ``MAX_LINE`` bytes is cut for both (a value printed past its first MiB counts in
neither), and a last line with no line end counts in both (the process has ended: nothing
will end it).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

from hyperstep.backends.logs import step_matches
from hyperstep.messages import MAX_CURVE_STEPS
from hyperstep.spec_base import MetricDefinition

BLOCK = 1 << 20
"""How much of the log is read at a time (1 MiB): memory stays bounded however fast it grows."""

MAX_LINE = BLOCK
"""The longest line matched (1 MiB): a longer one is cut to its first ``MAX_LINE`` bytes,
its rest skipped up to its end, so a script that prints megabytes with no newline costs
one read of each byte and ``MAX_LINE`` bytes of memory, not a re-read of the whole line
at every poll."""


class LogTail:
    """Reads the complete lines appended to a log since the last call."""

    def __init__(self, path: Path, definitions: Sequence[MetricDefinition]) -> None:
        self.path = path
        self.definitions = list(definitions)
        self.offset = 0
        """How far the log has been read (every byte is read once)."""
        self.pending = bytearray()
        """The start of the line still being written (at most ``MAX_LINE`` bytes)."""
        self.counts: dict[str, int] = {}
        self.finite: dict[str, int] = {}
        """How many finite values of each metric ``curve_reports`` has given."""

    def new_reports(self, ended: bool = False) -> list[tuple[str, int, float]]:
        """``(metric, step, value)`` for every match in the lines completed since the last
        call (``new_lines``)."""
        reports: list[tuple[str, int, float]] = []
        for lines in self.new_lines(ended):
            reports += step_matches(lines, self.definitions, self.counts)
        return reports

    def curve_reports(self, ended: bool = False) -> list[tuple[str, int, float]]:
        """``new_reports``' finite values (a diverged step, ``loss=nan``, is none: ``TrialMetric``
        refuses it, and its error would end the watcher, leaving the process unwatched), each
        metric's first ``MAX_CURVE_STEPS``: the points a curve keeps (a store drops a new step
        past them; a script printing its loss every batch had each later line sent, and
        recorded for nothing). Its final values are still read from its whole log. Past them,
        each call gives each metric's newest finite value only: the trial's latest value and
        the time of its last report (what a run killed outright charges it up to) stay current."""
        reports, newest = [], {}
        for name, step, value in self.new_reports(ended):
            if not math.isfinite(value):
                continue
            if self.finite.get(name, 0) < MAX_CURVE_STEPS:
                self.finite[name] = self.finite.get(name, 0) + 1
                reports.append((name, step, value))
            else:
                newest[name] = (name, step, value)
        return reports + list(newest.values())

    def new_lines(self, ended: bool = False) -> Iterator[list[str]]:
        """The lines completed since the last call, a block's at a time. A line ends at a
        newline or a carriage return (a progress bar's redraw), as ``str.splitlines`` ends
        it; one still being written waits for its end, unless the process has ``ended``."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                while block := handle.read(BLOCK):
                    self.offset += len(block)
                    yield self._lines(block)
        except OSError:
            pass
        if ended and self.pending:
            last = bytes(self.pending)
            self.pending.clear()
            yield last.decode(errors="replace").splitlines()

    def _lines(self, block: bytes) -> list[str]:
        """The lines ``block`` completes (the held start of a line first); what follows
        its last line end is held for the next block."""
        end = max(block.rfind(b"\n"), block.rfind(b"\r")) + 1
        if not end:
            self._hold(block)
            return []
        first = min(i for i in (block.find(b"\n"), block.find(b"\r")) if i >= 0)
        self._hold(block[:first])
        text = bytes(self.pending) + block[first:end]
        self.pending.clear()
        self._hold(block[end:])
        return text.decode(errors="replace").splitlines()

    def _hold(self, data: bytes) -> None:
        """Keep ``data`` as part of the line being written, up to ``MAX_LINE`` bytes of it."""
        self.pending += data[: MAX_LINE - len(self.pending)]


def log_lines(path: Path) -> Iterator[str]:
    """Every line of an ended process's log, as its ``LogTail`` read them: the final values
    are read from these (module docstring)."""
    for lines in LogTail(path, ()).new_lines(ended=True):
        yield from lines
