"""The local log tail on a line that never ends: every byte is read once and at most
``MAX_LINE`` bytes of the line are kept (a longer line is cut), however long the line and
however often the tail is polled. (The time it takes: ``benchmarks.tail_long_line``.)"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from hyperstep.backends.local.tail import MAX_LINE, LogTail
from hyperstep.spec_base import MetricDefinition

MB = 1 << 20


class Reader:
    """A log file handle that counts the bytes read from it."""

    def __init__(self, handle: IO[bytes], read: list[int]) -> None:
        self._handle, self._read = handle, read

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def seek(self, offset: int) -> int:
        return self._handle.seek(offset)

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._read.append(len(data))
        return data


class CountedLog:
    """The log's path as the tail uses it (``open("rb")``), counting what is read."""

    def __init__(self, path: Path) -> None:
        self.path, self.read = path, []

    def open(self, mode: str) -> Any:
        return Reader(self.path.open(mode), self.read)


def test_a_50_mb_line_with_no_newline_is_read_once_and_kept_to_its_first_mib(tmp_path: Path) -> None:
    log = CountedLog(tmp_path / "train.log")
    tail = LogTail(log, [MetricDefinition(name="loss", regex=r"loss=([0-9.]+)")])  # type: ignore[arg-type]
    with log.path.open("wb") as out:
        out.write(b"loss=0.5\n")
        out.flush()
        assert tail.new_reports() == [("loss", 1, 0.5)]
        for _ in range(50):  # a script printing 50 MB with no newline, polled after each MB
            log.read.clear()
            out.write(b"x" * MB)
            out.flush()
            assert tail.new_reports() == []
            assert sum(log.read) == MB  # the new bytes only, never the line again
            assert len(tail.pending) <= MAX_LINE
        out.write(b" loss=0.1\nloss=0.2\n")  # the long line's end: past its first MiB, cut
    assert tail.new_reports() == [("loss", 2, 0.2)]
    assert tail.offset == log.path.stat().st_size and not tail.pending
