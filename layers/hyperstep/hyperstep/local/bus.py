"""In-process event bus: EventBridge's role on a laptop.

Events are EventBridge-shaped dicts. Subscribers get them one at a time on a single
dispatcher thread, in publish order, as Lambda targets would (one invocation each);
a subscriber that raises is logged and the next event still goes out.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
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
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "local",
        "resources": [],
        "detail": detail,
    }


class InProcessBus:
    def __init__(self) -> None:
        self._subscribers: list[tuple[Callable[[Event], bool], Callable[[Event], Any]]] = []
        self._queue: queue.Queue[Event | None] = queue.Queue()
        self._thread = threading.Thread(target=self._dispatch, name="hyperstep-bus", daemon=True)
        self._thread.start()

    def subscribe(self, target: Callable[[Event], Any], *, source: str | None = None) -> None:
        """Deliver events (of ``source`` only, when given) to ``target``."""
        self._subscribers.append((lambda e: source is None or e.get("source") == source, target))

    def publish(self, event: Event) -> None:
        self._queue.put(event)

    def drain(self) -> None:
        """Block until every event published so far has been delivered."""
        self._queue.join()

    def close(self) -> None:
        """Deliver what is queued, then stop the dispatcher."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _dispatch(self) -> None:
        while (event := self._queue.get()) is not None:
            for matches, target in self._subscribers:
                if matches(event):
                    try:
                        target(event)
                    except Exception:
                        log.exception("event target failed for %s", event.get("detail-type"))
            self._queue.task_done()
        self._queue.task_done()


class BusPublisher(EventPublisher):
    """Publishes hyperstep's own events (source ``hyperstep``) on the in-process bus."""

    def __init__(self, bus: InProcessBus) -> None:
        self.bus = bus

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.bus.publish(envelope("hyperstep", detail_type, detail))
