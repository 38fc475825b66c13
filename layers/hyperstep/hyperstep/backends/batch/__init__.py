"""The Batch backend: each trial a Batch job, its end a "Batch Job State Change" event.

``block`` (the spec's ``trial: {backend: batch}``), ``adapter`` (``BatchBackend``:
SubmitJob, DescribeJobs, TerminateJob, the job's name and its log), ``events`` (the
state-change event, its status mapping and rule pattern); ``BACKEND`` declares them to
the registry.
"""

from __future__ import annotations

from hyperstep.backends.batch.adapter import BatchBackend
from hyperstep.backends.batch.block import BatchTrial
from hyperstep.backends.batch.events import DETAIL_TYPE, RULE_PATTERN, SOURCE, parse_detail
from hyperstep.backends.descriptor import BackendContext, BackendDescriptor, EventKind


def make_backend(context: BackendContext) -> BatchBackend:
    """Batch jobs through a ``batch`` client, their logs read through a ``logs`` client;
    scripts report to ``context.event_bus``; secret references resolved by ``context.secrets``."""
    if context.client is None:
        raise ValueError("the batch backend needs a client factory")
    return BatchBackend(
        context.client("batch"),
        event_bus=context.event_bus,
        logs=context.client("logs"),
        secrets=context.secrets,
        stack=context.stack,
    )


BACKEND = BackendDescriptor(
    name="batch",
    block=BatchTrial,
    events=(EventKind(SOURCE, DETAIL_TYPE, parse_detail),),
    factory=make_backend,
    rule_pattern=RULE_PATTERN,
    on_aws=True,
)
