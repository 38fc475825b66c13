"""In-process event bus: EventBridge's role on a laptop.

Events are EventBridge-shaped dicts. Subscribers get them one at a time, in publish
order, as Lambda targets would (one invocation each): on a single dispatcher thread, or,
for ``deliver``, on the thread of a caller that waits for its event's delivery anyway
(the simulation driver: two thread switches an event saved, which on a loaded machine
cost more than the delivery).
A subscriber that raises gets the event again, twice, as Lambda retries an asynchronous
invocation that failed (``MaximumRetryAttempts`` defaults to 2; Lambda waits a minute or
two, here ``retry_delays``); after that the failure is logged and the next event goes out
(a batch is halved first, down to the events that fail alone: ``_deliver``).
A trial's result dropped this way is not lost: the local reaper (``local/reaper.py``)
finds it through the backend, as the scheduled reaper does on AWS.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from hyperstep.ports import EventPublisher

Event = dict[str, Any]
log = logging.getLogger(__name__)


def envelope(source: str, detail_type: str, detail: dict[str, Any]) -> Event:
    """An event in EventBridge's envelope, as a rule target receives it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "000000000000",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "local",
        "resources": [],
        "detail": detail,
    }


class InProcessBus:
    def __init__(self, retry_delays: Sequence[float] = (0.5, 1.0)) -> None:
        self.retry_delays = tuple(retry_delays)
        self._subscribers: list[tuple[Callable[[Event], bool], Callable[[Event], Any]]] = []
        self._queue: queue.Queue[Event | None] = queue.Queue()
        self._delivering = threading.Lock()
        """Held while an event goes to the subscribers: one at a time, whichever thread delivers."""
        self._thread = threading.Thread(target=self._dispatch, name="hyperstep-bus", daemon=True)
        self._thread.start()

    def subscribe(self, target: Callable[[Event], Any], *, source: str | None = None) -> None:
        """Deliver events (of ``source`` only, when given) to ``target``."""
        self._subscribers.append((lambda e: source is None or e.get("source") == source, target))

    def publish(self, event: Event) -> None:
        self._queue.put(event)

    def deliver(self, event: Event | list[Event]) -> None:
        """Publish ``event`` and deliver it on the calling thread, which returns once its
        subscribers have had it: after every event published before the call (``drain``),
        and with the dispatcher's retries. The events its subscribers publish are queued
        as any, delivered after it on the dispatcher thread: drain to wait for them. Not
        from a subscriber (it would wait for the event being delivered). A list of events
        goes as one batch (a JSON array, as an EventBridge Pipe batches) to the subscribers
        every one of them matches, retried whole."""
        self.drain()
        with self._delivering:
            self._to_subscribers(event)

    def drain(self) -> None:
        """Block until every event published so far has been delivered."""
        self._queue.join()

    def close(self) -> None:
        """Deliver what is queued, then stop the dispatcher."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _dispatch(self) -> None:
        while (event := self._queue.get()) is not None:
            with self._delivering:
                self._to_subscribers(event)
            self._queue.task_done()
        self._queue.task_done()

    def _to_subscribers(self, event: Event | list[Event]) -> None:
        events = event if isinstance(event, list) else (event,)
        for matches, target in self._subscribers:
            if all(matches(one) for one in events):
                self._deliver(target, event)

    def _deliver(self, target: Callable[[Any], Any], event: Event | list[Event]) -> None:
        """``event`` to ``target`` with its retries; a batch that fails them all is halved and
        each half delivered so (as a Pipe's ``AUTOMATIC_BISECT`` does: "halves each batch and
        will retry each half until all the records are processed or there is one failed
        message left in the batch", EventBridge Pipes' OnPartialBatchItemFailure), so only
        the events that fail alone are dropped, as when they come one at a time."""
        for delay in (*self.retry_delays, None):
            try:
                target(event)
                return
            except Exception:
                if delay is None and isinstance(event, list) and len(event) > 1:
                    log.warning("event target failed for %s; halving it", _kind(event), exc_info=True)
                    half = len(event) // 2
                    self._deliver(target, event[:half])
                    self._deliver(target, event[half:])
                    return
                if delay is None:
                    log.exception("event target failed for %s; dropped after retries", _kind(event))
                    return
                log.warning("event target failed for %s; retrying", _kind(event), exc_info=True)
                time.sleep(delay)


def _kind(event: Event | list[Event]) -> str:
    """An event's detail-type, or a batch's count, for the log."""
    return f"a batch of {len(event)} events" if isinstance(event, list) else str(event.get("detail-type"))


class BusPublisher(EventPublisher):
    """Publishes hyperstep's own events (source ``hyperstep``) on the in-process bus."""

    def __init__(self, bus: InProcessBus) -> None:
        self.bus = bus

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.bus.publish(envelope("hyperstep", detail_type, detail))
