"""Live state for browsers: Server-Sent Events and a WebSocket mirroring the MQTT topics a
display, host console or technician board needs (never the vote batches)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from fastapi.sse import EventSourceResponse, ServerSentEvent

from api.deps import ServiceDep
from bridge.mirror import MirrorClient, kind_of
from bridge.service import Service

router = APIRouter(tags=["stream"])
ws_router = APIRouter(tags=["stream"])

Prefixes = Annotated[
    list[str] | None,
    Query(
        alias="topic",
        description="only topics starting with this (repeatable), e.g. "
        "round/ or rx/; default: everything mirrored",
    ),
]


HEARTBEAT_S = 15.0  # a quiet stream still says it is alive this often


def _message(topic: str, payload: Any) -> dict[str, Any]:
    """One mirrored message; ``t`` is the server's clock, for displays counting down."""
    return {"topic": topic, "kind": kind_of(topic), "payload": payload, "t": round(time.time(), 3)}


@router.get("/stream", response_class=EventSourceResponse)
async def stream(service: ServiceDep, topic: Prefixes = None) -> AsyncIterable[ServerSentEvent]:
    """The latest message of every mirrored topic, then each change, as SSE events named by
    kind (``tally``, ``state``, ``results``, ``current``, ``agenda``, ``availability``...);
    ``data`` is ``{"topic", "kind", "payload", "t"}`` (payload null: the topic was cleared;
    ``t``: the server's clock). A ``heartbeat`` event comes when nothing else has for 15 s."""
    client = service.mirror.join(topic or ())
    try:
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT_S):
                    changes = await client.next()
            except TimeoutError:
                # Unlike SSE comments, a named event is visible to scripts: a page can tell
                # a quiet stream from a dead one.
                yield ServerSentEvent(data={"t": round(time.time(), 3)}, event="heartbeat")
                continue
            for name, payload in changes:
                yield ServerSentEvent(data=_message(name, payload), event=kind_of(name))
    finally:
        service.mirror.leave(client)


@ws_router.websocket("/ws")
async def websocket(ws: WebSocket, topic: Prefixes = None) -> None:
    """The same messages as ``/api/v1/stream``, one JSON text frame each."""
    service: Service = ws.app.state.service
    await ws.accept()
    client = service.mirror.join(topic or ())
    sender = asyncio.create_task(_send(ws, client), name="ws-send")
    try:
        while True:  # the client may send anything (a ping); a close ends the session
            await ws.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await sender
        service.mirror.leave(client)


async def _send(ws: WebSocket, client: MirrorClient) -> None:
    while True:
        for name, payload in await client.next():
            await ws.send_json(_message(name, payload))
