from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from loadbay.api.deps import OriginDep, ServicesDep
from loadbay.api.schemas import ErrorBody
from loadbay.exports.writers import MEDIA_TYPES

router = APIRouter(tags=["downloads"])
_CHUNK = 256 * 1024


@router.get(
    "/downloads/{job_id}/{file_name}",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, 403: {"model": ErrorBody}},
)
def download(
    job_id: str,
    file_name: str,
    services: ServicesDep,
    origin: OriginDep,
    expires: str = "",
    signature: str = "",
) -> StreamingResponse:
    """A result file behind a signed link from `result-link` (no bearer token needed)."""
    found = services.jobs.download(job_id, file_name, expires, signature, origin)

    def chunks() -> Iterator[bytes]:
        with found.open as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    return StreamingResponse(
        chunks(),
        media_type=MEDIA_TYPES.get(found.file_name.rsplit(".", 1)[-1], MEDIA_TYPES["csv"]),
        headers={
            "Content-Disposition": f'attachment; filename="{found.file_name}"',
            "Content-Length": str(found.size),
            "Cache-Control": "private, no-store",
        },
    )
