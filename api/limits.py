"""Request bodies read as they arrive and cut at a limit per path: 413 naming the setting.

A body is never held whole before its size is known: a ``Content-Length`` over the limit is
refused before any of it is kept, and a body sent without one (chunked) is counted as it
comes and refused at the first byte over. Before the 413 goes out, up to
:data:`DRAIN_BYTES` of the body still in flight are read and thrown away: a connection
closed on unread data is reset by the kernel, and the client would see the reset instead of
the answer. A body larger still is refused at once and its connection closed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DRAIN_BYTES = 1 << 20  # read and discarded so that a client sending too much gets its 413


@dataclass(frozen=True, slots=True)
class BodyLimit:
    """Bodies of requests to paths matching ``path`` may have at most ``size`` bytes."""

    path: re.Pattern[str]
    size: int
    setting: str


class _TooLarge(HTTPException):
    """Raised from ``receive``: FastAPI lets an HTTPException through its body parsing."""

    def __init__(self, limit: BodyLimit) -> None:
        super().__init__(413, _detail(limit))


def _detail(limit: BodyLimit) -> str:
    return f"the request body is over {limit.size} bytes ({limit.setting})"


class BodyLimits:
    """ASGI middleware: the first of ``limits`` whose path matches applies, else ``default``."""

    refused = 0  # bodies refused as too large, in this process (for /metrics)

    def __init__(self, app: ASGIApp, limits: Sequence[BodyLimit], default: BodyLimit) -> None:
        self.app = app
        self.limits = limits
        self.default = default

    def _limit(self, path: str) -> BodyLimit:
        return next((lim for lim in self.limits if lim.path.match(path)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit.size):
            # A client waiting for "100 Continue" has sent nothing yet: nothing to drain.
            if declared.isdigit() and int(declared) <= DRAIN_BYTES and b"expect" not in headers:
                await _drain(receive, DRAIN_BYTES)
            await self._refuse(send, limit)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.size:
                    BodyLimits.refused += 1
                    raise _TooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _drain(receive, DRAIN_BYTES)
                await self._send_413(send, limit)

    async def _refuse(self, send: Send, limit: BodyLimit) -> None:
        BodyLimits.refused += 1
        await self._send_413(send, limit)

    @staticmethod
    async def _send_413(send: Send, limit: BodyLimit) -> None:
        body = json.dumps({"detail": _detail(limit)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _drain(receive: Receive, budget: int) -> None:
    """Read and discard what is left of the request body, ``budget`` bytes at most."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return
