"""The SageMaker backend: each trial a training job, its end a "Training Job State Change" event.

``block`` (the spec's ``trial: {backend: sagemaker}``), ``adapter`` (``SageMakerBackend``:
CreateTrainingJob, Describe, Stop, and the job's name), ``events`` (the state-change event,
its status mapping and rule pattern); ``BACKEND`` declares them to the registry.
"""

from __future__ import annotations

from hyperstep.backends.descriptor import BackendContext, BackendDescriptor, EventKind
from hyperstep.backends.sagemaker.adapter import SageMakerBackend
from hyperstep.backends.sagemaker.block import SageMakerTrial
from hyperstep.backends.sagemaker.events import DETAIL_TYPE, RULE_PATTERN, SOURCE, parse_detail


def make_backend(context: BackendContext) -> SageMakerBackend:
    """Training jobs through a ``sagemaker`` client (their logs through a ``logs`` client);
    scripts report to ``context.event_bus``; secret references resolved by ``context.secrets``."""
    if context.client is None:
        raise ValueError("the sagemaker backend needs a client factory")
    return SageMakerBackend(
        context.client("sagemaker"),
        event_bus=context.event_bus,
        logs=context.client("logs"),
        secrets=context.secrets,
        stack=context.stack,
    )


BACKEND = BackendDescriptor(
    name="sagemaker",
    block=SageMakerTrial,
    events=(EventKind(SOURCE, DETAIL_TYPE, parse_detail),),
    factory=make_backend,
    rule_pattern=RULE_PATTERN,
    on_aws=True,
)
