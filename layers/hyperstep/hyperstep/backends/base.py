"""The trial backend port: where one trial's training runs.

A backend starts a trial and, one way or another, makes its end known as a
``TrialResult`` delivered to the collect use case: the local backend publishes it on the
in-process bus; SageMaker and Batch emit EventBridge state-change events that
``hyperstep.events`` parses. ``describe`` lets the reaper reconcile what events missed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hyperstep.models import Job, Trial


class TrialResult(BaseModel):
    """How a trial ended, as a backend or an event reports it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    trial_id: str
    state: Literal["completed", "failed", "stopped"]
    metrics: dict[str, float] = Field(default_factory=dict)
    """Final metrics by name; the job's objective metric among them when it completed."""
    error: str | None = None


class TrialBackend(ABC):
    """Runs trials. Implementations: local, simulated, sagemaker, batch."""

    @abstractmethod
    def launch(self, job: Job, trial: Trial) -> str:
        """Start the trial; return the backend's reference to it (job name, id, pid).

        Must be safe to call again for the same trial after a crash between launching
        and recording the reference: it must not start a second copy under the same name.
        """

    @abstractmethod
    def stop(self, job: Job, trial: Trial) -> None:
        """Ask the running trial to stop; its end still arrives as a result."""

    @abstractmethod
    def describe(self, job: Job, trial: Trial) -> TrialResult | None:
        """The trial's result if it has ended, None while it runs (for the reaper)."""
