"""One BLAS thread for hyperstep's own numerical work, whatever the process set, and the
user's threads for the user's code.

The Bayesian strategy's linear algebra is on matrices of at most a few hundred rows (its
GP's points, ``max_model_points``), where OpenBLAS's default of a thread per core costs far
more than it gains: on this project's 2-core machine one ``suggest`` at 300 and 1,000
trials took 2.05 / 3.00 s wall with the default threads against 0.49 / 0.73 s with one
(`benchmarks.strategy_latency --sizes 300 1000`, load under 1; benchmarks/README 2j: 376 s
against 39 s of CPU for a simulated 300-trial ASHA run). And a GP fit's last digits follow
the thread count, so a seed's proposals were the same only at the same count (det-28: with
2 threads a run's 56th proposal differed). So every proposal (``Study.ask``: the history's
curve fits and joint GP, and ``propose``) and every early-stopping decision
(``early_stopping.should_stop``) runs inside ``one_blas_thread``, in a script, a notebook,
the command line and the functions alike; the objective, the trials and everything else
keep the process's threads (the report's importance GP too: ``use_one_thread`` below).

The command line also sets one thread before numpy loads (``use_one_thread``), unless the
user set one: no longer for the same proposals, but for the rest of its own process (the
report's importance GP, ``job_report.analysis``, and the simulated trials it runs in
process); local trials get the user's environment as it was (``users_environment``): their
training keeps every thread."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_ADDED: set[str] = set()


def use_one_thread() -> None:
    """Set each of ``THREAD_VARIABLES`` the user left unset to 1 (before numpy loads)."""
    for name in THREAD_VARIABLES:
        if name not in os.environ:
            os.environ[name] = "1"
            _ADDED.add(name)


def users_environment() -> dict[str, str]:
    """This process's environment without what ``use_one_thread`` added."""
    return {name: value for name, value in os.environ.items() if name not in _ADDED}


@contextmanager
def one_blas_thread(with_scipy: bool = False) -> Iterator[None]:
    """Run the block with every BLAS library loaded (numpy's, and scipy's OpenBLAS once
    ``scipy.linalg`` is loaded) on one thread, and give them the process's count back after.
    ``with_scipy``: the block uses scipy's linear algebra, which is loaded first (scipy imports it
    lazily: loaded inside the block, it would run at the process's count); without it the
    block imports nothing (a random strategy's first ``ask`` took 0.6 s more to load it).

    The count is the process's: while a block runs, the process's other threads' BLAS calls
    get one thread too. One block runs at a time (a thread's blocks may nest): OpenBLAS's
    pool is the process's, and threadpoolctl (3.8) lets one thread at a time set it,
    silently ignoring the others until that thread's last limit ends, so an early-stopping
    decision waits for a proposal another thread is making. The controller is made once for
    each of without and with ``scipy.linalg`` loaded (it sees only the libraries loaded when
    it is made): entering and leaving cost about 20 us of CPU, 70 us wall (``threadpool_limits``
    each time: 2 ms, it looks for the libraries again; benchmarks/README, det-29)."""
    if with_scipy:
        import scipy.linalg  # noqa: F401  (loaded for the controller to see it)
    with _ONE_AT_A_TIME, _blas("scipy.linalg" in sys.modules).limit(limits=1):
        yield


_ONE_AT_A_TIME = threading.RLock()


@cache
def _blas(scipy_loaded: bool) -> ThreadpoolController:
    """The loaded BLAS libraries' controller (``scipy_loaded``: the key, whether scipy's is among them)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")
