"""hyperstep: hyperparameter tuning that runs the same on a laptop and on AWS."""

from hyperstep.errors import HyperstepError, NotFoundError, SpecError
from hyperstep.models import Job, JobStatus, Trial, TrialState
from hyperstep.reporting import report
from hyperstep.space import SearchSpace
from hyperstep.spec import JobSpec, load_spec
from hyperstep.study import Study

__version__ = "0.1.0"

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
    "TrialState",
    "load_spec",
    "report",
]
