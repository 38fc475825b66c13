"""Who owns a job or a schedule: the IAM principal that signed the API request.

API Gateway (``AWS_IAM`` authorization) puts the signer in ``requestContext.identity``;
its ``userArn`` is the principal's ARN:

- an IAM user: ``arn:aws:iam::111122223333:user/alice`` (with its path, if any:
  ``user/team/alice``); the account root: ``arn:aws:iam::111122223333:root``;
- a role session (``sts:AssumeRole``, SSO, a Lambda, a CI pipeline):
  ``arn:aws:sts::111122223333:assumed-role/ROLE/SESSION``.

An assumed-role session counts as its **role**: ``owner_of`` turns the session ARN into
``arn:aws:iam::111122223333:role/ROLE``, so every session of a pipeline's role (each run
has its own session name) shares the role's jobs and schedules. The STS ARN carries no
role path, so a role ``/team/ROLE`` owns as ``role/ROLE``; ``AdminPrincipals`` entries are
normalized the same way (a role ARN with a path matches its sessions). Any other ARN (a
federated user, ...) owns as itself. A request without a ``userArn`` has no owner and is
refused by the API.

Jobs created locally (CLI, ``Study``) have no owner (None); ownership only concerns the API.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_SESSION = re.compile(r"^arn:(?P<partition>aws[a-z-]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/[^/]+$")
_ROLE = re.compile(r"^arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):role/(?:[^/]+/)*(?P<role>[^/]+)$")
MAX_OWNER_LENGTH = 2048
"""An STS ARN is at most 2,048 characters (``AssumedRoleUser.Arn``); anything longer is no ARN."""


def owner_of(identity: Mapping[str, Any] | None) -> str | None:
    """The owner a request's ``requestContext.identity`` names (see the module), or None
    when it names none (no identity, no ``userArn``, or not an ARN)."""
    arn = (identity or {}).get("userArn")
    if not isinstance(arn, str) or not arn.startswith("arn:") or len(arn) > MAX_OWNER_LENGTH:
        return None
    return normalized(arn)


def normalized(arn: str) -> str:
    """A principal ARN as an owner: a role session or a role (any path) as ``role/NAME``."""
    arn = arn.strip()
    match = _SESSION.match(arn) or _ROLE.match(arn)
    if match is None:
        return arn
    return f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"


def admin_set(arns: Iterable[str]) -> frozenset[str]:
    """The owners named by ``AdminPrincipals`` (comma-separated ARNs, blanks ignored)."""
    return frozenset(normalized(arn) for arn in arns if arn.strip())


def parse_admins(text: str | None) -> frozenset[str]:
    """``AdminPrincipals`` as the deployment passes it (``HYPERSTEP_ADMIN_PRINCIPALS``)."""
    return admin_set((text or "").split(","))


def owner_tag(owner: str) -> str:
    """A short stable digest of an owner (16 hex digits), for names that must be per owner
    (a schedule's name in its group) and may not hold the ARN itself."""
    return hashlib.sha256(owner.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Caller:
    """The principal of one API request and whether it is an admin (sees all jobs)."""

    owner: str
    admin: bool = False

    def sees(self, owner: str | None) -> bool:
        """Whether this caller may see (read, stop) what ``owner`` owns."""
        return self.admin or owner == self.owner
