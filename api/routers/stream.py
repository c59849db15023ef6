"""Live state for browsers: Server-Sent Events and a WebSocket mirroring the MQTT topics a
display, host console or technician board needs (never the vote batches)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import AsyncIterable
from typing import Annotated

from fastapi import (
    APIRouter,
    Depends,
    HTTPException,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.datastructures import Headers, QueryParams

from api.deps import ServiceDep
from bridge.mqtt.mirror import MirrorClient
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


def _technician(service: Service, headers: Headers, query: QueryParams) -> bool:
    """Whether the client carries the API token: only then does it get handset tables."""
    token = service.settings.api.token
    if not token:
        return False  # without a token configured, handset IDs stay off the open channels
    given = headers.get("authorization", "").removeprefix("Bearer ").strip()
    given = given or query.get("token", "")
    return hmac.compare_digest(given.encode(), token.encode())


def _room(service: ServiceDep) -> None:
    """Refuse a stream over ``[api] max_stream_clients`` (before the response starts)."""
    cap = service.settings.api.max_stream_clients
    if service.mirror.clients >= cap:
        raise HTTPException(
            503,
            f"{cap} live streams are open, the most allowed ([api] max_stream_clients)",
            headers={"Retry-After": "5"},
        )


def _join(
    service: Service, headers: Headers, query: QueryParams, topic: list[str] | None
) -> MirrorClient:
    client = service.mirror.join(topic or (), technician=_technician(service, headers, query))
    task = asyncio.current_task()
    if task is not None:
        client.on_drop = task.cancel  # a client that stopped reading is let go
    return client


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={503: {"description": "over [api] max_stream_clients"}},
    dependencies=[Depends(_room)],
)
async def stream(
    request: Request, service: ServiceDep, topic: Prefixes = None
) -> AsyncIterable[ServerSentEvent]:
    """The latest message of every mirrored topic, then each change, as SSE events named by
    kind (``tally``, ``state``, ``results``, ``current``, ``agenda``, ``availability``...);
    ``data`` is ``{"topic", "kind", "payload", "t"}`` (payload null: the topic was cleared;
    ``t``: the server's clock). A ``heartbeat`` event comes when nothing else has for 15 s.
    Handset tables (``handsets``) come only with the API token."""
    client = _join(service, request.headers, request.query_params, topic)
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
            for item in changes:
                yield ServerSentEvent(raw_data=item.data, event=item.kind)
    finally:
        service.mirror.leave(client)


@ws_router.websocket("/ws")
async def websocket(ws: WebSocket, topic: Prefixes = None) -> None:
    """The same messages as ``/api/v1/stream``, one JSON text frame each."""
    service: Service = ws.app.state.service
    try:
        _room(service)
    except HTTPException as exc:
        await ws.close(code=1013, reason=str(exc.detail))  # 1013: try again later
        return
    client = _join(service, ws.headers, ws.query_params, topic)
    await ws.accept()
    sender = asyncio.create_task(_send(ws, client), name="ws-send")
    client.on_drop = sender.cancel
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
    try:
        while True:
            for item in await client.next():
                await ws.send_text(item.data)
    except asyncio.CancelledError:
        # Dropped for not reading: close the socket rather than keep it.
        with contextlib.suppress(Exception):
            await ws.close(code=1008, reason="not reading")
        raise
