from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from loadbay.api.deps import ServicesDep
from loadbay.api.schemas import Health

router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    status: str  # "ok" or "unavailable"
    checks: dict[str, str]  # "database", "broker", "stores.<name>": "ok" or "unavailable: …"


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(services: ServicesDep) -> JSONResponse:
    """Readiness: the service database, the broker and every store answer (within ~2 s)."""
    report = services.readiness.check()
    status = "ok" if report.ready else "unavailable"
    return JSONResponse(
        {"status": status, "checks": report.checks}, status_code=200 if report.ready else 503
    )
