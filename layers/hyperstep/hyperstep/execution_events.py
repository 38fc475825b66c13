"""Step Functions' "Execution Status Change" events: a job's execution that ended outside Finish Job.

The state machine catches what its Tasks raise and ends in Finish Job, which closes the
job. An execution can still end without it: stopped (``StopExecution``: ``ABORTED``), past
a timeout (``TIMED_OUT``), or failed where nothing catches (``States.Runtime``, a Finish Job
failing on every retry: ``FAILED``). Its job would then stay running forever, so Step
Functions' status-change event for such an end (EventBridge, the account's default bus;
the local executor sends the same on the in-process bus) goes to the Finish function,
which closes the job as Finish Job would have (``TuningService.close_ended_execution``).

The event's shape is AWS's (EventBridge Events Reference, "AWS Step Functions events";
Step Functions Developer Guide, "EventBridge for Step Functions execution status
changes"): ``detail`` holds ``executionArn``, ``stateMachineArn``, ``name``, ``status``,
``startDate``, ``stopDate``, ``input`` (the execution's input as JSON text, or null when
too large: ``inputDetails.included``), ``output`` and, on some events, ``error`` and
``cause``. AWS adds fields over time: unknown ones are ignored.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SOURCE = "aws.states"
DETAIL_TYPE = "Step Functions Execution Status Change"
ENDED_OUTSIDE = ("FAILED", "TIMED_OUT", "ABORTED")
"""The statuses of an execution that did not end through its state machine's last state."""


class ExecutionStatusChange(BaseModel):
    """The ``detail`` of a Step Functions "Execution Status Change" event."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    execution_arn: str = Field(alias="executionArn")
    state_machine_arn: str = Field(alias="stateMachineArn")
    name: str
    status: str
    input: str | None = None
    error: str | None = None
    cause: str | None = None

    @property
    def job_id(self) -> str | None:
        """The job the execution ran (its input is ``{"job_id": ...}``), None if the input
        is missing or holds none."""
        try:
            value = json.loads(self.input or "")
        except ValueError:
            return None
        job_id = value.get("job_id") if isinstance(value, dict) else None
        return job_id if isinstance(job_id, str) else None

    def failure(self) -> dict[str, str]:
        """The ``{"Error", "Cause"}`` Finish Job is given for this end (as a Catch gives it)."""
        error = self.error or f"Execution{self.status.title().replace('_', '')}"
        cause = self.cause or f"the job's execution {self.name} ended {self.status} outside its state machine"
        return {"Error": error, "Cause": cause}


def is_execution_status_change(event: dict[str, Any]) -> bool:
    """Whether an invocation's event is a Step Functions status-change event (not a Task's input)."""
    return event.get("source") == SOURCE and event.get("detail-type") == DETAIL_TYPE
