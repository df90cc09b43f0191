from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from loadbay.api.deps import CurrentPrincipal, OriginDep, ServicesDep
from loadbay.api.schemas import ErrorBody, JobOut, JobPage, ResultLinkOut
from loadbay.db.jobs import JobFilter
from loadbay.domain.jobs import JobKind, JobStatus

router = APIRouter(prefix="/api/v1", tags=["jobs"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}


@router.get("/jobs", response_model=JobPage)
def list_jobs(
    services: ServicesDep,
    principal: CurrentPrincipal,
    origin: OriginDep,
    kind: JobKind | None = None,
    status: JobStatus | None = None,
    dataset: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> JobPage:
    """The jobs you may see, newest first; follow `next_cursor` for the next page."""
    filters = JobFilter(kind, status, dataset, created_after, created_before)
    jobs, next_cursor = services.jobs.list(principal, filters, limit, cursor, origin)
    return JobPage(items=[JobOut.of(j) for j in jobs], next_cursor=next_cursor)


@router.get("/jobs/{job_id}", response_model=JobOut, responses=_NOT_FOUND)
def get_job(
    job_id: str, services: ServicesDep, principal: CurrentPrincipal, origin: OriginDep
) -> JobOut:
    """One job: status, progress, counts, scan verdict and error."""
    return JobOut.of(services.jobs.get(principal, job_id, origin))


@router.get(
    "/jobs/{job_id}/result-link",
    response_model=ResultLinkOut,
    responses={**_NOT_FOUND, 409: {"model": ErrorBody}},
)
def result_link(
    job_id: str,
    services: ServicesDep,
    principal: CurrentPrincipal,
    origin: OriginDep,
    expires_in: Annotated[int | None, Query(ge=1)] = None,
) -> ResultLinkOut:
    """A signed, expiring download link for a completed job's result file."""
    link = services.jobs.result_link(principal, job_id, expires_in, origin)
    return ResultLinkOut(url=link.url, expires_at=link.expires_at, file_name=link.file_name)


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=JobOut,
    responses={**_NOT_FOUND, 409: {"model": ErrorBody}},
)
def cancel_job(
    job_id: str, services: ServicesDep, principal: CurrentPrincipal, origin: OriginDep
) -> JobOut:
    """Cancel a job that has not ended; a running import stops after its current batch."""
    return JobOut.of(services.jobs.cancel(principal, job_id, origin))
