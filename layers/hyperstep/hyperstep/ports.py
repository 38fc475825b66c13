"""The two small ports besides the store and the backends.

- ``Orchestrator``: starts an execution of the tuning state machine, wakes one that
  waits on a task token, and says how one stands (Step Functions on AWS, the local
  executor on a laptop).
- ``EventPublisher``: tells the world a job has finished (EventBridge, in-process bus).

``tests/contract/test_orchestrator_contract.py`` and ``test_publisher_contract.py`` hold
every adapter to these contracts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from hyperstep.execution_events import ExecutionStatusChange


class Orchestrator(ABC):
    @abstractmethod
    def start_execution(self, job_id: str, name: str) -> str:
        """Start one execution for the job with input ``{"job_id": job_id}``; return its id.
        Started again under the name of one that runs, it returns that one (Step Functions:
        the same name and input are idempotent), a redriven one running again too; under the
        name of one that has closed, it raises ``ExecutionClosedError`` with that one's id
        (its name is taken for 90 days)."""

    def started_nothing(self, error: Exception) -> bool:
        """Whether ``error``, raised by ``start_execution``, says that no execution started:
        an answer refusing the start. False when it leaves that unknown (a timeout, a lost
        connection, a server error: the execution may run and take its job back). An
        orchestrator in the caller's own process raises only when it started nothing."""
        return True

    @abstractmethod
    def send_task_success(self, token: str, output: dict[str, Any]) -> bool:
        """Resume the execution waiting on ``token``; False when it no longer waits."""

    @abstractmethod
    def describe_execution(self, execution_id: str) -> ExecutionStatusChange | None:
        """The execution as its status-change event would describe it now (``status``
        ``RUNNING`` while it runs; Step Functions' DescribeExecution, eventually consistent:
        a just-ended one may still read running); None when no such execution is known."""


def execution_arn(state_machine_arn: str, name: str) -> str:
    """``arn:...:execution:<machine>:<name>`` for an execution of ``state_machine_arn``."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


class EventPublisher(ABC):
    @abstractmethod
    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        """Publish one event with source ``hyperstep`` and this detail type."""


class NullPublisher(EventPublisher):
    """Publishes nothing (for studies driven by ask/tell, and tests)."""

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        return None
