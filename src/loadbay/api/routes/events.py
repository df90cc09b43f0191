"""``POST /api/v1/events/s3``: S3 event notifications (a MinIO or Ceph webhook target, or
a relay in front of S3) start imports, each event once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from loadbay.api.deps import CurrentPrincipal, ServicesDep
from loadbay.api.schemas import ErrorBody
from loadbay.domain.errors import Forbidden
from loadbay.services.bucket_events import BucketEventService, RecordResult

router = APIRouter(prefix="/api/v1", tags=["events"])


def get_bucket_events(services: ServicesDep) -> BucketEventService:
    return services.bucket_events


BucketEventsDep = Annotated[BucketEventService, Depends(get_bucket_events)]


class RecordOut(BaseModel):
    outcome: str
    bucket: str
    key: str
    job_id: str | None
    reason: str | None

    @classmethod
    def of(cls, result: RecordResult) -> RecordOut:
        return cls(
            outcome=result.outcome.value,
            bucket=result.bucket,
            key=result.key,
            job_id=result.job_id,
            reason=result.reason,
        )


class EventsOut(BaseModel):
    records: list[RecordOut]


@router.post(
    "/events/s3",
    response_model=EventsOut,
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def receive_s3_event(
    request: Request,
    principal: CurrentPrincipal,
    events: BucketEventsDep,
) -> EventsOut:
    """Admins only: start imports from an S3 event notification; one outcome per record."""
    if not principal.is_admin:
        raise Forbidden("Only admins may post bucket events", code="forbidden")
    # The raw body: MinIO, Ceph and SNS relays differ in Content-Type, not in the JSON.
    body = await request.body()
    results = await run_in_threadpool(events.handle, body)
    return EventsOut(records=[RecordOut.of(r) for r in results])
