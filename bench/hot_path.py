"""The per-press path: alias resolution, intake decision, journal append and group commit.

Reproduce with ``.venv/bin/python -m bench.hot_path`` (``--presses N`` to change the load).
Reports presses per second through ``BridgeCore.handle`` (the work the event loop does per
press) and through the journal's writer thread (durable, fsynced in groups), and how many
commits the group commit needed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from bridge.event.questions import Question
from bridge.event.rounds import RoundState, RoundStatus, Window
from bridge.event.votes import Record
from bridge.press.intake import Intake
from bridge.press.journal import Journal
from drivers.base import Press
from drivers.ids import HandsetAliases
from firmware_sim.audience import make_handset_ids


def presses(n: int, handsets: int, seed: int = 1) -> list[Press]:
    rng = random.Random(seed)
    ids = make_handset_ids(handsets, "iclicker", seed=seed)
    t = time.time()
    out = []
    for i in range(n):
        out.append(Press("rx1", rng.choice(ids), rng.choice("ABCDE"), t + i * 1e-4))
    return out


async def measure(n: int, handsets: int) -> dict[str, float]:
    load = presses(n, handsets)
    state = RoundState(
        round="bench",
        question=Question.single("ABCDE"),
        status=RoundStatus.OPEN,
        windows=[Window(start=0.0)],
        revision=1,
    )
    intake = Intake()
    intake.update_round(state)
    aliases = HandsetAliases()
    committed = 0
    done = asyncio.Event()

    def on_commit(records: list[Record]) -> None:
        nonlocal committed
        committed += len(records)
        if committed >= n:
            done.set()

    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "bench.sqlite3", on_commit=on_commit)
        journal.open()
        start = time.perf_counter()
        for press in load:
            aliases.resolve(press.handset)
            journal.append(intake.decide(press, journal.next_id()))
        decided = time.perf_counter()
        await done.wait()
        durable = time.perf_counter()
        commits = journal.commits
        await journal.close()
    return {
        "presses": n,
        "decide_per_s": n / (decided - start),
        "durable_per_s": n / (durable - start),
        "commits": commits,
        "presses_per_commit": n / max(commits, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presses", type=int, default=200_000)
    parser.add_argument("--handsets", type=int, default=220)
    args = parser.parse_args()
    r = asyncio.run(measure(args.presses, args.handsets))
    print(
        f"hot path, {r['presses']:.0f} presses from {args.handsets} handsets "
        f"(.venv/bin/python -m bench.hot_path --presses {args.presses}):"
    )
    print(f"  decided and queued: {r['decide_per_s']:,.0f} presses/s on the event loop")
    print(
        f"  durable in SQLite:  {r['durable_per_s']:,.0f} presses/s "
        f"({r['commits']:.0f} commits, {r['presses_per_commit']:,.0f} presses per fsync)"
    )


if __name__ == "__main__":
    main()
