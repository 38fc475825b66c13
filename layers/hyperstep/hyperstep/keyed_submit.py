"""A keyed submit: ``POST /jobs`` with an ``Idempotency-Key`` makes one job however often it is tried.

The API's idempotency records (Powertools) answer a repeat from the first answer, but a try
that raised drops its record: a start that failed (the job stored, failed) or a try cut
short is tried again. That retry finds the job by its id (``keyed_job_id``: the same in
every try) and carries it on (``recurring.carry_on``, as a schedule tick's retry does)
instead of making a second one.
"""

from __future__ import annotations

import hashlib

from hyperstep.errors import JobExistsError, KeyReusedError
from hyperstep.models import Job
from hyperstep.recurring import carry_on
from hyperstep.service import TuningService
from hyperstep.spec import JobSpec


def keyed_job_id(name: str, owner: str | None, key: str) -> str:
    """The id of the job a submit with key ``key`` makes, the same in every try of it
    (``owner`` hashed in: another caller's same key makes another job)."""
    digest = hashlib.sha256(f"{owner}\n{key}".encode()).hexdigest()
    return f"{name[:24]}-key-{digest[:16]}"


def submit_keyed(service: TuningService, spec: JobSpec, owner: str | None, key: str) -> Job:
    """The job of a keyed submit, made once however often it is tried: a job of its id is an
    earlier try's, carried on (started under the key's execution name if it never was);
    ``KeyReusedError`` if that job was made from another spec (past the API's 24 h records
    the job still answers for its key)."""
    job_id = keyed_job_id(spec.name, owner, key)
    try:
        return service.submit(spec, job_id=job_id, owner=owner, seed=key)
    except JobExistsError:
        job = service.store.get_job(job_id)
    if job.spec != spec:
        raise KeyReusedError(f"key {key!r} was used with another spec")
    return carry_on(service, job, owner, seed=key)[0]
