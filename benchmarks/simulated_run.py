"""How fast the real state machine runs simulated trials, and what orchestrating one costs.

    nice -n 19 .venv/bin/python -m benchmarks.simulated_run [--trials 2000] [--parallel 50] [--profile FILE]
        [--early-stopping {none,asha,hyperband,median}] [--strategy random|bayesian|...]

One job of ``--trials`` simulated trials (``examples/simulated/curves.py``'s crossing
curves, 27 steps each, so 27 step reports and one result per trial) runs the way
``hyperstep run`` runs it: the local runtime, ``statemachine/tuning.asl.json`` on the
local executor, the real handlers, SQLite, the in-process bus, the simulated backend on a
virtual clock; strategy ``random`` unless ``--strategy``. With ``--early-stopping`` the
spec stops trials early (``min_resource`` 1, ``max_resource`` 27, ``reduction_factor`` 3,
the rest the spec's defaults), and a trial stopped early ends too: it counts among the
ended trials. It prints trials per second, the wall time, and the
orchestration overhead per trial: the wall time (and, apart, the process's CPU time) less
the time spent in the spec's callable and in the strategy's own ``suggest`` (its CPU time
from the CPU time), divided by the ended trials. Like ``hyperstep run``, it does its own linear algebra on one BLAS
thread (``hyperstep.blas``, set before numpy loads). The machine may be shared: the load average is recorded beside the
result, and the CPU time says what the run itself cost. Results:
``benchmarks/results/simulated_run.{md,json}`` (with early stopping,
``simulated_run_{early_stopping}_{strategy}.{md,json}``).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import wraps
from pathlib import Path
from typing import Any

from hyperstep.blas import use_one_thread

use_one_thread()  # as the command line does, before numpy loads (benchmarks/README 2j)

from benchmarks import reporting  # noqa: E402
from hyperstep.local.runner import run_local  # noqa: E402
from hyperstep.models import JobStatus  # noqa: E402
from hyperstep.spec import parse_spec  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "simulated"
TARGETS = {"wall_seconds_2000": 60.0, "overhead_ms": 20.0}
SPENT = {"objective": 0.0, "strategy": 0.0, "strategy_cpu": 0.0}
"""Seconds spent in the callable and in the strategy, and the strategy's CPU seconds (its
thread's: on a loaded machine its wall time is mostly waiting; this module, as the run imports it)."""


def timed_crossing(params: dict[str, Any], seed: int) -> dict[str, Any]:
    """The example's crossing curves, timed (what the spec names)."""
    from curves import crossing  # the example's module, on sys.path through the spec's ``path``

    started = time.perf_counter()
    try:
        return crossing(params, seed)
    finally:
        SPENT["objective"] += time.perf_counter() - started


EARLY_STOPPING = ("none", "asha", "hyperband", "median")


def spec(
    trials: int, parallel: int, seed: int, early_stopping: str = "none", strategy: str = "random"
) -> dict[str, Any]:
    """The benchmark's job; ``early_stopping`` one of ``EARLY_STOPPING`` (none: no block)."""
    stopping = {"name": early_stopping, "min_resource": 1, "max_resource": 27, "reduction_factor": 3}
    return {
        "name": "simulated-bench",
        "objective": {"metric": "loss", "goal": "minimize"},
        "parameters": [
            {"name": "lr", "type": "float", "low": 0.0001, "high": 1.0, "scale": "log"},
            {"name": "width", "type": "int", "low": 8, "high": 256, "scale": "log"},
            {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5},
        ],
        "strategy": {"name": strategy, "seed": seed},
        "budget": {"max_trials": trials, "max_parallel": parallel},
        "trial": {"backend": "simulated", "objective": "benchmarks.simulated_run:timed_crossing", "path": str(EXAMPLE)},
        **({"early_stopping": stopping} if early_stopping != "none" else {}),
    }


@contextmanager
def timing_strategies() -> Iterator[None]:
    """Count the time every strategy spends in ``propose`` (what a Suggest calls) or ``suggest``
    into ``SPENT["strategy"]`` (its thread's CPU time into ``SPENT["strategy_cpu"]``): the
    outermost of them only (``propose`` calls ``suggest``, or the other way round), for every
    strategy the spec can name (imported first: a subclass not yet imported would go
    uncounted, as ``bayesian`` did)."""
    from hyperstep.strategies import bayesian, evolutionary, grid, random, sobol  # noqa: F401
    from hyperstep.strategies.base import Strategy

    inside = threading.local()

    def timed(method: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(method)
        def run(*args: Any, **kwargs: Any) -> Any:
            if getattr(inside, "depth", 0):
                return method(*args, **kwargs)
            inside.depth, started, cpu = 1, time.perf_counter(), time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                inside.depth = 0
                here().SPENT["strategy"] += time.perf_counter() - started
                here().SPENT["strategy_cpu"] += time.thread_time() - cpu

        return run

    originals = {
        (cls, name): vars(cls)[name]
        for cls in [Strategy, *_subclasses(Strategy)]
        for name in ("propose", "suggest")
        if name in vars(cls)
    }
    for (cls, name), method in originals.items():
        setattr(cls, name, timed(method))
    try:
        yield
    finally:
        for (cls, name), method in originals.items():
            setattr(cls, name, method)


def _subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_subclasses(direct))]


def here() -> Any:
    """This module as the run imports it (``benchmarks.simulated_run``, also under ``-m``)."""
    import benchmarks.simulated_run as module

    return module


@contextmanager
def profiling_every_thread(path: Path) -> Iterator[None]:
    """cProfile the calling thread and every thread started meanwhile (the executor's, the
    bus's, the Task threads, where the simulation driver delivers events), one profiler a
    thread, and write their stats merged to ``path``. The calling thread alone spends its
    time waiting for the execution's end. From Python 3.12 cProfile is built on
    ``sys.monitoring``, whose events are the interpreter's: one profiler sees every thread
    and a second one cannot be enabled (``ValueError: Another profiling tool is already
    active``), so there the calling thread's profiler is the only one."""
    profilers = [cProfile.Profile()]
    if sys.version_info >= (3, 12):
        with profilers[0]:
            yield
        pstats.Stats(profilers[0]).dump_stats(path)
        return

    def profile_this_thread(*_: Any) -> None:
        sys.setprofile(None)  # this hook's own: the thread's profiler takes its place
        profiler = cProfile.Profile()
        profilers.append(profiler)
        profiler.enable()

    threading.setprofile(profile_this_thread)
    profilers[0].enable()
    try:
        yield
    finally:
        profilers[0].disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        pstats.Stats(*profilers).dump_stats(path)


def measure(
    trials: int,
    parallel: int,
    seed: int = 0,
    profile: Path | None = None,
    early_stopping: str = "none",
    strategy: str = "random",
) -> dict[str, Any]:
    """Run one simulated job and return what it took."""
    module = here()
    module.SPENT.update(objective=0.0, strategy=0.0, strategy_cpu=0.0)
    with tempfile.TemporaryDirectory() as tmp, timing_strategies():
        started, cpu = time.perf_counter(), time.process_time()
        with profiling_every_thread(profile) if profile else nullcontext():
            job = run_local(
                parse_spec(spec(trials, parallel, seed, early_stopping, strategy)),
                Path(tmp) / "store.db",
                Path(tmp) / "runs",
                env={},
            )
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profile:
        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(40)
    assert job.status is JobStatus.COMPLETED, job
    ended = job.completed + job.failed + job.pruned  # a trial stopped early ends too
    spent = module.SPENT["objective"] + module.SPENT["strategy"]
    return {
        "trials": trials,
        "parallel": parallel,
        "early_stopping": early_stopping,
        "strategy": strategy,
        "ended": ended,
        "pruned": job.pruned,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "trials_per_second": ended / wall,
        "objective_seconds": module.SPENT["objective"],
        "strategy_seconds": module.SPENT["strategy"],
        "strategy_cpu_seconds": module.SPENT["strategy_cpu"],
        "overhead_ms_per_trial": 1000 * (wall - spent) / ended,
        "cpu_overhead_ms_per_trial": 1000 * (cpu - module.SPENT["objective"] - module.SPENT["strategy_cpu"]) / ended,
        "best_value": job.best_value,
    }


def markdown(result: dict[str, Any], machine: dict[str, Any], command: str) -> str:
    rows = [
        ["trials (ended)", f"{result['ended']:,}"],
        ["early stopping, strategy", f"{result['early_stopping']}, {result['strategy']}"],
        ["of them stopped early", f"{result['pruned']:,}"],
        ["max_parallel", result["parallel"]],
        ["wall time", f"{result['wall_seconds']:.1f} s"],
        ["process CPU time (all threads)", f"{result['cpu_seconds']:.1f} s"],
        ["trials per second", f"{result['trials_per_second']:.1f}"],
        ["in the callable", f"{result['objective_seconds']:.2f} s"],
        ["in the strategy's suggest", f"{result['strategy_seconds']:.2f} s"],
        ["the strategy's CPU time", f"{result['strategy_cpu_seconds']:.2f} s"],
        ["**overhead per trial** (wall, less callable and strategy)", f"**{result['overhead_ms_per_trial']:.1f} ms**"],
        [
            "overhead per trial (CPU, less callable and the strategy's CPU)",
            f"{result['cpu_overhead_ms_per_trial']:.1f} ms",
        ],
    ]
    return (
        "# Simulated trials through the real state machine\n\n"
        f"Command: `{command}`\n\n"
        f"Measured {machine['date_utc']} on {machine['cpus']} CPUs (Python {machine['python']}), "
        f"commit {machine['hyperstep_commit']}, load average {machine['load_average_1m']} (1 min) "
        "on a machine shared with other work.\n\n"
        + reporting.table(["what", "value"], rows)
        + f"\n\nTargets: {TARGETS['wall_seconds_2000']:g} s for 2,000 trials on 2 cores; "
        f"under {TARGETS['overhead_ms']:g} ms overhead per trial.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--early-stopping", choices=EARLY_STOPPING, default="none")
    parser.add_argument("--strategy", default="random", help="the spec's strategy name (random, bayesian...)")
    parser.add_argument(
        "--profile", type=Path, help="write cProfile stats of every thread here and print the top entries"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/results alone")
    args = parser.parse_args(argv)
    result = measure(args.trials, args.parallel, args.seed, args.profile, args.early_stopping, args.strategy)
    machine = reporting.machine()
    command = "nice -n 19 .venv/bin/python -m benchmarks.simulated_run " + " ".join(argv or sys.argv[1:])
    text = markdown(result, machine, command.strip())
    print(text)
    if not args.no_write and args.profile is None:
        name = "simulated_run" + ("" if args.early_stopping == "none" else f"_{args.early_stopping}_{args.strategy}")
        reporting.write(name, text, {"result": result, "machine": machine, "targets": TARGETS})
    return 0


if __name__ == "__main__":
    sys.exit(main())
