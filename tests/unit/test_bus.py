"""The in-process bus delivers in order and retries a failing target as Lambda retries
an asynchronous invocation (two more attempts), then moves on."""

from __future__ import annotations

from typing import Any

from hyperstep.local.bus import InProcessBus, envelope


def test_a_target_that_fails_twice_gets_the_event_a_third_time() -> None:
    bus = InProcessBus(retry_delays=(0, 0))
    calls: list[str] = []

    def flaky(event: dict[str, Any]) -> None:
        calls.append(event["detail"]["n"])
        if len(calls) < 3:
            raise RuntimeError("database is locked")

    bus.subscribe(flaky, source="test")
    bus.publish(envelope("test", "Thing", {"n": "a"}))
    bus.drain()
    assert calls == ["a", "a", "a"]
    bus.close()


def test_after_the_retries_the_event_is_dropped_and_the_next_one_goes_out() -> None:
    bus = InProcessBus(retry_delays=(0, 0))
    calls: list[str] = []

    def broken_for_a(event: dict[str, Any]) -> None:
        calls.append(event["detail"]["n"])
        if event["detail"]["n"] == "a":
            raise RuntimeError("boom")

    bus.subscribe(broken_for_a)
    bus.subscribe(lambda e: calls.append("other"), source="elsewhere")  # filtered out
    bus.publish(envelope("test", "Thing", {"n": "a"}))
    bus.publish(envelope("test", "Thing", {"n": "b"}))
    bus.drain()
    assert calls == ["a", "a", "a", "b"]
    bus.close()
