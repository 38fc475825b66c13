"""CPU seconds per 100 MB of log that ``backends.logs.read_metrics`` (the local backend's
reading of a finished trial's log) takes on lines no metric regex matches, where each line
is also scanned for a NaN or an infinity printed where the regex reads its value.

Three logs of 100-byte lines: ``plain`` (no "nan" or "inf" anywhere), ``logging`` (Python's
logging: ``INFO`` and "inference" on every line), and ``logging, a loss first`` (the same
after one ``loss=`` line, which a83cacd took as leave to skip the scan). Run it against a
tree on ``PYTHONPATH`` (``git archive`` of each commit, alternating A B A B):

    nice -n 19 .venv/bin/python -m benchmarks.read_metrics_cost 50

Record: benchmarks/README.md ("read_metrics' NaN scan")."""

from __future__ import annotations

import sys
import time

from hyperstep.backends.logs import read_metrics
from hyperstep.spec_base import MetricDefinition

DEFINITIONS = [MetricDefinition(name="loss", regex=r"loss=([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)")]
MB = 1 << 20


def lines(kind: str, megabytes: int) -> list[str]:
    """``megabytes`` of 100-byte lines of ``kind`` (newlines counted)."""
    if kind == "plain":
        line = "epoch {:>6} step {:>9} training the network, learning rate 0.001 batch 128 ok"
    else:
        line = "2026-12-03 14:00:00 INFO epoch {:>6} step {:>9} inference on the validation set"
    out = [line.format(i, 7 * i).ljust(99) for i in range(megabytes * MB // 100)]
    return ["loss=0.25", *out] if kind.endswith("first") else out


def seconds_per_100mb(kind: str, megabytes: int) -> float:
    log = lines(kind, megabytes)
    start = time.process_time()
    read_metrics(log, DEFINITIONS)
    return (time.process_time() - start) * 100 / megabytes


def main(megabytes: int) -> None:
    for kind in ("plain", "logging", "logging, a loss first"):
        print(f"| {kind} | {seconds_per_100mb(kind, megabytes):.2f} s |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if sys.argv[1:] else 50)
