from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from loadbay.api.deps import CurrentPrincipal, OriginDep, ServicesDep
from loadbay.api.schemas import ErrorBody, JobOut

router = APIRouter(prefix="/api/v1", tags=["exports"])


class ExportIn(BaseModel):
    dataset: str
    # Column -> value (equality; null: the column is empty) or {"gte"|"gt"|"lte"|"lt":
    # value, "in": [values]}.
    filters: dict[str, Any] | None = None
    format: str = "csv"  # csv, jsonl, xlsx, parquet
    columns: list[str] | None = Field(default=None, min_length=1)  # default: all
    share_with: list[str] = Field(default_factory=list)  # users of the same tenant


@router.post(
    "/exports",
    status_code=202,
    response_model=JobOut,
    responses={422: {"model": ErrorBody}},
)
def start_export(
    body: ExportIn,
    response: Response,
    services: ServicesDep,
    principal: CurrentPrincipal,
    origin: OriginDep,
) -> JobOut:
    """Export a dataset's records, filtered, to a file; the job's result link serves it
    until the export expires."""
    job = services.exports.submit(
        principal,
        body.dataset,
        body.filters,
        body.format,
        body.columns,
        body.share_with,
        origin,
    )
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return JobOut.of(job)
