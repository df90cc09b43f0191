"""The FastAPI application, built around already-wired :class:`Services`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from loadbay import __version__
from loadbay.api.errors import install_error_handlers
from loadbay.api.routes import (
    audit,
    datasets,
    downloads,
    events,
    exports,
    health,
    imports,
    jobs,
    metrics,
    uploads,
)
from loadbay.bootstrap import Services


def create_app(services: Services) -> FastAPI:
    """The app; its lifespan starts the workers (and resumes unfinished jobs) and stops them."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.start()
        try:
            yield
        finally:
            services.stop()

    app = FastAPI(
        title="loadbay",
        version=__version__,
        summary="Bulk data into and out of a platform, safely and in the background.",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    for module in (
        imports,
        exports,
        uploads,
        jobs,
        datasets,
        downloads,
        audit,
        events,
        health,
        metrics,
    ):
        app.include_router(module.router)
    return app
