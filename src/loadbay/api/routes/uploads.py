from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from loadbay.api.deps import CurrentPrincipal, OriginDep, ServicesDep
from loadbay.api.schemas import ErrorBody, JobOut, Timestamp

router = APIRouter(prefix="/api/v1", tags=["uploads"])


class UploadRequest(BaseModel):
    dataset: str
    file_name: str = Field(min_length=1, max_length=1000)
    size: int = Field(ge=0)


class UploadOut(BaseModel):
    id: str
    upload_url: str
    method: str
    headers: dict[str, str]
    expires_at: Timestamp


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadOut,
    responses={413: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def announce_upload(
    body: UploadRequest, services: ServicesDep, principal: CurrentPrincipal
) -> UploadOut:
    """Announce a direct-to-bucket upload: where to PUT the file, with which headers."""
    announced = services.uploads.announce(principal, body.dataset, body.file_name, body.size)
    return UploadOut(
        id=announced.id,
        upload_url=announced.target.url,
        method=announced.target.method,
        headers=announced.target.headers,
        expires_at=announced.expires_at,
    )


@router.post(
    "/uploads/{upload_id}/complete",
    status_code=202,
    response_model=JobOut,
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 410: {"model": ErrorBody}},
)
def complete_upload(
    upload_id: str,
    response: Response,
    services: ServicesDep,
    principal: CurrentPrincipal,
    origin: OriginDep,
) -> JobOut:
    """The file is uploaded: check it and start importing it (repeating this is harmless)."""
    job = services.uploads.complete(principal, upload_id, origin)
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return JobOut.of(job)
