"""Latency a hall can see: from the moment a press's line is written to the receiver's pty to
the first SSE and WebSocket message whose tally includes it, at steady press rates.

Reproduce with ``.venv/bin/python -m bench.latency`` (``--rates 30 500 4000``, ``--brokers
embedded mosquitto``, ``--seconds 6``). The service runs as ``arsbridge serve`` in a process
of its own, every press is fsynced in the journal before it is published, and one SSE and one
WebSocket display follow the round. Every press comes from a handset that has not voted yet,
so the n-th press is shown by the first message with n voters. The service's CPU use during
the run is read from /proc (1.0 is one core). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.rig import (
    Display,
    ServiceProcess,
    broker_for,
    cancel,
    capture_lines,
    follow_sse,
    follow_ws,
    handset_ids,
    paced,
    percentiles,
    service_process,
    until,
)

WARMUP_S = 0.5  # presses in the first half second are sent but not measured


async def one_rate(svc: ServiceProcess, rate: float, seconds: float) -> dict[str, Any]:
    round_id = f"lat{int(rate)}"
    n = max(int(rate * seconds), 20)
    lines = capture_lines(handset_ids(n, seed=int(rate)))
    await svc.open_round(round_id)
    displays = {"sse": Display(round_id), "ws": Display(round_id)}
    tasks = [
        asyncio.create_task(follow_sse(svc.url, displays["sse"])),
        asyncio.create_task(follow_ws(svc.url, displays["ws"])),
    ]
    try:
        # Both displays have the opened round before the first press.
        await until(lambda: all(d.times for d in displays.values()), lambda: "the displays")
        cpu_before, wall_before = svc.cpu_s(), time.perf_counter()
        sent = await paced(svc.endpoint, lines, rate)
        await until(
            lambda: all(d.voters and d.voters[-1] >= n for d in displays.values()),
            lambda: (
                f"{n} voters on the displays (seen {[d.voters[-1:] for d in displays.values()]})"
            ),
        )
        cpu = (svc.cpu_s() - cpu_before) / (time.perf_counter() - wall_before)
    finally:
        await cancel(tasks)
    await svc.close_round(round_id)
    skip = int(WARMUP_S * rate)
    out: dict[str, Any] = {"rate_per_s": rate, "presses": n, "cpu_cores": round(cpu, 3)}
    for name, display in displays.items():
        delays = []
        for i in range(skip, n):
            shown = display.showing(i + 1)
            assert shown is not None
            delays.append(shown - sent[i])
        out[name] = {**percentiles(delays), "messages": len(display.times)}
    return out


async def measure(brokers: list[str], rates: list[float], seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for broker in brokers:
        async with broker_for(broker) as url:
            with tempfile.TemporaryDirectory() as tmp:
                async with service_process(Path(tmp), url) as svc:
                    results[broker] = {}
                    for rate in rates:
                        r = await one_rate(svc, rate, seconds)
                        results[broker][str(int(rate))] = r
                        print(
                            f"  {broker:9} {rate:>6.0f}/s: SSE median {r['sse']['p50_ms']:6.1f} ms"
                            f" p99 {r['sse']['p99_ms']:6.1f} ms | WebSocket median "
                            f"{r['ws']['p50_ms']:6.1f} ms p99 {r['ws']['p99_ms']:6.1f} ms | "
                            f"CPU {r['cpu_cores']:.2f} cores",
                            flush=True,
                        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", type=float, nargs="+", default=[30, 500, 4000])
    parser.add_argument("--brokers", nargs="+", default=["embedded", "mosquitto"])
    parser.add_argument("--seconds", type=float, default=6.0, help="per rate")
    args = parser.parse_args()
    print("latency, pty line to display (.venv/bin/python -m bench.latency):")
    results = asyncio.run(measure(args.brokers, args.rates, args.seconds))
    print(json.dumps({"benchmark": "latency", "seconds_per_rate": args.seconds, **results}))


if __name__ == "__main__":
    main()
