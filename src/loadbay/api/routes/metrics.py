from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from loadbay.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics (text exposition format), no auth."""
    body, content_type = services.metrics.exposition()
    return Response(body, media_type=content_type)
