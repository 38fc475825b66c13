"""``EventBridgePublisher`` on what PutEvents answers (moto never fails an entry).

PutEvents answers 200 with ``FailedEntryCount`` when an entry was not accepted (throttled,
an internal failure): the entry is lost unless the caller sees it. Finish publishes the
"Tuning Job Completed" event, then marks it published; a failure that passed silently would
mark an event nobody received as published, and no retry would send it again.
"""

from __future__ import annotations

from typing import Any

import pytest

from hyperstep.aws import EventBridgePublisher


class PutEvents:
    """A client whose PutEvents answers with ``entries`` (each accepted or failed)."""

    def __init__(self, *entries: dict[str, Any]) -> None:
        self.entries = list(entries)
        self.sent: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.sent += Entries
        failed = sum(1 for e in self.entries if "ErrorCode" in e)
        return {"FailedEntryCount": failed, "Entries": self.entries}


def test_an_entry_put_events_did_not_accept_raises_with_its_error() -> None:
    client = PutEvents({"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"})
    with pytest.raises(RuntimeError, match="ThrottlingException: Rate exceeded"):
        EventBridgePublisher(client, "hyperstep-bus").publish("Tuning Job Completed", {"job_id": "j-1"})
    assert [e["EventBusName"] for e in client.sent] == ["hyperstep-bus"]


def test_an_accepted_entry_returns_quietly() -> None:
    client = PutEvents({"EventId": "11710aed-b79e-4468-a20b-bb3c0c3b4860"})
    EventBridgePublisher(client).publish("Tuning Job Completed", {"job_id": "j-1"})
    assert [(e["Source"], e["DetailType"]) for e in client.sent] == [("hyperstep", "Tuning Job Completed")]
