"""Scale: a round of 50,000 handsets with a hall display and a technician board open.

Reproduce with ``.venv/bin/python -m bench.scale`` (``--handsets 50000 --per-handset 2.5
--rate 2000``). The service runs as ``arsbridge serve`` in its own process. The display
follows ``round/`` over SSE; the technician board does what ``/technician`` does: it follows
``rx/`` and ``bridge/`` over SSE and polls ``/api/v1/health`` and the board's changes
(``/api/v1/handsets/changes``) every 2 s. Presses are paced at ``--rate``: first 220
handsets (the summit) for the same number of presses, then the big round. Reports the
counted rate of each (and of the big round's last third, when most handsets are known), the
service's peak RSS, the journal's size, and how long after the grace period ended the
results reached the display. The last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

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
from drivers.iskipper.codec import encode_capture

POLL_S = 2.0  # as api/static/technician.js polls
GRACE_S = 2.0


async def technician(url: str, polls: list[float]) -> None:
    """The technician board's traffic: its stream, and its poll every 2 s (seconds each took):
    the health report, and the board's changes since its last poll."""
    board = Display("-")
    stream = asyncio.create_task(follow_sse(url, board, topics=("rx/", "bridge/")))
    cursor: str | None = None
    try:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while True:
                start = time.perf_counter()
                params = {"after": cursor} if cursor else {}
                _, changes = await asyncio.gather(
                    http.get("/api/v1/health"), http.get("/api/v1/handsets/changes", params=params)
                )
                cursor = changes.raise_for_status().json()["cursor"]
                polls.append(time.perf_counter() - start)
                await asyncio.sleep(POLL_S)
    finally:
        await cancel([stream])


async def one_round(
    svc: ServiceProcess, round_id: str, handsets: list[str], presses: int, rate: float
) -> dict[str, Any]:
    keys = "ABCDE"
    n = len(handsets)
    lines = [encode_capture(handsets[i % n], keys[(i // n) % 5]) for i in range(presses)]
    await svc.open_round(round_id)
    display = Display(round_id)
    follower = asyncio.create_task(follow_sse(svc.url, display))
    try:
        await until(lambda: bool(display.times), lambda: "the display")
        start = time.perf_counter()
        await paced(svc.endpoint, lines, rate)
        await until(
            lambda: bool(display.decided) and display.decided[-1] >= presses,
            lambda: f"{presses} presses on the display (seen {display.decided[-1:]})",
            within_s=600,
        )
        end = display.times[-1]
        # The last third: most handsets known, the handset table at its largest.
        i = bisect.bisect_left(display.decided, 2 * presses // 3)
        late = (presses - display.decided[i]) / max(end - display.times[i], 1e-9)
        state = await svc.close_round(round_id)
        grace_end = float(state["closed_at"]) + float(state["grace_s"])
        await until(lambda: display.results_at is not None, lambda: "the results", within_s=60)
        assert display.results_at is not None
    finally:
        await cancel([follower])
    return {
        "handsets": n,
        "presses": presses,
        "offered_per_s": rate,
        "counted_per_s": round(presses / (end - start)),
        "last_third_per_s": round(late),
        "grace_end_to_results_ms": round(1000 * (display.results_at - grace_end)),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"benchmark": "scale", "broker": args.broker}
    big = handset_ids(args.handsets, seed=11)
    presses = int(args.handsets * args.per_handset)
    polls: list[float] = []
    async with broker_for(args.broker) as url:
        with tempfile.TemporaryDirectory() as tmp:
            async with service_process(Path(tmp), url, grace_s=GRACE_S) as svc:
                board = asyncio.create_task(technician(svc.url, polls))
                try:
                    small = await one_round(svc, "summit", big[-220:], presses, args.rate)
                    print(f"  220 handsets:    {small['counted_per_s']:,} presses/s", flush=True)
                    large = await one_round(svc, "crowd", big, presses, args.rate)
                    print(
                        f"  {args.handsets:,} handsets: {large['counted_per_s']:,} presses/s "
                        f"({large['last_third_per_s']:,} in the last third); results "
                        f"{large['grace_end_to_results_ms']} ms after the grace period",
                        flush=True,
                    )
                finally:
                    with contextlib.suppress(Exception):
                        await cancel([board])
                out["with_220"] = small
                out["with_many"] = large
                out["peak_rss_mb"] = round(svc.peak_rss_mb(), 1)
                out["journal_mb"] = round(svc.journal_mb(), 1)
    out["technician_poll_p50_ms"] = round(1000 * sorted(polls)[len(polls) // 2]) if polls else None
    out["technician_poll_max_ms"] = round(1000 * max(polls)) if polls else None
    out["throughput_ratio_many_to_220"] = round(
        out["with_many"]["counted_per_s"] / out["with_220"]["counted_per_s"], 2
    )
    print(
        f"  peak RSS {out['peak_rss_mb']} MiB, journal {out['journal_mb']} MiB, technician "
        f"poll median {out['technician_poll_p50_ms']} ms"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--broker", default="embedded", help="embedded, mosquitto or a URL")
    parser.add_argument("--handsets", type=int, default=50_000)
    parser.add_argument("--per-handset", type=float, default=2.5)
    parser.add_argument("--rate", type=float, default=2_000)
    args = parser.parse_args()
    print(f"scale (.venv/bin/python -m bench.scale --handsets {args.handsets}):")
    print(json.dumps(asyncio.run(measure(args))))


if __name__ == "__main__":
    main()
