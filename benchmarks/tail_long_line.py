"""The local log tail (``backends/local/tail.py``) on a line with no newline: a script that
prints N MB without one, the tail polled after each MB (as the local backend polls a
running trial's log), then the line's end. CPU seconds of the tail's calls in all, and the
peak memory Python allocated meanwhile (tracemalloc).

    nice -n 19 .venv/bin/python -m benchmarks.tail_long_line 10 50

Record: benchmarks/results/tail_long_line.md."""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from hyperstep.backends.local.tail import LogTail
from hyperstep.spec_base import MetricDefinition

MB = 1 << 20


def run(megabytes: int, folder: Path) -> tuple[float, int, list[tuple[str, int, float]]]:
    """CPU seconds in the tail, peak bytes allocated, and the reports it gave."""
    log = folder / f"train-{megabytes}.log"
    tail = LogTail(log, [MetricDefinition(name="loss", regex=r"loss=([0-9.]+)")])
    reports, spent = [], 0.0
    tracemalloc.start()
    with log.open("wb") as out:
        for chunk in [b"x" * MB] * megabytes + [b" loss=0.1\nloss=0.2\n"]:
            out.write(chunk)
            out.flush()
            start = time.process_time()
            reports += tail.new_reports()
            spent += time.process_time() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return spent, peak, reports


def main(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for megabytes in [int(a) for a in argv] or [10, 50]:
            spent, peak, reports = run(megabytes, Path(folder))
            measured = f"tail cpu {spent:7.3f} s, peak {peak / MB:6.1f} MB"
            print(f"line of {megabytes:3} MB, polled each MB: {measured}, reports {reports}")
            sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
