"""The trial backend port: where one trial's training runs.

A backend starts a trial and, one way or another, makes its end known as a
``TrialResult`` delivered to the collect use case: the local backend publishes it on the
in-process bus; SageMaker and Batch emit EventBridge state-change events that
``hyperstep.events`` parses. ``describe`` lets the reaper reconcile what events missed.

A completed trial's objective is a final value, and a backend knows where its final
values live: in the result itself (the local backend reads the log when the process
ends), in the platform's record (``final_metrics``: SageMaker's ``FinalMetricDataList``,
which the end event may omit), or, as a last resort, in the job's log (``recover_metrics``,
which the reaper calls after its grace period: a Batch job's CloudWatch log stream). A
backend whose scripts report metrics as events (``late_reports``) may see its trial end
before the final report arrives; collect then waits for it instead of failing the trial.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Literal

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

    late_reports: ClassVar[bool] = False
    """Whether the trial's script reports metrics as events that may reach collect after
    the trial's end (EventBridge orders nothing): a trial that completed without its final
    objective then waits for it (see ``TuningService.collect``) instead of failing."""

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

    def final_metrics(self, job: Job, trial: Trial) -> dict[str, float]:
        """The final metrics the platform keeps for an ended trial, for an end event that
        carried none; {} when the platform keeps none (the default)."""
        return {}

    def recover_metrics(self, job: Job, trial: Trial) -> dict[str, float]:
        """The final metrics by any means the backend has (a log included), for a trial
        that ended without them and whose grace period has passed; {} when there are none.
        May be slow: only the reaper calls it. Defaults to ``final_metrics``."""
        return self.final_metrics(job, trial)
