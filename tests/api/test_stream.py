"""Live state for browsers over a real HTTP server: SSE, WebSocket, Prometheus metrics."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import service_settings
from tests.e2e.harness import serving


async def sse_events(http: httpx.AsyncClient, url: str, want: int) -> list[dict[str, Any]]:
    """The first ``want`` SSE events (name and parsed data) of a stream."""
    events: list[dict[str, Any]] = []
    name = ""
    async with http.stream("GET", url) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append({"event": name, **json.loads(line.split(":", 1)[1])})
                if len(events) >= want:
                    return events
    return events


async def test_sse_replays_the_state_then_follows_changes(tmp_path: Path) -> None:
    async with (
        serving(service_settings(tmp_path)) as (url, service),
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        await http.post("/api/v1/rounds/q1/open", json={"title": "First"})
        await asyncio.sleep(0.3)  # the state goes round the broker into the mirror
        first = await sse_events(http, "/api/v1/stream?topic=round/", 3)
        assert {e["topic"] for e in first} == {"round/q1/state", "round/current", "round/q1/tally"}
        assert next(e for e in first if e["event"] == "current")["payload"] == {"round": "q1"}
        following = asyncio.create_task(sse_events(http, "/api/v1/stream?topic=round/q1/state", 2))
        await asyncio.sleep(0.3)
        await http.post("/api/v1/rounds/q1/close")
        states = await asyncio.wait_for(following, 10)
    assert [e["event"] for e in states] == ["state", "state"]
    assert states[0]["payload"]["status"] == "open"
    assert states[-1]["payload"]["status"] == "closed"
    assert service.mirror.clients == 0  # disconnected clients are let go


async def test_websocket_mirrors_tallies_and_never_votes(tmp_path: Path) -> None:
    async with (
        serving(service_settings(tmp_path)) as (url, _),
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        ws_url = url.replace("http://", "ws://") + "/ws"
        async with websockets.connect(ws_url) as ws:
            await http.post("/api/v1/rounds/q1/open", json={"title": "First"})
            seen: list[dict[str, Any]] = []
            async with asyncio.timeout(10):
                while not any(m["kind"] == "tally" for m in seen):
                    seen.append(json.loads(await ws.recv()))
            await ws.send("ping")  # clients may talk; the server just keeps going
    assert all("/votes" not in m["topic"] for m in seen)
    tally = next(m for m in seen if m["kind"] == "tally")
    assert tally["topic"] == "round/q1/tally"
    assert tally["payload"]["round"] == "q1"


async def test_metrics_for_prometheus(tmp_path: Path) -> None:
    async with (
        serving(service_settings(tmp_path)) as (url, _),
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        r = await http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "arsbridge_mqtt_connected 1.0" in r.text
    assert "arsbridge_journal_commits_total" in r.text


async def test_a_quiet_stream_sends_heartbeats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.routers import stream

    monkeypatch.setattr(stream, "HEARTBEAT_S", 0.2)
    async with (
        serving(service_settings(tmp_path)) as (url, _),
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        events = await sse_events(http, "/api/v1/stream?topic=nothing/", 2)
    assert [e["event"] for e in events] == ["heartbeat", "heartbeat"]
    assert events[1]["t"] >= events[0]["t"]


async def test_websocket_frames_go_uncompressed_and_a_client_may_not_send_much(
    tmp_path: Path,
) -> None:
    from api.server import WS_MAX_BYTES

    async with serving(service_settings(tmp_path)) as (url, service):
        ws_url = url.replace("http://", "ws://") + "/ws"
        async with websockets.connect(ws_url) as ws:  # it offers permessage-deflate
            assert ws.protocol.extensions == []  # one frame for every display, not one each
            await ws.send("ping")
            await ws.send("x" * (WS_MAX_BYTES + 1))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(_read_until_closed(ws), 10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009  # message too big
        async with asyncio.timeout(10):
            while service.mirror.clients:  # noqa: ASYNC110 - the service's own count
                await asyncio.sleep(0.01)


async def _read_until_closed(ws: Any) -> None:
    while True:
        await ws.recv()


async def test_a_websocket_outlives_the_deadline_for_request_headers(tmp_path: Path) -> None:
    """The header deadline guards a connection until its request has begun; a WebSocket
    that follows the tally for hours must not be cut when it runs out."""
    settings = service_settings(tmp_path, api={"header_timeout_s": 0.2})
    async with (
        serving(settings) as (url, service),
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        ws_url = url.replace("http://", "ws://") + "/ws?topic=round/"
        async with websockets.connect(ws_url, ping_interval=None) as ws:
            await asyncio.sleep(1.0)  # five header deadlines on the server's own clock
            await asyncio.wait_for(await ws.ping(), 5)
            await http.post("/api/v1/rounds/q1/open", json={"title": "Later"})
            async with asyncio.timeout(10):
                while json.loads(await ws.recv())["kind"] != "state":
                    pass
        assert service.mirror.dropped == 0
