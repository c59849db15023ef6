"""Presses through the whole service: pty, iSkipper driver, intake, journal, vote batches over
the broker, tally engine.

Reproduce with ``.venv/bin/python -m bench.end_to_end`` (``--broker mqtt://127.0.0.1:1883``
to measure against Mosquitto instead of the embedded broker). Reports:

- throughput: a burst of presses from 2,000 handsets written to the serial line at once,
  and the time until the tally engine has counted every one of them;
- latency: single presses, one at a time, from the moment the receiver's line is written to
  the moment the tally engine publishes a snapshot that includes it (median and 95th
  percentile).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bridge.service import Service
from bridge.settings import load_settings
from drivers.iskipper.codec import encode_capture
from firmware_sim.audience import make_handset_ids
from firmware_sim.link import PtyEndpoint

BURST = 20_000
HANDSETS = 2_000
LATENCY_SAMPLES = 100


async def measure(broker: str, folder: Path) -> dict[str, float]:
    overrides: dict[str, Any] = {"journal": {"path": folder / "journal.sqlite3"}}
    overrides["mqtt"] = {"url": broker}
    overrides["broker"] = {"port": 18901}
    ids = make_handset_ids(HANDSETS + LATENCY_SAMPLES, "iclicker", seed=1)
    fresh = ids[HANDSETS:]  # handsets that have not voted: each of their presses counts
    async with PtyEndpoint() as endpoint:
        overrides["receivers"] = [{"name": "rx1", "driver": "iskipper", "url": endpoint.url}]
        settings = load_settings(None, **overrides)
        async with Service(settings) as svc:
            assert svc.core is not None
            assert svc.tally is not None
            assert svc.controller is not None
            core, tally = svc.core, svc.tally
            while "rx1" not in core.status or not core.status["rx1"].online:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            svc.controller.open("bench", timer=False, title="Bench")

            def counted() -> int:
                t = tally.tallies.get("bench")
                return sum(t.decisions.values()) if t is not None else 0

            lines = b"".join(
                encode_capture(ids[i % HANDSETS], "ABCDE"[(i // HANDSETS) % 5])
                for i in range(BURST)
            )
            start = time.perf_counter()
            await endpoint.send(lines)
            while counted() < BURST:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            burst_s = time.perf_counter() - start

            published = asyncio.Event()
            tally.listeners.append(lambda kind, _: published.set() if kind == "tally" else None)
            latencies = []
            for i in range(LATENCY_SAMPLES):
                before = counted()
                published.clear()
                start = time.perf_counter()
                await endpoint.send(encode_capture(fresh[i], "ABCDE"[i % 5]))
                while counted() == before or not published.is_set():
                    published.clear()
                    await published.wait()
                latencies.append(time.perf_counter() - start)
                await asyncio.sleep(0.15)  # past the snapshot interval: no coalescing
    latencies.sort()
    return {
        "burst_per_s": BURST / burst_s,
        "burst_s": burst_s,
        "latency_median_ms": 1000 * statistics.median(latencies),
        "latency_p95_ms": 1000 * latencies[int(0.95 * len(latencies)) - 1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--broker", default="embedded", help="embedded or mqtt://host:port")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        r = asyncio.run(measure(args.broker, Path(tmp)))
    print(
        f"end to end, broker {args.broker} (.venv/bin/python -m bench.end_to_end"
        f"{'' if args.broker == 'embedded' else ' --broker ' + args.broker}):"
    )
    print(
        f"  burst of {BURST:,} presses from {HANDSETS:,} handsets counted in "
        f"{r['burst_s']:.2f} s: {r['burst_per_s']:,.0f} presses/s"
    )
    print(
        f"  one press, receiver line to published tally: median "
        f"{r['latency_median_ms']:.0f} ms, 95th percentile {r['latency_p95_ms']:.0f} ms"
    )


if __name__ == "__main__":
    main()
