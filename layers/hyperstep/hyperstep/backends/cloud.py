"""What the AWS backends (SageMaker, Batch) are built from, shared by both adapters."""

from __future__ import annotations

from typing import Any

from hyperstep.backends.base import TrialBackend
from hyperstep.secrets import NoSecrets, SecretResolver

NO_SECRETS = NoSecrets()


class CloudBackend(TrialBackend):
    """A backend that launches cloud jobs through a boto3 client of its service."""

    def __init__(
        self,
        client: Any,
        event_bus: str | None = None,
        logs: Any = None,
        secrets: SecretResolver = NO_SECRETS,
        stack: str | None = None,
    ) -> None:
        self.client = client
        self.region = getattr(getattr(client, "meta", None), "region_name", None)
        self.event_bus = event_bus
        """Set in the container as ``HYPERSTEP_EVENT_BUS`` so ``hyperstep.reporting.report`` can publish."""
        self.secrets = secrets
        """Resolves the environment's secret references at launch."""
        self.logs = logs
        """A boto3 ``logs`` client for the jobs' logs (None: no log is read)."""
        self.stack = stack
        """Tagged on each cloud job (``naming.TAG_STACK``), which the deployment's grants require."""
