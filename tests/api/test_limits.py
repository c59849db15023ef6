"""The API under abuse, over a real uvicorn on loopback: bodies cut at their limits with 413,
half-open requests cut, connections and live streams capped, handset IDs off open streams."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from api.limits import BodyLimits
from tests.conftest import service_settings
from tests.e2e.harness import serving

WAIT_S = 10.0
TOKEN = "technician-token"


def _settings(tmp_path: Path) -> object:
    return service_settings(
        tmp_path,
        api={
            "token": TOKEN,
            "max_body_bytes": 4096,
            "max_roster_bytes": 20_000,
            "max_agenda_bytes": 8192,
            "max_themes": 3,
            "header_timeout_s": 0.5,
            "max_connections": 40,
            "max_stream_clients": 3,
        },
    )


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_bodies_over_their_limit_get_413_naming_the_setting(tmp_path: Path) -> None:
    async with (
        serving(_settings(tmp_path)) as (url, service),  # type: ignore[arg-type]
        httpx.AsyncClient(base_url=url, timeout=WAIT_S, headers=AUTH) as http,
    ):
        csv_head = "id,name,segment,table,seat,organisation,handset\n"
        big = csv_head + "".join(f"p{i},Name {i},business,T1,1,Org,\n" for i in range(2000))
        r = await http.put(
            "/api/v1/participants", content=big, headers={"content-type": "text/csv"}
        )
        assert r.status_code == 413
        assert "[api] max_roster_bytes" in r.json()["detail"]

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            yield csv_head.encode()
            for i in range(5000):
                yield f"p{i},Name {i},business,T1,1,Org,\n".encode()

        refused = BodyLimits.refused
        r = await http.put(
            "/api/v1/participants", content=chunks(), headers={"content-type": "text/csv"}
        )
        assert r.status_code == 413  # the rest of the body was read and dropped: no reset
        assert "[api] max_roster_bytes" in r.json()["detail"]
        assert BodyLimits.refused == refused + 1

        # A declared length over the limit: refused before any of it is kept, and the client,
        # still sending, gets the answer rather than a reset connection, every time.
        amendment = {"reason": "x" * 20_000, "changes": {}}
        for _ in range(20):
            r = await http.post("/api/v1/rounds/vote/amendments", json=amendment)
            assert r.status_code == 413
            assert "[api] max_body_bytes" in r.json()["detail"]

        field = csv_head + 'p1,"' + "x" * 15000 + '",business,T1,1,Org,\n'
        r = await http.put(
            "/api/v1/participants", content=field, headers={"content-type": "text/csv"}
        )
        assert r.status_code == 422  # a name over its length, said so
        assert "name" in r.text

        theme = {"id": "t", "title": "T", "question": {"kind": "single", "options": ["A", "B"]}}
        themes = [{**theme, "id": f"t{i}"} for i in range(4)]
        agenda = {"title": "Summit", "themes": themes}
        r = await http.put("/api/v1/agenda", json=agenda)
        assert r.status_code in (413, 422), r.text
        if r.status_code == 413:
            assert "[api] max_themes" in r.json()["detail"]
        r = await http.put("/api/v1/agenda", json={"title": "x" * 9000, "themes": []})
        assert r.status_code == 413
        assert "[api] max_agenda_bytes" in r.json()["detail"]
        r = await http.post(
            "/api/v1/rounds/q1/open",
            content=b"{" + b" " * 5000 + b"}",
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 413
        assert "[api] max_body_bytes" in r.json()["detail"]
        # Nothing of it was taken.
        assert (await http.get("/api/v1/participants")).json() == []
        assert (await http.get("/api/v1/health")).status_code == 200
    assert service.desk is not None


TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8  # Linux TCP states (tcp_states.h)


async def test_a_client_still_sending_too_much_gets_the_413_not_a_reset(tmp_path: Path) -> None:
    """The server reads the rest of a refused body before it closes: a connection closed on
    unread data is reset, and a client that had not yet read the answer would lose it."""
    async with serving(_settings(tmp_path)) as (url, _):  # type: ignore[arg-type]
        port = int(url.rsplit(":", 1)[1])
        body = json.dumps({"reason": "x" * 900_000}).encode()  # more than one read takes
        head = (
            f"POST /api/v1/rounds/vote/amendments HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_sendall(sock, head + body)
            async with asyncio.timeout(WAIT_S):  # until the server has ended its side
                while sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] not in (  # noqa: ASYNC110 - the kernel's view of the socket, no event to wait on
                    TCP_CLOSE,
                    TCP_CLOSE_WAIT,
                ):
                    await asyncio.sleep(0.01)
            sock.setblocking(True)
            answer = b""
            while chunk := sock.recv(65536):  # a reset would raise ConnectionResetError
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"[api] max_body_bytes" in answer


async def test_half_open_requests_are_cut_and_the_api_answers_meanwhile(tmp_path: Path) -> None:
    async with (
        serving(_settings(tmp_path)) as (url, _),  # type: ignore[arg-type]
        httpx.AsyncClient(base_url=url, timeout=WAIT_S) as http,
    ):
        host, port = url.removeprefix("http://").split(":")
        streams = []
        for _ in range(30):  # under the cap of 40: each is held until its deadline
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")  # never finished
            streams.append((reader, writer))
        r = await http.get("/api/v1/health")
        assert r.status_code == 200
        async with asyncio.timeout(WAIT_S):
            for reader, _ in streams:
                assert await reader.read() == b""  # the server closed it
        for _, writer in streams:
            writer.close()
        # Over the cap, a connection is closed at once.
        extra = [await asyncio.open_connection(host, int(port)) for _ in range(45)]
        async with asyncio.timeout(WAIT_S):
            closed = [await r.read() == b"" for r, _ in extra[40:]]
        assert all(closed)
        for _, writer in extra:
            writer.close()
        r = await http.get("/api/v1/health")
        assert r.status_code == 200


async def test_stream_clients_are_capped_and_handsets_need_the_token(tmp_path: Path) -> None:
    async with (
        serving(_settings(tmp_path)) as (url, service),  # type: ignore[arg-type]
        httpx.AsyncClient(base_url=url, timeout=WAIT_S) as http,
    ):
        service.mirror.update("bridge/b1/handsets", {"handsets": {"428071B3": {"presses": 2}}})
        service.mirror.update("bridge/b1/state", {"state": "online"})

        async def first_topics(headers: dict[str, str]) -> set[str]:
            topics: set[str] = set()
            async with http.stream("GET", "/api/v1/stream?topic=bridge/b1/", headers=headers) as r:
                assert r.status_code == 200
                async for line in r.aiter_lines():
                    if line.startswith("data:"):
                        topics.add(json.loads(line[5:])["topic"])
                    if "bridge/b1/state" in topics and (not headers or len(topics) == 2):
                        return topics
            return topics

        assert await first_topics({}) == {"bridge/b1/state"}
        assert await first_topics(AUTH) == {"bridge/b1/state", "bridge/b1/handsets"}

        async with (
            http.stream("GET", "/api/v1/stream") as a,
            http.stream("GET", "/api/v1/stream") as b,
            http.stream("GET", "/api/v1/stream") as c,
        ):
            assert {a.status_code, b.status_code, c.status_code} == {200}
            async with asyncio.timeout(WAIT_S):
                while service.mirror.clients < 3:  # noqa: ASYNC110 - the service's own count
                    await asyncio.sleep(0.01)
            r = await http.get("/api/v1/stream")
            assert r.status_code == 503
            assert "[api] max_stream_clients" in r.json()["detail"]
            assert (await http.get("/api/v1/health")).status_code == 200


async def test_a_stream_client_that_stops_reading_is_dropped(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, api={"stream_send_timeout_s": 0.3})
    async with serving(settings) as (url, service):
        host, port = url.removeprefix("http://").split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills at once
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(b"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        async with asyncio.timeout(WAIT_S):
            while service.mirror.clients < 1:  # noqa: ASYNC110 - the service's own count
                await asyncio.sleep(0.01)
            n = 0
            # Big tallies until the server's buffers for the sleeping client are full and
            # it has held a message longer than the setting: then it is dropped.
            while service.mirror.dropped < 1:
                n += 1
                service.mirror.update("round/big/tally", {"n": n, "pad": "x" * 200_000})
                await asyncio.sleep(0.02)
            assert service.mirror.clients == 0
            while await reader.read(1 << 20):  # what was sent before, then the end
                pass
        writer.close()
