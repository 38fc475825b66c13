"""A job listing a page at a time: ``GET /jobs``' ``next_token``, and every job of a store.

A token says where a page stopped (the last job's ``stores.base.JobPlace``) and whose listing
it was (the caller's scope: a digest of its owner, or every job for an admin), as base64url
JSON: opaque to callers (like the ``NextToken`` of AWS's list APIs), not a secret. The next
page is still a query on the caller's own jobs, whatever the token says, so no token shows
anyone another's jobs; one minted for another scope, or not minted here, is refused
(``PageTokenError``) rather than taken as a place in the caller's list.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator

from hyperstep.errors import HyperstepError
from hyperstep.models import Job
from hyperstep.owners import owner_tag
from hyperstep.stores.base import JobPlace, TrialStore, place

EVERY_OWNER = "*"
"""The scope of an admin's listing (every job); an owner's is its ``owner_tag``."""
MAX_TOKEN_CHARS = 1024
"""Longer than any token minted here (a job id is at most 256 characters)."""
PAGE = 1000
"""Jobs ``every_job`` reads at a time."""


class PageTokenError(HyperstepError):
    """A ``next_token`` this listing did not give: malformed, or another caller's."""


def page_token(last: Job, owner: str | None) -> str:
    """The token of the page after ``last`` in ``owner``'s listing (None: every job's)."""
    created_at, job_id = place(last)
    text = json.dumps([created_at, job_id, _scope(owner)], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def token_place(token: str, owner: str | None) -> JobPlace:
    """Where the page ``token`` asks for starts in ``owner``'s listing; ``PageTokenError``
    for a token not minted by ``page_token`` for that same listing."""
    try:
        if len(token) > MAX_TOKEN_CHARS:
            raise ValueError("too long")
        created_at, job_id, scope = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        valid = isinstance(created_at, int | float) and math.isfinite(created_at)
        valid = valid and isinstance(job_id, str) and isinstance(scope, str)
    except (ValueError, TypeError, binascii.Error):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        valid = False
    if not valid:
        raise PageTokenError("not a token a GET /jobs answer gave: pass next_token back as it came")
    if scope != _scope(owner):
        raise PageTokenError("a token from another caller's listing: each caller pages through its own")
    return float(created_at), job_id


def _scope(owner: str | None) -> str:
    return EVERY_OWNER if owner is None else owner_tag(owner)


def every_job(store: TrialStore, owner: str | None = None, page: int = PAGE) -> Iterator[Job]:
    """Every job of ``store`` (of ``owner``, when given), newest first, ``page`` at a time."""
    after: JobPlace | None = None
    while True:
        jobs = store.list_jobs(limit=page, owner=owner, after=after)
        yield from jobs
        if len(jobs) < page:
            return
        after = place(jobs[-1])
