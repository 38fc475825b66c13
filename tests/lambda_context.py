"""The Lambda context object, for calling a handler in-process as the Lambda runtime would.

One stand-in for every in-process caller (the API tests, the moto harness, the API fuzz);
``tests/integration/lambda_bootstrap.py`` keeps its own, being the runtime itself in a
fresh interpreter that imports nothing of the tests.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass
class LambdaContext:
    """What Powertools reads of a Lambda context (``aws_lambda_powertools.utilities.typing``)."""

    function_name: str = "hyperstep-api"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:hyperstep-api"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/hyperstep"
    log_stream_name: str = "in-process"
    remaining_millis: int = 29_000
    """What ``get_remaining_time_in_millis`` says (Powertools' idempotency bounds in-progress records by it)."""

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis
