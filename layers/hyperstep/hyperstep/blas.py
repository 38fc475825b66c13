"""One BLAS thread for the command line's own numerical work, and the user's environment
for the processes it starts.

The Bayesian strategy's linear algebra is on matrices of at most a few hundred rows (its
GP's points, ``max_model_points``), where OpenBLAS's default of a thread per core costs far
more than it gains: on this project's 2-core machine one ``suggest`` at 300 and 1,000
trials took 2.05 / 3.00 s wall with the default threads against 0.49 / 0.73 s with one
(`benchmarks.strategy_latency --sizes 300 1000`, load under 1; benchmarks/README 2j: 376 s
against 39 s of CPU for a simulated 300-trial ASHA run). The threads also spin beside the
local trials' own processes. The variables are read when numpy loads, so they are set
before it is imported; a value the user set is kept. Local trials get the user's
environment as it was (``users_environment``): their training keeps every thread."""

from __future__ import annotations

import os

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
