"""hyperstep: hyperparameter tuning that runs the same on a laptop and on AWS.

The names below are loaded when first used: ``import hyperstep`` alone loads nothing heavy,
so the console script (``hyperstep.__main__``) answers Ctrl-C before numpy, scipy and
pydantic have loaded.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hyperstep.errors import HyperstepError, NotFoundError, SpecError, TrialFinishedError, TrialPruned
    from hyperstep.models import Job, JobStatus, Trial, TrialState
    from hyperstep.reporting import report
    from hyperstep.space import SearchSpace
    from hyperstep.spec import JobSpec, load_spec
    from hyperstep.study import Study
    from hyperstep.trial_handle import TrialHandle

__version__ = "0.1.0"

_FROM = {
    "HyperstepError": "hyperstep.errors",
    "NotFoundError": "hyperstep.errors",
    "SpecError": "hyperstep.errors",
    "TrialFinishedError": "hyperstep.errors",
    "TrialPruned": "hyperstep.errors",
    "Job": "hyperstep.models",
    "JobStatus": "hyperstep.models",
    "Trial": "hyperstep.models",
    "TrialState": "hyperstep.models",
    "report": "hyperstep.reporting",
    "SearchSpace": "hyperstep.space",
    "JobSpec": "hyperstep.spec",
    "load_spec": "hyperstep.spec",
    "Study": "hyperstep.study",
    "TrialHandle": "hyperstep.trial_handle",
}

__all__ = [
    "HyperstepError",
    "Job",
    "JobSpec",
    "JobStatus",
    "NotFoundError",
    "SearchSpace",
    "SpecError",
    "Study",
    "Trial",
    "TrialFinishedError",
    "TrialHandle",
    "TrialPruned",
    "TrialState",
    "load_spec",
    "report",
]


def __getattr__(name: str) -> Any:
    if name not in _FROM:  # a module of the package (hyperstep.models), as the eager imports had loaded it
        if name.startswith("_") or importlib.util.find_spec(f"hyperstep.{name}") is None:
            raise AttributeError(f"module 'hyperstep' has no attribute {name!r}")
        return importlib.import_module(f"hyperstep.{name}")
    value = getattr(importlib.import_module(_FROM[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
