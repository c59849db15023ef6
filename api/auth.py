"""The API token (``[api] token``): when set, changes and personal data need it.

Reading the state of rounds (the display, the stream, tallies, results, the agenda, health)
stays open, so a display in the hall needs no secret. Everything that changes something, and
what names people or their handsets (participants, pairing, handsets, the audit trail,
per-press CSV), needs
``Authorization: Bearer <token>`` or ``?token=<token>`` (for links a browser follows itself).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import JSONResponse, Response

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PERSONAL = re.compile(
    r"^/api/v1/(participants|pairing|handsets|rollcall|audit|votes\.csv|rounds/[^/]+/votes\.csv)"
)


def needs_token(method: str, path: str) -> bool:
    """Whether a request changes something or reads personal data."""
    return method not in READ_METHODS or PERSONAL.match(path) is not None


def token_guard(
    token: str,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """Middleware refusing, with 401, the requests that need ``token`` and lack it."""
    expected = token.encode()

    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if needs_token(request.method, request.url.path):
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            given = given or request.query_params.get("token", "")
            if not hmac.compare_digest(given.encode(), expected):
                return JSONResponse(
                    {
                        "detail": "this needs the API token: send 'Authorization: Bearer <token>' "
                        "or ?token= (the token is [api] token, ARS_API_TOKEN)"
                    },
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await call_next(request)

    return guard
