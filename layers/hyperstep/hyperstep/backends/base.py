"""The trial backend port: where one trial's training runs.

A backend starts a trial and, one way or another, makes its end known as a
``TrialResult`` delivered to the collect use case: the local backend publishes it on the
in-process bus; SageMaker and Batch emit EventBridge state-change events that their
folder's ``events`` module parses (``hyperstep.events.parse_event`` finds it through the
registry). ``describe`` lets the reaper reconcile what events missed.

A completed trial's objective is a final value, and a backend knows where its final
values live: in the result itself (the local backend reads the log when the process
ends), in the platform's record (``final_metrics``: SageMaker's ``FinalMetricDataList``,
which the end event may omit), or, as a last resort, in the job's log (``recover_metrics``,
which the reaper calls after its grace period: a Batch job's CloudWatch log stream). A
backend whose scripts report metrics as events (``late_reports``) may see its trial end
before the final report arrives; collect then waits for it instead of failing the trial.

The port reads a job and a trial through ``JobView`` and ``TrialView``: the few fields a
backend needs of ``hyperstep.models.Job`` and ``Trial``, which the service passes. Naming
the store's records here would put every backend above the spec, whose ``trial`` union
is made of the backends' blocks (see ``hyperstep.backends.registry``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Protocol

from hyperstep.messages import LogCursor, TrialResult, Usage
from hyperstep.spec_base import TrialBlockBase


class ObjectiveView(Protocol):
    @property
    def metric(self) -> str:
        """The name of the metric the job optimizes."""


class SpecView(Protocol):
    @property
    def trial(self) -> TrialBlockBase | None:
        """The spec's ``trial`` block: one backend's block, None for an ask/tell study."""

    @property
    def objective(self) -> ObjectiveView: ...


class JobView(Protocol):
    """What a backend reads of a job (a ``hyperstep.models.Job``)."""

    @property
    def id(self) -> str: ...

    @property
    def spec(self) -> SpecView: ...

    @property
    def strategy_seed(self) -> int | None:
        """The job's seed (the spec's, else the one drawn when it was created)."""


class TrialView(Protocol):
    """What a backend reads of a trial (a ``hyperstep.models.Trial``)."""

    @property
    def job_id(self) -> str: ...

    @property
    def id(self) -> str: ...

    @property
    def number(self) -> int: ...

    @property
    def params(self) -> dict[str, Any]: ...

    @property
    def backend_ref(self) -> str | None:
        """What ``launch`` returned, once the store recorded it."""

    @property
    def log_cursor(self) -> LogCursor | None:
        """How far ``step_reports`` has read the trial's log (None: not yet)."""

    @property
    def started_at(self) -> float | None:
        """When the trial was launched (epoch seconds), once the store recorded it."""

    @property
    def report_key(self) -> str | None:
        """The key its script signs metric reports with (``hyperstep.report_signing``): the
        AWS backends pass it to the container, and nothing else may show it."""


class TrialBackend(ABC):
    """Runs trials. Implementations: one per folder under ``hyperstep.backends``."""

    late_reports: ClassVar[bool] = False
    """Whether the trial's script reports metrics as events that may reach collect after
    the trial's end (EventBridge orders nothing): a trial that completed without its final
    objective then waits for it (see ``TuningService.collect``) instead of failing."""

    @abstractmethod
    def launch(self, job: JobView, trial: TrialView) -> str:
        """Start the trial; return the backend's reference to it (job name, id, pid).

        Must be safe to call again for the same trial after a crash between launching
        and recording the reference: it must not start a second copy under the same name.
        """

    @abstractmethod
    def stop(self, job: JobView, trial: TrialView) -> None:
        """Ask the running trial to stop; its end still arrives as a result."""

    @abstractmethod
    def describe(self, job: JobView, trial: TrialView) -> TrialResult | None:
        """The trial's result if it has ended, None while it runs (for the reaper)."""

    def running_since(self, job: JobView, trial: TrialView) -> float | None:
        """When the running trial's platform began counting its time limit (epoch seconds),
        which the reaper's timeout counts from too; None while it has not begun (a job
        waiting in a queue for capacity). By default its launch (``trial.started_at``)."""
        return trial.started_at

    def final_metrics(self, job: JobView, trial: TrialView) -> dict[str, float]:
        """The final metrics the platform keeps for an ended trial, for an end event that
        carried none; {} when the platform keeps none (the default)."""
        return {}

    def final_record(self, job: JobView, trial: TrialView) -> tuple[dict[str, float], Usage | None]:
        """``final_metrics`` and what the trial used, from one read of the platform's record
        where it keeps both (SageMaker: one ``DescribeTrainingJob``); by default
        ``final_metrics`` and no usage (collect then asks ``usage`` when it prices the trial)."""
        return self.final_metrics(job, trial), None

    def usage(self, job: JobView, trial: TrialView) -> Usage | None:
        """What an ended trial used, from the platform's record, for a result that carried
        none (``hyperstep.pricing`` prices it); None when the backend keeps no record (the
        default: the service then takes the trial's wall time)."""
        return None

    def step_reports(self, job: JobView, trial: TrialView) -> tuple[list[tuple[str, int, float]], LogCursor | None]:
        """Step values of the running trial's objective that its log printed since
        ``trial.log_cursor``, as ``(metric, step, value)``, and the cursor after them: for
        a platform whose log is where a script's per-step lines go (SageMaker), so early
        stopping sees them without ``hyperstep.report`` events. The reaper calls it for
        running trials of jobs that stop early; one call's cost is bounded. Default: none."""
        return [], trial.log_cursor

    def recover_metrics(self, job: JobView, trial: TrialView) -> dict[str, float]:
        """The final metrics by any means the backend has (a log included), for a trial
        that ended without them and whose grace period has passed; {} when there are none.
        May be slow: only the reaper and Finish (a job ending on an error) call it.
        Defaults to ``final_metrics``."""
        return self.final_metrics(job, trial)
