"""AWS adapters of the small ports: Step Functions as orchestrator, EventBridge as publisher."""

from __future__ import annotations

import json
from typing import Any

from hyperstep.ports import EventPublisher, Orchestrator, execution_arn


class StepFunctionsOrchestrator(Orchestrator):
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self.client = client
        self.state_machine_arn = state_machine_arn

    def start_execution(self, job_id: str, name: str) -> str:
        try:
            response = self.client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name[:80], input=json.dumps({"job_id": job_id})
            )
        except self.client.exceptions.ExecutionAlreadyExists:
            # Names are unique per job and attempt: this is the execution an earlier try of
            # the same call started, and it has already closed (a running one is returned).
            return execution_arn(self.state_machine_arn, name[:80])
        return response["executionArn"]

    def send_task_success(self, token: str, output: dict[str, Any]) -> bool:
        errors = self.client.exceptions
        try:
            self.client.send_task_success(taskToken=token, output=json.dumps(output))
        except (errors.TaskTimedOut, errors.TaskDoesNotExist, errors.InvalidToken):
            return False
        return True


class EventBridgePublisher(EventPublisher):
    def __init__(self, client: Any, bus_name: str = "default") -> None:
        self.client = client
        self.bus_name = bus_name

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.client.put_events(
            Entries=[
                {
                    "Source": "hyperstep",
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": self.bus_name,
                }
            ]
        )
