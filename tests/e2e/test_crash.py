"""Nothing lost when the service is killed mid-round: a real ``arsbridge serve`` process is
killed with SIGKILL while a capture streams in, started again, and finishes the round with
the published tally of the recorded lecture."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from bridge.tally.replay import replay
from firmware_sim.link import PtyEndpoint
from firmware_sim.receiver import stream_bytes
from tests.conftest import free_port

WAIT_S = 60.0


async def until_ok(http: httpx.AsyncClient, check: str, test: object) -> dict[str, object]:
    async with asyncio.timeout(WAIT_S):
        while True:
            try:
                body: dict[str, object] = (await http.get("/api/v1/health")).json()
                if test(body):  # type: ignore[operator]
                    return body
            except httpx.TransportError:
                pass  # not up yet
            await asyncio.sleep(0.05)
    raise AssertionError(check)


def decided(body: dict[str, object]) -> int:
    return sum(dict(body.get("decisions", {})).values())  # type: ignore[arg-type]


async def test_a_killed_service_loses_no_press(tmp_path: Path, captures: Path) -> None:
    data = (captures / "iskipper-2017-04-13" / "2017-04-13-q2.txt").read_bytes()
    cut = data.index(b"Captured", len(data) // 2)
    first, second = data[:cut], data[cut:]
    presses_first = replay("iskipper", first).presses
    presses_total = replay("iskipper", data).presses
    port = free_port()
    async with PtyEndpoint() as endpoint:
        config = tmp_path / "event.toml"
        config.write_text(f"""
[journal]
path = "{tmp_path / "journal.sqlite3"}"
[broker]
port = {free_port()}
[api]
port = {port}
[rounds]
grace_s = 0.2
[supervisor]
backoff_min_s = 0.05
[[receivers]]
name = "rx1"
driver = "iskipper"
url = "{endpoint.url}"
""")

        async def start() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "arsbridge.cli",
                "serve",
                "--config",
                str(config),
                cwd=tmp_path,
                env=os.environ,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            proc = await start()
            try:
                await until_ok(http, "up", lambda b: b["status"] == "ok")
                await http.post("/api/v1/rounds/q2/open", json={"title": "Q2", "timer": False})
                await stream_bytes(endpoint, first, speed=50)
                await until_ok(http, "first half journaled", lambda b: decided(b) == presses_first)
                proc.send_signal(signal.SIGKILL)  # no shutdown, no flush, no goodbye
                await proc.wait()

                proc = await start()
                await until_ok(http, "up again", lambda b: b["status"] == "ok")
                state = (await http.get("/api/v1/rounds/q2")).json()
                assert state["status"] == "open"  # the round survived the crash
                await stream_bytes(endpoint, second, speed=50)
                await until_ok(
                    http,
                    "second half journaled",
                    lambda b: decided(b) == presses_total - presses_first,
                )
                await http.post("/api/v1/rounds/q2/close")
                async with asyncio.timeout(WAIT_S):
                    while (r := await http.get("/api/v1/rounds/q2/results")).status_code != 200:  # noqa: ASYNC110 - polling a process over HTTP
                        await asyncio.sleep(0.05)
                results = r.json()
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    await asyncio.wait_for(proc.wait(), 30)
    assert results["voters"] == 147
    assert results["counts"] == {"A": 15, "B": 118, "C": 8, "D": 6, "E": 0}
