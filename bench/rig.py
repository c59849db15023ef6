"""What the benchmarks share: ``arsbridge serve`` in a process of its own behind a pty, a
private Mosquitto, displays following the tally over SSE and WebSocket, paced presses, and
the service's CPU time and peak memory read from /proc.

Times are ``time.perf_counter()`` of the benchmark's process on both ends: when a line is
written to the receiver's pty, and when an SSE or WebSocket message arrives.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from drivers.ids import iclicker_alternate
from drivers.iskipper.codec import encode_capture
from firmware_sim.audience import make_handset_ids
from firmware_sim.link import PtyEndpoint

WAIT_S = 30.0  # the longest any condition of a benchmark may take before it gives up
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(
    condition: Callable[[], bool], what: Callable[[], str], within_s: float = WAIT_S
) -> None:
    """Poll ``condition`` until it holds; raise saying ``what()`` after ``within_s``."""
    try:
        async with asyncio.timeout(within_s):
            while not condition():  # noqa: ASYNC110 - the condition is another process's state
                await asyncio.sleep(0.002)
    except TimeoutError:
        raise RuntimeError(f"benchmark gave up waiting for {what()}") from None


@contextlib.asynccontextmanager
async def private_mosquitto() -> AsyncIterator[str]:
    """A Mosquitto of the benchmark's own on a free port (Nagle off, as docs/operations.md
    advises); yields its ``mqtt://`` URL."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        user = "user root\n" if os.geteuid() == 0 else ""
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"set_tcp_nodelay true\nmax_queued_messages 0\nmax_inflight_messages 0\n{user}"
        )
        proc = await asyncio.create_subprocess_exec(
            exe,
            "-c",
            str(conf),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            for _ in range(200):
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    await writer.wait_closed()
                    break
                await asyncio.sleep(0.02)
            yield f"mqtt://127.0.0.1:{port}"
        finally:
            proc.terminate()
            await proc.wait()


@contextlib.asynccontextmanager
async def broker_for(name: str) -> AsyncIterator[str]:
    """``embedded`` (the service's own amqtt), ``mosquitto`` (a private one) or a URL."""
    if name == "mosquitto":
        async with private_mosquitto() as url:
            yield url
    else:
        yield name


@dataclass(slots=True)
class ServiceProcess:
    """``arsbridge serve`` running in its own process, reading ``endpoint``."""

    proc: asyncio.subprocess.Process
    endpoint: PtyEndpoint
    url: str
    journal: Path
    http: httpx.AsyncClient

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_s(self) -> float:
        """User and system CPU seconds the service has used so far (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def peak_rss_mb(self) -> float:
        """The service's peak resident memory (VmHWM), in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def journal_mb(self) -> float:
        files = [self.journal, Path(f"{self.journal}-wal")]
        return sum(f.stat().st_size for f in files if f.exists()) / (1024 * 1024)

    async def open_round(self, round_id: str) -> None:
        r = await self.http.post(
            f"/api/v1/rounds/{round_id}/open", json={"title": round_id, "timer": False}
        )
        r.raise_for_status()

    async def close_round(self, round_id: str) -> dict[str, Any]:
        r = await self.http.post(f"/api/v1/rounds/{round_id}/close")
        r.raise_for_status()
        state: dict[str, Any] = r.json()
        return state


@contextlib.asynccontextmanager
async def service_process(
    folder: Path, broker: str, *, grace_s: float = 2.0, extra: str = ""
) -> AsyncIterator[ServiceProcess]:
    """The whole service (every role, one process) on ``broker``, an iSkipper on a pty."""
    port = free_port()
    tag = f"bench{os.getpid()}"
    mqtt = f'url = "{broker}"\nbase = "{tag}"'
    async with PtyEndpoint() as endpoint:
        config = folder / "bench.toml"
        config.write_text(
            f'bridge_id = "{tag}"\nlog_level = "WARNING"\n'
            f"[mqtt]\n{mqtt}\n[broker]\nport = {free_port()}\n"
            f'[journal]\npath = "{folder / "journal.sqlite3"}"\nmin_free_mb = 0\n'
            f"[api]\nport = {port}\n[rounds]\ngrace_s = {grace_s}\n{extra}\n"
            f'[[receivers]]\nname = "rx1"\ndriver = "iskipper"\nurl = "{endpoint.url}"\n'
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "arsbridge.cli",
            "serve",
            "--config",
            str(config),
            cwd=folder,
            stdout=asyncio.subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                async with asyncio.timeout(WAIT_S):
                    while True:
                        if proc.returncode is not None:
                            raise RuntimeError("the service did not start")
                        with contextlib.suppress(httpx.TransportError):
                            health = (await http.get("/api/v1/health")).json()
                            if health.get("status") == "ok":
                                break
                        await asyncio.sleep(0.05)
                async with profiled(proc.pid):
                    yield ServiceProcess(proc, endpoint, url, folder / "journal.sqlite3", http)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


@contextlib.asynccontextmanager
async def profiled(pid: int) -> AsyncIterator[None]:
    """With ``ARS_BENCH_PROFILE=FILE``, py-spy samples the service while the benchmark runs
    and writes collapsed stacks to FILE (summarise them with ``python -m bench.profile``)."""
    out = os.environ.get("ARS_BENCH_PROFILE")
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not out or spy is None:
        yield
        return
    proc = await asyncio.create_subprocess_exec(
        spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--output", out,
        "--nonblocking", "--threads", stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        await proc.wait()


@dataclass(slots=True)
class Display:
    """A display following one round's tally: when each message arrived and how many voters
    (or decided presses) it showed."""

    round: str
    times: list[float] = field(default_factory=list)
    voters: list[int] = field(default_factory=list)
    decided: list[int] = field(default_factory=list)
    results_at: float | None = None  # epoch seconds the results arrived
    messages: int = 0

    def take(self, message: dict[str, Any]) -> None:
        now = time.perf_counter()
        self.messages += 1
        payload = message.get("payload")
        if not isinstance(payload, dict) or payload.get("round") != self.round:
            return
        if message.get("kind") == "results":
            self.results_at = self.results_at or time.time()  # wall clock, as closed_at
            return
        if message.get("kind") != "tally":
            return
        self.times.append(now)
        self.voters.append(int(payload.get("voters", 0)))
        self.decided.append(sum(dict(payload.get("decisions", {})).values()))

    def showing(self, voters: int) -> float | None:
        """When a message first showed at least ``voters`` voters."""
        i = bisect.bisect_left(self.voters, voters)
        return self.times[i] if i < len(self.times) else None


async def follow_sse(url: str, display: Display, topics: Sequence[str] = ("round/",)) -> None:
    """Read ``/api/v1/stream`` into ``display`` until cancelled."""
    query = "&".join(f"topic={t}" for t in topics)
    async with (
        httpx.AsyncClient(timeout=None) as http,
        http.stream("GET", f"{url}/api/v1/stream?{query}") as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                display.take(json.loads(line[5:]))


async def follow_ws(url: str, display: Display, topics: Sequence[str] = ("round/",)) -> None:
    """Read ``/ws`` into ``display`` until cancelled."""
    query = "&".join(f"topic={t}" for t in topics)
    ws_url = url.replace("http://", "ws://") + f"/ws?{query}"
    async with websockets.connect(ws_url, max_size=None) as ws:
        async for frame in ws:
            display.take(json.loads(frame))


def capture_lines(handsets: Sequence[str], keys: str = "ABCDE") -> list[bytes]:
    """One iSkipper capture line per handset, keys in turn (the sketch form)."""
    return [encode_capture(h, keys[i % len(keys)]) for i, h in enumerate(handsets)]


def handset_ids(n: int, seed: int = 7) -> list[str]:
    """``n`` i>clicker IDs that are distinct handsets: none is another's alternate form."""
    out: list[str] = []
    taken: set[str] = set()
    for handset in make_handset_ids(2 * n + 100, "iclicker", seed=seed):
        alternate = iclicker_alternate(handset)
        if handset in taken or (alternate is not None and alternate in taken):
            continue
        taken.add(handset)
        if alternate is not None:
            taken.add(alternate)
        out.append(handset)
        if len(out) == n:
            break
    return out


async def paced(endpoint: PtyEndpoint, lines: Sequence[bytes], rate: float) -> list[float]:
    """Write ``lines`` at ``rate`` per second; when each line was written."""
    sent: list[float] = []
    start = time.perf_counter()
    n = len(lines)
    while len(sent) < n:
        now = time.perf_counter()
        due = min(n, int((now - start) * rate) + 1)
        if due > len(sent):
            i = len(sent)
            sent.extend([now] * (due - i))
            await endpoint.send(b"".join(lines[i:due]))
        if len(sent) < n:
            wait = start + len(sent) / rate - time.perf_counter()
            await asyncio.sleep(max(wait, 0.0005))
    return sent


def percentiles(values_s: Sequence[float]) -> dict[str, float]:
    """Median, 99th percentile and maximum, in milliseconds."""
    ordered = sorted(values_s)
    if not ordered:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p99_ms": round(1000 * p99, 2),
        "max_ms": round(1000 * ordered[-1], 2),
    }


async def cancel(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
