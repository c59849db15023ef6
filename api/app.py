"""The FastAPI application; its lifespan owns the service (broker, MQTT client, tasks)."""

from __future__ import annotations

import csv
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError

from api.auth import token_guard
from api.deps import Refusal, request_locale
from api.limits import BodyLimit, BodyLimits
from api.routers import (
    agenda,
    amendments,
    audit,
    health,
    language,
    metrics,
    people,
    results,
    rounds,
    stream,
    technician,
)
from bridge import VERSION
from bridge.desk.controller import RoundError
from bridge.event.agenda import AgendaError
from bridge.event.roster import RosterError
from bridge.service import Service
from bridge.settings import Settings

API_PREFIX = "/api/v1"

STATIC = Path(__file__).parent / "static"
# The project's own pages: plain HTML, CSS and JS modules under /static, no build step.
PAGES = {
    "/": "index.html",
    "/display": "display.html",
    "/host": "host.html",
    "/technician": "technician.html",
}
# Revalidate on every load (a 304 when unchanged): a hall display reloaded after an upgrade
# must not keep running yesterday's script from its cache.
NO_CACHE = {"Cache-Control": "no-cache"}


class PageFiles(StaticFiles):
    """The pages' scripts and styles, served with :data:`NO_CACHE`."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(NO_CACHE)
        return response


# An error's body: what is wrong in words, or (422) the fields that do not validate. Given
# inline as JSON, so that routes answering CSV or HTML document their errors as JSON too.
PROBLEM = {
    "type": "object",
    "properties": {
        "detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]}
    },
    "required": ["detail"],
}

# The errors any route may answer with, each with the same body (see docs/rest.md).
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": what, "content": {"application/json": {"schema": PROBLEM}}}
    for status, what in (
        (400, "a body that cannot be parsed"),
        (401, "the API token is needed ([api] token)"),
        (403, "results the host keeps hidden"),
        (404, "no such round, participant, theme or agenda"),
        (409, "the command does not fit the round's state"),
        (413, "a body over its [api] limit"),
        (415, "a body of the wrong media type"),
        (422, "a request that does not validate"),
        (503, "the service cannot take it now (a limit is reached)"),
    )
}


def _page(name: str) -> Callable[[], Awaitable[FileResponse]]:
    async def page() -> FileResponse:
        return FileResponse(STATIC / name, media_type="text/html", headers=NO_CACHE)

    return page


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

    # /docs and /redoc with Swagger UI and ReDoc served by the service itself (from the
    # fastapi-offline package, under /static-offline-docs), not from a CDN: they work in a
    # hall with no internet.
    app = FastAPIOffline(
        title="arsbridge",
        version=VERSION,
        summary="Audience-response bridge: rounds, tallies and receiver health",
        lifespan=lifespan,
    )
    a = settings.api
    # Inside the token guard (added after it): a body over its limit raises an HTTPException
    # from ``receive`` straight into the route, which answers 413.
    app.add_middleware(
        BodyLimits,
        limits=[
            BodyLimit(
                re.compile(rf"^{API_PREFIX}/participants$"),
                a.max_roster_bytes,
                "[api] max_roster_bytes",
            ),
            BodyLimit(
                re.compile(rf"^{API_PREFIX}/agenda"), a.max_agenda_bytes, "[api] max_agenda_bytes"
            ),
        ],
        default=BodyLimit(re.compile(""), a.max_body_bytes, "[api] max_body_bytes"),
    )
    # Added last, so outside the body limits: a request without the token is refused before
    # its body is read at all.
    if settings.api.token:
        app.middleware("http")(token_guard(settings.api.token))
    for module in (
        health,
        language,
        agenda,
        rounds,
        results,
        amendments,
        audit,
        people,
        technician,
        stream,
    ):
        app.include_router(module.router, prefix=API_PREFIX, responses=ERRORS)
    app.include_router(stream.ws_router)
    app.include_router(metrics.router)
    app.mount("/static", PageFiles(directory=STATIC), name="static")
    for path, name in PAGES.items():
        app.add_api_route(path, _page(name), methods=["GET"], include_in_schema=False)

    @app.exception_handler(RoundError)
    async def round_error(request: Request, exc: RoundError) -> JSONResponse:
        return JSONResponse({"detail": exc.text(request_locale(request))}, status_code=exc.status)

    @app.exception_handler(Refusal)
    async def refusal(request: Request, exc: Refusal) -> JSONResponse:
        return JSONResponse({"detail": exc.text(request_locale(request))}, status_code=exc.status)

    @app.exception_handler(RosterError)
    async def roster_error(request: Request, exc: RosterError) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "problems": list(exc.problems)}, status_code=exc.status
        )

    @app.exception_handler(AgendaError)
    async def agenda_error(request: Request, exc: AgendaError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(csv.Error)
    async def bad_csv(request: Request, exc: csv.Error) -> JSONResponse:
        return JSONResponse({"detail": f"the CSV cannot be read: {exc}"}, status_code=422)

    @app.exception_handler(ValidationError)
    async def invalid(request: Request, exc: ValidationError) -> JSONResponse:
        # A change that is valid alone but not in its context (a theme whose phases do not
        # fill the agenda's block, say) fails when the whole is validated.
        detail = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    return app
