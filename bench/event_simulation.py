"""Wall-clock time of the whole example summit on the controlled clock.

Reproduce with ``.venv/bin/python -m bench.event_simulation``. The simulation runs the real
service (embedded broker, iSkipper driver on a pty, journal, tally engine, round controller)
through eight themes and a re-vote with 220 delegates, then exports everything.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from arsbridge.simulation import EventPlan, simulate_event
from bridge.settings import load_settings

RUNS = 3


async def once(folder: Path, seed: int) -> tuple[float, int]:
    settings = load_settings(None, broker={"port": 18840 + seed % 50})
    start = time.perf_counter()
    done = await simulate_event(settings, folder / "out", EventPlan(seed=seed), lambda _: None)
    return time.perf_counter() - start, done.presses


def main() -> None:
    times = []
    presses = 0
    for run in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            took, presses = asyncio.run(once(Path(tmp), 2007 + run))
        times.append(took)
    print(f"event simulation (.venv/bin/python -m bench.event_simulation), {RUNS} runs:")
    print(
        f"  8 themes + 1 re-vote, 220 delegates, ~{presses} presses: median "
        f"{statistics.median(times):.1f} s wall clock (min {min(times):.1f}, "
        f"max {max(times):.1f})"
    )


if __name__ == "__main__":
    main()
