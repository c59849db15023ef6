"""The journal: durable before it is acknowledged, group commit, restart where it left off,
and a full disk that loses nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.event.votes import Decision, Record
from bridge.press.journal import Journal, JournalHealth
from tests.disks import fill, small_disk


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
    journal = Journal(tmp_path / "j.sqlite3", on_commit=committed.extend)
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


async def test_the_published_mark_costs_no_commit_of_its_own(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.open()
    for n in range(3):
        journal.append(record(journal, n))
    await journal.flush()
    commits = journal.commits
    journal.mark_published(3)
    journal.append(record(journal, 3))
    await journal.flush()
    assert journal.commits == commits + 1  # the mark rode on the next group commit
    journal.mark_published(4)
    await journal.close()  # and the last one is written at close
    again = Journal(tmp_path / "j.sqlite3")
    again.open()
    assert again.published == 4
    await again.close()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk", 2) as mount:
        yield mount


async def wait_for(condition: object, what: str) -> None:
    for _ in range(500):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_full_disk_holds_presses_until_space_returns(disk: Path) -> None:
    committed: list[Record] = []
    reports: list[JournalHealth] = []
    journal = Journal(
        disk / "j.sqlite3",
        retry_ms=20,
        min_free_mb=1,
        on_commit=committed.extend,
        on_health=reports.append,
    )
    journal.open()
    first = [record(journal, n) for n in range(10)]
    for rec in first:
        journal.append(rec)
    await journal.flush()
    ballast = fill(disk)

    held = [record(journal, n) for n in range(10, 400)]
    for rec in held:
        journal.append(rec)
    await wait_for(lambda: journal.health.failed, "the write to fail")
    assert "full" in journal.health.failure
    assert journal.pending == len(held)
    assert committed == first, "nothing is reported durable while the disk is full"
    await wait_for(lambda: journal.health.low_space, "the low-space warning")

    ballast.unlink()
    await journal.flush()
    assert committed == first + held
    assert not journal.health.failed
    assert journal.failures >= 1
    assert any(r.failed for r in reports)
    assert not reports[-1].failed
    await journal.close()
    assert list(journal.records()) == first + held
