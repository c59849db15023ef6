"""The per-press path: the receiver's codec, alias resolution, intake decision, journal
append, group commit and the vote batch's encoding.

Reproduce with ``taskset -c 0 .venv/bin/python -m bench.hot_path`` (one core; ``--presses N``
to change the load). Reports presses per second through the event loop's share of the work
(decoding iSkipper lines, stamping, deciding and queueing each press, encoding the batches)
and through the journal's writer thread (durable, fsynced in groups), and how many commits
the group commit needed. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from pathlib import Path

from bridge.event.questions import Question
from bridge.event.rounds import RoundState, RoundStatus, Window
from bridge.event.votes import Record
from bridge.press.intake import Intake
from bridge.press.journal import Journal
from drivers.base import Press, stamp
from drivers.ids import HandsetAliases
from drivers.iskipper.codec import IskipperDecoder, encode_capture
from firmware_sim.audience import make_handset_ids


def presses(n: int, handsets: int, seed: int = 1) -> list[Press]:
    rng = random.Random(seed)
    ids = make_handset_ids(handsets, "iclicker", seed=seed)
    t = time.time()
    out = []
    for i in range(n):
        out.append(Press("rx1", rng.choice(ids), rng.choice("ABCDE"), t + i * 1e-4))
    return out


BATCH = 500  # records per vote batch, as [mqtt] batch_max
CHUNK = 4096  # bytes per read from the receiver, as drivers.serial_receiver reads them


async def measure(n: int, handsets: int) -> dict[str, float]:
    load = presses(n, handsets)
    wire_bytes = b"".join(encode_capture(p.handset, p.key) for p in load)
    chunks = [wire_bytes[i : i + CHUNK] for i in range(0, len(wire_bytes), CHUNK)]
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
        decoder = IskipperDecoder()
        decided_records = []
        start = time.perf_counter()
        now = time.time()
        for chunk in chunks:
            for frame in decoder.feed(chunk):
                press = stamp(frame, "rx1", now)
                if not isinstance(press, Press):
                    continue  # the empty line the sketch prints after each capture
                handset = aliases.resolve(press.handset)
                if handset != press.handset:
                    press = Press(press.receiver, handset, press.key, press.t)
                rec = intake.decide(press, journal.next_id())
                journal.append(rec)
                decided_records.append(rec)
        for i in range(0, len(decided_records), BATCH):
            chunk_records = decided_records[i : i + BATCH]
            batch = {
                "bridge": "bench",
                "receiver": "rx1",
                "boot": now,
                "batch": i // BATCH + 1,
                "cover": [0, len(decided_records)],
                "part": i // BATCH + 1,
                "parts": -(-len(decided_records) // BATCH),
                "dup": 0,
                "presses": [r.to_wire() for r in chunk_records],
            }
            json.dumps(batch, separators=(",", ":")).encode()  # as the publisher encodes it
        decided = time.perf_counter()
        assert len(decided_records) == n
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
    cores = len(os.sched_getaffinity(0))
    print(
        f"  decoded, decided, queued and batched: {r['decide_per_s']:,.0f} presses/s "
        f"on the event loop ({cores} core{'s' if cores > 1 else ''} allowed)"
    )
    print(
        f"  durable in SQLite:  {r['durable_per_s']:,.0f} presses/s "
        f"({r['commits']:.0f} commits, {r['presses_per_commit']:,.0f} presses per fsync)"
    )
    print(
        json.dumps(
            {
                "benchmark": "hot_path",
                "cores": cores,
                "presses": r["presses"],
                "per_press_per_s": round(r["decide_per_s"]),
                "durable_per_s": round(r["durable_per_s"]),
                "presses_per_commit": round(r["presses_per_commit"]),
            }
        )
    )


if __name__ == "__main__":
    main()
