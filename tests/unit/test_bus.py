"""The in-process bus delivers in order and retries a failing target as Lambda retries
an asynchronous invocation (two more attempts), then moves on; ``deliver`` does the same
on the caller's thread, after what was published before it."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
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


def test_deliver_comes_after_what_was_published_before_on_the_caller_s_thread() -> None:
    bus = InProcessBus()
    gate, calls = threading.Event(), []

    def target(event: dict[str, Any]) -> None:
        if event["detail"]["n"] == "a":
            gate.wait(5)  # "a" is still being delivered when "b" is handed over
        calls.append((event["detail"]["n"], threading.current_thread().name))

    bus.subscribe(target, source="test")
    bus.publish(envelope("test", "Thing", {"n": "a"}))
    threading.Timer(0.2, gate.set).start()
    bus.deliver(envelope("test", "Thing", {"n": "b"}))
    assert calls == [("a", "hyperstep-bus"), ("b", threading.current_thread().name)]
    bus.close()


def test_what_a_delivery_publishes_goes_out_after_it_and_a_failing_target_is_retried() -> None:
    bus = InProcessBus(retry_delays=(0, 0))
    calls: list[str] = []

    def target(event: dict[str, Any]) -> None:
        n = event["detail"]["n"]
        calls.append(n)
        if n == "a" and calls.count("a") < 3:
            raise RuntimeError("database is locked")
        if n == "a":
            bus.publish(envelope("test", "Thing", {"n": "stopped"}))  # a stop's end, published from collect
            calls.append("a done")

    bus.subscribe(target, source="test")
    bus.deliver(envelope("test", "Thing", {"n": "a"}))
    bus.drain()
    assert calls == ["a", "a", "a", "a done", "stopped"]
    bus.close()


def test_an_events_time_is_utc_whatever_the_machines_zone() -> None:
    """EventBridge's envelope carries ``time`` in UTC (``...Z``): a machine set to another
    zone (here nine hours east, a POSIX TZ needing no zone database) stamps the same."""
    zone = os.environ.get("TZ")
    os.environ["TZ"] = "JST-9"
    time.tzset()
    try:
        stamped = datetime.strptime(envelope("test", "Thing", {})["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    finally:
        if zone is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = zone
        time.tzset()
    assert abs(stamped - datetime.now(UTC)) < timedelta(hours=1)  # local time would be 9 hours off


def test_deliver_hands_a_list_over_as_one_batch_to_the_targets_every_event_matches_retried_whole() -> None:
    bus = InProcessBus(retry_delays=(0, 0))
    batches: list[list[str]] = []

    def flaky(batch: list[dict[str, Any]]) -> None:
        batches.append([event["detail"]["n"] for event in batch])
        if len(batches) < 2:
            raise RuntimeError("database is locked")

    bus.subscribe(flaky, source="test")
    bus.subscribe(lambda batch: batches.append(["other"]), source="elsewhere")  # matches neither event
    bus.deliver([envelope("test", "Thing", {"n": "a"}), envelope("test", "Thing", {"n": "b"})])
    assert batches == [["a", "b"], ["a", "b"]]
    bus.close()


def test_a_batch_goes_only_to_the_targets_that_match_each_of_its_events() -> None:
    bus = InProcessBus(retry_delays=())
    got: list[Any] = []
    bus.subscribe(got.append, source="test")
    bus.deliver([envelope("test", "Thing", {"n": "a"}), envelope("elsewhere", "Thing", {"n": "b"})])
    bus.deliver([envelope("test", "Thing", {"n": "c"})])
    assert [[event["detail"]["n"] for event in batch] for batch in got] == [["c"]]
    bus.close()


def test_a_batch_that_fails_its_retries_is_halved_down_to_the_event_that_fails_alone() -> None:
    """One event collect can never record drops that event only, as when each comes alone
    (a Pipe's AUTOMATIC_BISECT). Before: the whole batch was dropped after its retries."""
    bus = InProcessBus(retry_delays=(0, 0))
    tried: list[list[str]] = []
    recorded: list[str] = []

    def poisoned(batch: list[dict[str, Any]]) -> None:
        names = [event["detail"]["n"] for event in batch]
        tried.append(names)
        if "c" in names:
            raise RuntimeError("collect failed")
        recorded.extend(names)

    bus.subscribe(poisoned, source="test")
    bus.deliver([envelope("test", "Thing", {"n": n}) for n in "abcde"])
    assert recorded == ["a", "b", "d", "e"]
    assert tried.count(["c"]) == 3 and tried.count(["a", "b", "c", "d", "e"]) == 3
    bus.close()
