"""uvicorn as the API needs it under abuse: half-open requests cut, connections capped.

uvicorn times out an idle keep-alive connection but not one whose request headers never
finish: a thousand clients that open a connection and send half a request would hold a
descriptor each for ever. :class:`GuardedH11` gives every request's headers a deadline from
the moment the connection opens (or the next request's first bytes arrive), and closes a
connection over the cap at once, so the descriptors left serve the clients that speak.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from bridge.settings import Settings

ACCEPT_BACKLOG = 128  # connections waiting to be accepted, and accepted at once


class GuardedH11(H11Protocol):
    """uvicorn's HTTP/1.1 with a deadline for request headers and a cap on connections."""

    header_timeout_s = 10.0
    max_connections = 500
    cut = 0  # connections closed for being half-open or over the cap (all instances)

    _deadline: asyncio.TimerHandle | None = None
    _upgraded = False  # handed over to a WebSocket, which no header deadline may cut

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            GuardedH11.cut += 1  # counted on the base class, which /metrics reads
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._upgraded:
            return  # a WebSocket now: its own protocol has the connection
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # the headers are complete: the request runs as long as it needs
        elif self._deadline is None and not self.transport.is_closing():
            self._arm()  # the next request on a kept-alive connection has begun

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._upgraded = True
        self._disarm()
        super().handle_websocket_upgrade(event)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout_s, self._cut)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _cut(self) -> None:
        self._deadline = None
        if self.cycle is None or self.cycle.response_complete:
            GuardedH11.cut += 1
            self.transport.close()


WS_MAX_BYTES = 64 * 1024  # the largest WebSocket message a client may send


def server_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration for ``app`` under ``settings``; ``options`` add to it."""
    a = settings.api
    protocol = type(
        "GuardedH11",
        (GuardedH11,),
        {"header_timeout_s": a.header_timeout_s, "max_connections": a.max_connections},
    )
    return uvicorn.Config(
        app,
        http=protocol,
        timeout_keep_alive=int(max(1, a.keepalive_s)),
        # Connections are capped by GuardedH11; uvicorn's own limit (503 once this many
        # connections or requests are open) only stops a pile-up of running requests.
        limit_concurrency=2 * a.max_connections,
        # asyncio accepts up to ``backlog`` waiting connections in one go, before any of them
        # reaches the cap above: uvicorn's 2,048 would take more descriptors than a 1,024 limit
        # has, and a refused accept() stops all accepting for a second.
        backlog=ACCEPT_BACKLOG,
        # A frame goes to every display as it is: compressing it per client would spend the
        # CPU that serialising it once for all of them saved (tally frames are small).
        ws_per_message_deflate=False,
        # A client sends nothing but an occasional ping: a larger frame closes it (1009).
        ws_max_size=WS_MAX_BYTES,
        **options,
    )
