from __future__ import annotations

from fastapi import APIRouter, Request, Response

from loadbay.api.deps import CurrentPrincipal, OriginDep, ServicesDep
from loadbay.api.schemas import ErrorBody, JobOut
from loadbay.api.upload_form import receive_upload_form
from loadbay.domain.errors import PayloadTooLarge

router = APIRouter(prefix="/api/v1", tags=["imports"])

# Room for the multipart boundaries and the small fields around the file.
_FORM_OVERHEAD = 64 * 1024


@router.post(
    "/imports",
    status_code=202,
    response_model=JobOut,
    responses={413: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "dataset"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "dataset": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def start_import(
    request: Request,
    response: Response,
    services: ServicesDep,
    principal: CurrentPrincipal,
    origin: OriginDep,
) -> JobOut:
    """Upload a file (multipart fields `file` and `dataset`) and start importing it."""
    imports = services.imports
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > imports.max_upload_bytes + _FORM_OVERHEAD:
        raise PayloadTooLarge(
            f"The file is larger than the maximum of {imports.max_upload_bytes} bytes"
        )
    upload = imports.new_upload()
    form = await receive_upload_form(
        request.headers.get("content-type", ""), request.stream(), upload
    )
    job = imports.submit(principal, upload, form.fields.get("dataset"), form.file_name, origin)
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return JobOut.of(job)
