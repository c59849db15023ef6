"""The journal: durable before it is acknowledged, group commit, restart where it left off."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from bridge.event.votes import Decision, Record
from bridge.press.journal import Journal


def record(journal: Journal, n: int, decision: Decision = Decision.COUNTED) -> Record:
    return Record(
        id=journal.next_id(),
        t=1000.0 + n,
        receiver="rx1",
        handset=f"H{n:05d}",
        key="A",
        decision=decision,
        round="r1",
        answer="A",
        seq=n % 256,
        rssi=-60,
        battery=80,
    )


async def test_records_are_committed_in_groups_and_reported_durable(tmp_path: Path) -> None:
    committed: list[Record] = []
    journal = Journal(tmp_path / "j.sqlite3", commit_interval_ms=5, on_commit=committed.extend)
    journal.open()
    written = [record(journal, n) for n in range(5000)]
    for rec in written:
        journal.append(rec)
    await journal.flush()
    assert [r.id for r in committed] == [r.id for r in written]
    assert journal.commits < 100, "one fsync per press would be one commit per record"
    await journal.close()
    assert list(journal.records()) == written


async def test_ids_continue_and_unconfirmed_records_come_back_after_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite3"
    first = Journal(path)
    first.open()
    for n in range(10):
        first.append(record(first, n))
    await first.flush()
    first.mark_published(6)
    await first.close()

    second = Journal(path)
    second.open()
    assert second.published == 6
    assert [r.id for r in second.unpublished()] == [7, 8, 9, 10]
    assert second.next_id() == 11
    await second.close()


async def test_records_of_one_round_in_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.open()
    for n in range(6):
        rec = record(journal, n)
        rec.round = "r1" if n % 2 else "r2"
        journal.append(rec)
    await journal.flush()
    await journal.close()
    assert [r.id for r in journal.records(round_id="r1")] == [2, 4, 6]


def test_a_killed_process_keeps_every_press_it_reported_durable(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    script = textwrap.dedent(f"""
        import asyncio, os
        from pathlib import Path
        from bridge.press.journal import Journal
        from bridge.event.votes import Decision, Record

        async def main():
            durable = []
            j = Journal(Path({str(path)!r}), on_commit=durable.extend)
            j.open()
            for n in range(2000):
                j.append(Record(j.next_id(), 1.0 * n, "rx1", f"H{{n}}", "B",
                                Decision.COUNTED, "r1", "B"))
            await j.flush()
            print(len(durable), flush=True)
            os._exit(9)  # no close, no cleanup: as if the power went

        asyncio.run(main())
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 9, done.stderr
    assert done.stdout.strip() == "2000"
    survivor = Journal(path)
    rows = list(survivor.records())
    assert len(rows) == 2000
    assert {r.key for r in rows} == {"B"}
