"""Intermediate metrics of a running local trial, read from its log as it grows.

The local backend follows ``train.log`` while the process runs and hands each new match
of a ``metric_definitions`` regex on as a step report, so early stopping acts while the
trial trains. **A metric's step is how many lines so far matched its regex** (1, 2, 3...):
a script prints one line per epoch (``epoch=3 loss=0.41``, or ``hyperstep.report(...,
step=)`` which prints ``loss=0.41``). A script that ends with a final
``hyperstep.report`` prints one line more, which counts as one step more; its final value
still comes from the whole log when the process ends (``backends.logs.read_metrics``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hyperstep.backends.logs import step_matches
from hyperstep.spec_base import MetricDefinition

BLOCK = 1 << 20
"""How much of the log is read at a time (1 MiB): memory stays bounded however fast it grows."""


class LogTail:
    """Reads the complete lines appended to a log since the last call."""

    def __init__(self, path: Path, definitions: Sequence[MetricDefinition]) -> None:
        self.path = path
        self.definitions = list(definitions)
        self.offset = 0
        self.counts: dict[str, int] = {}

    def new_reports(self) -> list[tuple[str, int, float]]:
        """``(metric, step, value)`` for every match in the lines completed since the last
        call. A line ends at a newline or a carriage return (a progress bar's redraw), as
        ``str.splitlines`` ends it; one still being written waits for its end."""
        reports: list[tuple[str, int, float]] = []
        pending = bytearray()
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                while block := handle.read(BLOCK):
                    pending += block
                    end = max(pending.rfind(b"\n"), pending.rfind(b"\r")) + 1
                    if end:
                        lines = pending[:end].decode(errors="replace").splitlines()
                        reports += step_matches(lines, self.definitions, self.counts)
                        self.offset += end
                        del pending[:end]
        except OSError:
            pass
        return reports
