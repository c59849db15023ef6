"""The API under abuse while 220 handsets vote, on loopback, against a real ``arsbridge serve``
process held to 1,024 file descriptors.

Reproduce with ``.venv/bin/python -m bench.abuse`` (``--scenario halfopen|streams|upload``
for one). Each scenario runs during a round in which a simulated audience of 220 ARS-RX
handsets votes, and reports:

- ``/health`` latency (p50, p99) over a kept-alive connection opened before the attack,
  sampled every 50 ms, and how many of those requests failed or got a 5xx;
- how many tally updates a display's SSE stream (opened before the attack) received;
- the service's peak RSS against :data:`RSS_BOUND_MB`;
- whether the results equal what the audience voted (no vote lost).

Scenarios: ``halfopen`` opens 1,000 connections that send half a request line and stop;
``streams`` opens 400 SSE clients of which half never read; ``upload`` sends a 1 GB roster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import psutil

from firmware_sim.audience import Audience, make_handset_ids
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import Air, RfConditions
from firmware_sim.registry import load_simulator

RSS_BOUND_MB = 400  # the service's resident memory must stay under this, whatever is thrown at it
FD_LIMIT = 1024  # the common default soft limit the service is held to
TOKEN = "bench-abuse-token"


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


async def _half_open(url: str, stop: asyncio.Event) -> None:
    host, port = url.removeprefix("http://").split(":")
    held = []
    for _ in range(1000):
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
            held.append(writer)
    await stop.wait()
    for writer in held:
        writer.close()


async def _streams(url: str, stop: asyncio.Event) -> None:
    async def client(reads: bool) -> None:
        with contextlib.suppress(httpx.HTTPError):
            async with (
                httpx.AsyncClient(base_url=url, timeout=None) as http,
                http.stream("GET", "/api/v1/stream") as r,
            ):
                if reads:
                    async for _ in r.aiter_bytes():
                        if stop.is_set():
                            return
                else:
                    await stop.wait()

    tasks = [asyncio.create_task(client(i % 2 == 0)) for i in range(400)]
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _upload(url: str, stop: asyncio.Event) -> None:
    chunk = b"p0,Name,business,T1,1,Org,\n" * 4000  # about 100 kB

    async def body() -> AsyncIterator[bytes]:
        for _ in range(10_000):  # about 1 GB
            yield chunk

    headers = {"content-type": "text/csv", "Authorization": f"Bearer {TOKEN}"}
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            await http.put("/api/v1/participants", content=body(), headers=headers)
    await stop.wait()


SCENARIOS: dict[str, Callable[[str, asyncio.Event], Coroutine[Any, Any, None]]] = {
    "halfopen": _half_open,
    "streams": _streams,
    "upload": _upload,
}


async def run(name: str, folder: Path) -> dict[str, Any]:
    module = load_simulator("arsrx")
    ids = make_handset_ids(220, module.ID_FAMILY, seed=7)
    plan = Audience(ids, seed=7).plan("ABCDE", duration_s=60, change_rate=0.25)
    air = Air(RfConditions(loss=0.1), seed=7, host_acks=module.HOST_ACKS, one_way=module.ONE_WAY)
    port = _free_port()
    async with PtyEndpoint() as endpoint:
        sim = module.create_simulator(endpoint, air, speed=3.0)  # the minute in 20 s
        firmware = asyncio.create_task(sim.run())
        config = folder / f"{name}.toml"
        config.write_text(
            f'[mqtt]\nbase = "abuse"\n[journal]\npath = "{folder / name}.sqlite3"\n'
            f"[broker]\nport = {_free_port()}\n[api]\nport = {port}\n"
            f'token = "{TOKEN}"\n[[receivers]]\nname = "rx1"\ndriver = "arsrx"\n'
            f'url = "{endpoint.url}"\n'
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "arsbridge.cli",
            "serve",
            "--config",
            str(config),
            cwd=folder,
            env=os.environ,
            preexec_fn=_limit_fds,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(folder / f"{name}.log").open("wb"),
        )
        service = psutil.Process(proc.pid)
        url = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        try:
            async with httpx.AsyncClient(base_url=url, timeout=5, headers=auth) as http:
                await _until_up(http)
                r = await http.post(
                    "/api/v1/rounds/vote/open", json={"title": "A vote", "timer": False}
                )
                r.raise_for_status()
                updates = 0

                async def display() -> None:
                    nonlocal updates
                    async with (
                        httpx.AsyncClient(base_url=url, timeout=None) as d,
                        d.stream("GET", "/api/v1/stream?topic=round/vote/tally") as r,
                    ):
                        async for line in r.aiter_lines():
                            if line.startswith("event: tally"):
                                updates += 1

                watching = asyncio.create_task(display())
                sim.load(plan)
                # The attack runs in a process of its own: this one times the health checks
                # and plays the audience, and must not be slowed down by the attackers.
                attack = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.abuse",
                    "--attack",
                    name,
                    "--url",
                    url,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                latencies: list[float] = []
                failed = 0
                rss = 0
                while not air.done:
                    started = time.perf_counter()
                    try:
                        r = await http.get("/api/v1/health")
                        failed += r.status_code >= 500
                    except httpx.HTTPError:
                        failed += 1
                    latencies.append((time.perf_counter() - started) * 1000)
                    rss = max(rss, service.memory_info().rss)
                    await asyncio.sleep(0.05)
                attack.terminate()
                await attack.wait()
                await asyncio.sleep(1)  # the last batches reach the tally
                r = await http.post("/api/v1/rounds/vote/close")
                r.raise_for_status()
                results = await _results(http)
                watching.cancel()
                await asyncio.gather(watching, return_exceptions=True)
        finally:
            firmware.cancel()
            await asyncio.gather(firmware, return_exceptions=True)
            proc.terminate()
            await proc.wait()
    latencies.sort()
    return {
        "scenario": name,
        "health_p50_ms": round(statistics.median(latencies), 1),
        "health_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
        "health_samples": len(latencies),
        "health_failed": failed,
        "display_updates": updates,
        "peak_rss_mb": round(rss / 1e6, 1),
        "rss_under_bound": rss / 1e6 < RSS_BOUND_MB,
        "votes_complete": results.get("voters") == plan.voters
        and results.get("counts") == plan.expected(),
    }


async def _until_up(http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(30):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/api/v1/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)


async def _results(http: httpx.AsyncClient) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            r = await http.get("/api/v1/rounds/vote/results")
            if r.status_code == 200:
                doc: dict[str, Any] = r.json()
                return doc
            await asyncio.sleep(0.1)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    parser.add_argument("--attack", choices=sorted(SCENARIOS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attack:  # the attacking process: runs until terminated
        asyncio.run(SCENARIOS[args.attack](args.url, asyncio.Event()))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.scenario or sorted(SCENARIOS):
            try:
                print(asyncio.run(run(name, Path(tmp))), flush=True)
            except Exception:
                log = (Path(tmp) / f"{name}.log").read_text(errors="replace").splitlines()
                print("\n".join(["the service's log ends:", *log[-20:]]), file=sys.stderr)
                raise


if __name__ == "__main__":
    main()
