"""Intermediate metrics of a running local trial, read from its log as it grows.

The local backend follows ``train.log`` while the process runs and hands each new match
of a ``metric_definitions`` regex on as a step report, so early stopping acts while the
trial trains. **A metric's step is how many lines so far matched its regex** (1, 2, 3...):
a script prints one line per epoch (``epoch=3 loss=0.41``, or ``hyperstep.report(...,
step=)`` which prints ``loss=0.41``). A script that ends with a final
``hyperstep.report`` prints one line more, which counts as one step more; its final value
still comes from the whole log when the process ends (``backends.logs.parse_metrics``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hyperstep.backends.logs import step_matches
from hyperstep.spec_base import MetricDefinition


class LogTail:
    """Reads the complete lines appended to a log since the last call."""

    def __init__(self, path: Path, definitions: Sequence[MetricDefinition]) -> None:
        self.path = path
        self.definitions = list(definitions)
        self.offset = 0
        self.counts: dict[str, int] = {}

    def new_reports(self) -> list[tuple[str, int, float]]:
        """``(metric, step, value)`` for every match in the lines completed since the last call."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except OSError:
            return []
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for its newline
        self.offset += end
        return step_matches(chunk[:end].decode(errors="replace").splitlines(), self.definitions, self.counts)
