"""What a metric regex the backtracking check (``metric_regex.nested_repeat``) passes costs
on a long line that almost matches it: a run of digits with no ``x`` after it, matched as the
log watchers match every printed line (``find_all``). CPU seconds of one line per regex and
length; a regex of no repeat in a group (``loss=([0-9.]+)x``-like) is the reference.

    nice -n 19 .venv/bin/python -m benchmarks.metric_regex_cost 2000 20000 50000

Record: benchmarks/results/metric_regex_cost.md."""

from __future__ import annotations

import re
import sys
import time

from hyperstep.metric_regex import find_all, nested_repeat

REGEXES = [
    r"([0-9.]+)x",
    r"((?:\d\d?){3})x",
    r"((?:\d\d?){4})x",
    r"((?:\d\d?){8})x",
    r"((?:\d{1,3}){4})x",
    r"((?:\d{1,3}\.){3}\d{1,3})x",
]


def seconds(regex: str, length: int) -> float:
    """CPU seconds of ``find_all`` over a line of ``length`` digits."""
    pattern, line = re.compile(regex), "1" * length
    start = time.process_time()
    for _ in find_all(pattern, line):
        pass
    return time.process_time() - start


def main(lengths: list[int]) -> None:
    print("| regex | passes | " + " | ".join(f"{n:,} digits" for n in lengths) + " |")
    print("| --- | --- |" + " --- |" * len(lengths))
    for regex in REGEXES:
        cells = " | ".join(f"{seconds(regex, n):.3f} s" for n in lengths)
        print(f"| `{regex}` | {'yes' if nested_repeat(regex) is None else 'no'} | {cells} |")


if __name__ == "__main__":
    main([int(n) for n in sys.argv[1:]] or [2_000, 20_000, 50_000])
