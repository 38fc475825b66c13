"""The backends hyperstep knows, by name: one line each.

Each backend is one folder under ``hyperstep.backends`` whose package declares a
``BackendDescriptor`` as ``BACKEND`` (see ``backends.descriptor``); listing it here is all
it takes for the rest of hyperstep to know it:

- ``hyperstep.spec`` makes the ``trial`` block a union of every backend's block,
  discriminated on ``backend``;
- ``hyperstep.events.parse_event`` reads the events every backend declares, and
  ``RULE_PATTERNS`` holds their rule patterns;
- the AWS wiring builds the ``on_aws`` backends (``aws_backends``), and the API accepts
  only jobs that run on one of them (``AWS_BACKENDS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from hyperstep.backends import batch, local, sagemaker, simulated
from hyperstep.backends.base import TrialBackend
from hyperstep.backends.descriptor import BackendContext, BackendDescriptor

BACKENDS: Mapping[str, BackendDescriptor] = MappingProxyType(
    {package.BACKEND.name: package.BACKEND for package in (local, sagemaker, batch, simulated)}
)
"""Every backend by name, in the order the spec's union tries them."""

AWS_BACKENDS: tuple[str, ...] = tuple(name for name, backend in BACKENDS.items() if backend.on_aws)
"""The backends whose trials run on AWS."""


def aws_backends(context: BackendContext) -> dict[str, TrialBackend]:
    """The adapters of every backend that runs on AWS, built from ``context``."""
    return {name: BACKENDS[name].factory(context) for name in AWS_BACKENDS}
