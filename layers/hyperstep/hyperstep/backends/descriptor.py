"""How a backend declares itself to the registry: one ``BackendDescriptor`` per folder.

A descriptor ties together what the rest of hyperstep needs to know of a backend:

- ``block``: its spec ``trial`` block (``backend: Literal[name]`` tags it in the union);
- ``events``: the EventBridge events (source, detail-type) that end its trials, each with
  the function that turns the event's detail into a ``TrialResult`` (None for an event
  that needs no action: a job still running, or one hyperstep did not start);
- ``rule_pattern``: the EventBridge rule pattern that lets only those events through to
  collect (None when no rule is needed: the local bus delivers everything);
- ``factory``: builds its adapter from a ``BackendContext``;
- ``on_aws``: whether it runs trials on AWS (the API and the AWS wiring build only those).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperstep.backends.base import TrialBackend
from hyperstep.messages import TrialResult
from hyperstep.secrets import NoSecrets, SecretResolver
from hyperstep.spec_base import TrialBlockBase


@dataclass(frozen=True)
class EventKind:
    """One kind of event that ends a backend's trials, and how to read its detail."""

    source: str
    detail_type: str
    parse: Callable[[dict[str, Any]], TrialResult | None]
    """The event's ``detail`` as a trial result; raises ``pydantic.ValidationError`` when malformed."""


@dataclass(frozen=True)
class BackendContext:
    """What a factory may build its adapter from; each backend takes what it needs."""

    client: Callable[[str], Any] | None = None
    """Makes a boto3 client by service name (``boto3.client``), for the AWS backends."""
    event_bus: str | None = None
    """Where training scripts publish their metrics (``HYPERSTEP_EVENT_BUS`` in the trial)."""
    runs_dir: Path | None = None
    """The local backend's folder for trial directories."""
    on_result: Callable[[TrialResult], None] | None = None
    """Where a backend that learns of ends itself (a local process) delivers them."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Variables a local trial process starts with."""
    clock: Callable[[], float] | None = None
    """The run's clock (epoch seconds); the simulated backend runs on a ``VirtualClock``."""
    publish_event: Callable[[str, str, dict[str, Any]], None] | None = None
    """Publishes an event (source, detail-type, detail) on a local run's bus, for a backend
    whose trials' ends and reports are events it makes itself (the simulated backend)."""
    secrets: SecretResolver = field(default_factory=NoSecrets)
    """Resolves the secret references of a trial's environment at launch (``hyperstep.secrets``)."""
    stack: str | None = None
    """The deployment's id, tagged on every cloud job (``naming.TAG_STACK``): its IAM grants
    hold only for its own jobs (None: no such tag, as locally)."""


@dataclass(frozen=True)
class BackendDescriptor:
    """One backend, as the registry lists it (see the module docstring)."""

    name: str
    block: type[TrialBlockBase]
    events: tuple[EventKind, ...]
    factory: Callable[[BackendContext], TrialBackend]
    rule_pattern: Mapping[str, Any] | None = None
    on_aws: bool = False
