"""The store a simulated run leaves, normalized: the correctness guard of a change to its hot path.

    .venv/bin/python -m benchmarks.simulated_store_dump --trials 300 [--seed 0] [--early-stopping asha]
        [--strategy bayesian] [--out FILE]

Runs ``benchmarks.simulated_run``'s job (same spec, same seed) with its virtual clock
started at a fixed moment, and prints the md5 of every trial's body, every curve row and
the job's body, in order, with what differs from run to run set aside: each trial's
``report_key`` (random), the job's ``execution_id`` (a name made at start) and the
random digits of its id (``job-0`` in the dump), and the tree's path in the spec. Two trees
that leave the same digest made the same decisions, in the same order, for that seed.
``--out`` writes the normalized dump as JSON lines (to diff two that differ).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from benchmarks.simulated_run import EARLY_STOPPING, REPO, spec
from hyperstep.backends.simulated import VirtualClock
from hyperstep.local import runner
from hyperstep.spec import parse_spec

ORIGIN = 1_800_000_000.0
"""Where the virtual clock starts (``run_clock`` starts it at the real time)."""
SET_ASIDE = {"report_key", "execution_id"}


def normalized(store: Path) -> list[str]:
    """One JSON line a record: the job, each trial in number order, each curve row in key order."""
    conn = sqlite3.connect(store)
    try:

        def body(text: str) -> str:
            record: dict[str, Any] = json.loads(text)
            return json.dumps({k: v for k, v in record.items() if k not in SET_ASIDE}, sort_keys=True)

        lines = [body(text) for (text,) in conn.execute("SELECT body FROM jobs ORDER BY id")]
        lines += [body(text) for (text,) in conn.execute("SELECT body FROM trials ORDER BY job_id, number")]
        rows = conn.execute("SELECT trial_id, step, value, at FROM curves ORDER BY job_id, trial_id, step")
        lines += [json.dumps(row) for row in rows]
        jobs = [job_id for (job_id,) in conn.execute("SELECT id FROM jobs")]
    finally:
        conn.close()
    for n, job_id in enumerate(jobs):  # an id ends in random digits
        lines = [line.replace(job_id, f"job-{n}") for line in lines]
    return [line.replace(str(REPO), "REPO") for line in lines]  # the spec's path: the tree's


def dump(
    trials: int, seed: int, parallel: int = 50, early_stopping: str = "none", strategy: str = "random"
) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(runner, "run_clock", lambda *_: VirtualClock(ORIGIN)):
        job = parse_spec(spec(trials, parallel, seed, early_stopping, strategy))
        runner.run_local(job, Path(tmp) / "store.db", Path(tmp) / "runs", env={})
        return normalized(Path(tmp) / "store.db")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--early-stopping", choices=EARLY_STOPPING, default="none")
    parser.add_argument("--strategy", default="random", help="the spec's strategy name (random, bayesian...)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    lines = dump(args.trials, args.seed, early_stopping=args.early_stopping, strategy=args.strategy)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    digest = hashlib.md5("\n".join(lines).encode()).hexdigest()
    print(f"{len(lines)} records, md5 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
