"""The FastAPI application; its lifespan owns the service (broker, MQTT client, tasks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.routers import health, rounds
from bridge.controller import RoundError
from bridge.service import VERSION, Service
from bridge.settings import Settings

API_PREFIX = "/api/v1"


def create_app(settings: Settings, *, service: Service | None = None) -> FastAPI:
    """The API for ``settings``; its lifespan starts the service and stops it.

    ``service`` serves one built (and perhaps already started, so that startup errors are
    reported before the HTTP server binds) by the caller; the lifespan still stops it.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = service if service is not None else Service(settings)
        async with svc:
            app.state.service = svc
            yield

    app = FastAPI(
        title="arsbridge",
        version=VERSION,
        summary="Audience-response bridge: rounds, tallies and receiver health",
        lifespan=lifespan,
    )
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(rounds.router, prefix=API_PREFIX)

    @app.exception_handler(RoundError)
    async def round_error(request: Request, exc: RoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    return app
