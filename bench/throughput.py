"""Throughput: how many presses per second the service counts, and how far the bridge path is
ahead of a naive bridge measured in the same run.

Reproduce with ``.venv/bin/python -m bench.throughput`` (``--broker embedded|mosquitto``,
``--burst 60000``, ``--rate 40000 --seconds 5``). Three figures:

- whole service (``arsbridge serve`` in its own process, one SSE display following the round):
  a burst written to the receiver's pty at once, and presses paced at ``--rate``; each counts
  until the display shows every press decided;
- the bridge path alone (``arsbridge bridge`` in its own process): pty to vote batches the
  broker has passed on, counted by a subscriber;
- a naive bridge on the same pty, codec and broker: one awaited QoS 1 JSON publish per press
  (``python -m bench.throughput --naive-bridge``), and the bridge path's ratio to it.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt

from bench.rig import (
    Display,
    ServiceProcess,
    broker_for,
    cancel,
    follow_sse,
    handset_ids,
    paced,
    service_process,
    until,
)
from bridge.mqtt.link import parse_broker_url
from drivers.base import Press, stamp
from drivers.iskipper.codec import IskipperDecoder, encode_capture
from drivers.serial_link import open_serial
from firmware_sim.link import PtyEndpoint

ROOT = Path(__file__).resolve().parent.parent  # where ``python -m bench...`` finds the package
HANDSETS = 20_000  # each pass over them changes every answer, so every press is counted


def presses(n: int) -> list[bytes]:
    ids = handset_ids(HANDSETS)
    return [encode_capture(ids[i % HANDSETS], "ABCDE"[(i // HANDSETS) % 5]) for i in range(n)]


async def whole_service(svc: ServiceProcess, lines: list[bytes], rate: float | None) -> float:
    """Presses per second from the first write until a display shows them all decided."""
    round_id = f"tp{int(time.time() * 1000) % 10**8}"
    await svc.open_round(round_id)
    display = Display(round_id)
    follower = asyncio.create_task(follow_sse(svc.url, display))
    try:
        await until(lambda: bool(display.times), lambda: "the display")
        start = time.perf_counter()
        if rate is None:
            await svc.endpoint.send(b"".join(lines))
        else:
            await paced(svc.endpoint, lines, rate)
        n = len(lines)
        await until(
            lambda: bool(display.decided) and display.decided[-1] >= n,
            lambda: f"{n} presses on the display (seen {display.decided[-1:]})",
        )
        elapsed = display.times[-1] - start
    finally:
        await cancel([follower])
    await svc.close_round(round_id)
    return n / elapsed


@contextlib.asynccontextmanager
async def counting(url: str, base: str, counts: list[int], ready: asyncio.Event) -> Any:
    """Count presses in vote batches (or naive messages, one press each) under ``base``;
    ``ready`` is set when the receiver is online (or the naive bridge says it reads)."""
    address = parse_broker_url(url)
    async with aiomqtt.Client(address.host, address.port, identifier=f"tp-{base}") as c:
        for topic in ("rx/+/votes", "rx/+/availability", "naive/#"):
            await c.subscribe(f"{base}/{topic}", qos=1)

        async def read() -> None:
            async for message in c.messages:
                payload = message.payload
                assert isinstance(payload, bytes)
                if message.topic.matches("+/rx/+/votes"):
                    counts[0] += len(json.loads(payload)["presses"])
                elif message.topic.matches("+/naive/votes"):
                    counts[0] += 1
                elif b'"online"' in payload or message.topic.matches("+/naive/ready"):
                    ready.set()

        task = asyncio.create_task(read())
        try:
            yield
        finally:
            await cancel([task])


async def bridge_path(url: str, lines: list[bytes], folder: Path, naive: bool) -> float:
    """Presses per second from pty to a subscriber, through the bridge role or the naive one."""
    base = f"tp{os.getpid()}{'n' if naive else 'b'}"
    counts = [0]
    ready = asyncio.Event()
    async with PtyEndpoint() as endpoint:
        if naive:
            cmd = ["-m", "bench.throughput", "--naive-bridge", url, endpoint.url, base]
        else:
            config = folder / f"{base}.toml"
            config.write_text(
                f'bridge_id = "{base}"\nlog_level = "WARNING"\n[mqtt]\nurl = "{url}"\n'
                f'base = "{base}"\n[journal]\npath = "{folder / base}.sqlite3"\nmin_free_mb = 0\n'
                f'[[receivers]]\nname = "rx1"\ndriver = "iskipper"\nurl = "{endpoint.url}"\n'
            )
            cmd = ["-m", "arsbridge.cli", "bridge", "--config", str(config)]
        async with counting(url, base, counts, ready):
            proc = await asyncio.create_subprocess_exec(sys.executable, *cmd, cwd=ROOT)
            try:
                await until(ready.is_set, lambda: "the receiver online")
                start = time.perf_counter()
                await endpoint.send(b"".join(lines))
                await until(lambda: counts[0] >= len(lines), lambda: f"{counts[0]} presses")
                elapsed = time.perf_counter() - start
            finally:
                proc.send_signal(signal.SIGTERM)
                await proc.wait()
    return len(lines) / elapsed


async def naive_bridge(url: str, device: str, base: str) -> None:
    """Read the pty with the production codec; one awaited QoS 1 publish per press."""
    address = parse_broker_url(url)
    reader, _ = await open_serial(device, 115200)
    decoder = IskipperDecoder()
    async with aiomqtt.Client(address.host, address.port, identifier=f"naive-{base}") as client:
        await client.publish(f"{base}/naive/ready", b"{}", qos=1)
        while chunk := await reader.read(4096):
            for frame in decoder.feed(chunk):
                press = stamp(frame, "rx1", time.time())
                if isinstance(press, Press):
                    body = {"receiver": "rx1", "hs": press.handset, "k": press.key, "t": press.t}
                    await client.publish(f"{base}/naive/votes", json.dumps(body), qos=1)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"benchmark": "throughput", "broker": args.broker}
    async with broker_for(args.broker) as url:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            async with service_process(folder, url) as svc:
                out["burst_presses"] = args.burst
                out["burst_per_s"] = round(await whole_service(svc, presses(args.burst), None))
                print(f"  whole service, burst of {args.burst:,}: {out['burst_per_s']:,} /s")
                n = int(args.rate * args.seconds)
                out["offered_per_s"] = args.rate
                out["sustained_per_s"] = round(await whole_service(svc, presses(n), args.rate))
                print(
                    f"  whole service, {args.rate:,.0f}/s offered for {args.seconds:g} s: "
                    f"{out['sustained_per_s']:,} /s"
                )
            # The bridge role alone publishes to a broker outside it: a private Mosquitto
            # when the service ran on its embedded one.
            async with broker_for("mosquitto" if url == "embedded" else url) as bus:
                out["bridge_path_per_s"] = round(
                    await bridge_path(bus, presses(args.burst), folder, naive=False)
                )
                out["naive_per_s"] = round(
                    await bridge_path(bus, presses(args.naive), folder, naive=True)
                )
    out["ratio_to_naive"] = round(out["bridge_path_per_s"] / out["naive_per_s"], 1)
    print(
        f"  bridge path {out['bridge_path_per_s']:,} /s, naive bridge {out['naive_per_s']:,} /s: "
        f"{out['ratio_to_naive']}x"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--broker", default="embedded", help="embedded, mosquitto or a URL")
    parser.add_argument("--burst", type=int, default=60_000)
    parser.add_argument("--rate", type=float, default=40_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--naive", type=int, default=5_000, help="presses for the naive bridge")
    parser.add_argument("--naive-bridge", nargs=3, metavar=("URL", "DEVICE", "BASE"))
    args = parser.parse_args()
    if args.naive_bridge:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(naive_bridge(*args.naive_bridge))
        return
    print(f"throughput (.venv/bin/python -m bench.throughput --broker {args.broker}):")
    print(json.dumps(asyncio.run(measure(args))))


if __name__ == "__main__":
    main()
