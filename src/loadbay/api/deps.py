"""Dependencies the routes declare: the services and the calling principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from loadbay.bootstrap import Services
from loadbay.domain.audit import Origin
from loadbay.domain.errors import Unauthorized
from loadbay.domain.principals import Principal

_bearer = HTTPBearer(auto_error=False, description="A token from the service's configuration")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Send 'Authorization: Bearer <token>'", code="unauthorized")
    principal = services.tokens.principal(credentials.credentials)
    if principal is None:
        raise Unauthorized("The bearer token is not valid", code="unauthorized")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_origin(request: Request) -> Origin:
    """Where the request came from, for the audit log."""
    return Origin(
        client=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


OriginDep = Annotated[Origin, Depends(get_origin)]
