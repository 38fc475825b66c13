"""Errors that cross module boundaries; each names what went wrong in one line."""

from __future__ import annotations


class HyperstepError(Exception):
    """Base class: anything the CLI or API reports as a one-line reason."""


class SpecError(HyperstepError, ValueError):
    """A spec (or search space) is not valid; the message names the field and the reason."""


class TrialPruned(Exception):
    """Raised by an objective ``Study.optimize`` runs to stop its trial (Optuna's
    ``TrialPruned``): the trial ends pruned, keeping the curve it reported."""


class TrialFinishedError(HyperstepError, RuntimeError):
    """``Study.report`` of a trial told completed or failed (Optuna's
    ``UpdateFinishedTrialError``, also a ``RuntimeError``): nothing is recorded."""


class NotFoundError(HyperstepError, KeyError):
    """A job or trial does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "not found"


class JobExistsError(HyperstepError):
    """A job with this id already exists."""


class TrialExistsError(HyperstepError):
    """A trial with this id already exists in the job."""


class ConflictError(HyperstepError):
    """A conditional write lost: the item is not in the state the caller expected."""


class BudgetExhaustedError(HyperstepError):
    """No trials are left in the job's budget."""


class LaunchError(HyperstepError):
    """A trial cannot start and retrying will not help (bad image, missing program);
    the trial is recorded as failed with this reason."""


class CapacityError(LaunchError):
    """A trial cannot start now for want of capacity the platform frees as work ends (an
    account quota of instances in use: SageMaker's ``ResourceLimitExceeded``). While another
    trial of the job runs, the trial stays pending and a later round launches it again (that
    trial's end frees an instance and wakes the round); with none running, nothing of the
    job's own will, and the trial fails with this reason like any ``LaunchError``."""


class KeyReusedError(HyperstepError):
    """A submit's idempotency key was used before with another spec."""


class UnreadMetricError(HyperstepError):
    """A trial's log printed its objective as text that is no number (``loss=0,49``): the
    message is why, as a local trial fails with it; ``metrics`` are those the log did give."""

    def __init__(self, reason: str, metrics: dict[str, float]) -> None:
        super().__init__(reason)
        self.metrics = metrics


class ExecutionClosedError(HyperstepError):
    """An execution of that name has closed: Step Functions refuses a closed execution's name
    (``ExecutionAlreadyExists``) for 90 days. ``execution_id`` is that execution's."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"execution {execution_id} has closed: its name cannot start another")
        self.execution_id = execution_id


class Signalled(KeyboardInterrupt):
    """A signal (its name, ``SIGTERM``, ``SIGHUP``) that stops a local run as Ctrl-C does."""
