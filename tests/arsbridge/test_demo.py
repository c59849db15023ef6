"""``arsbridge demo`` as ``make demo`` runs it: it starts, serves the API, and the tally moves."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

LINE = re.compile(r"voters (\d+)")


async def test_demo_serves_the_api_and_shows_the_tally_moving(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "ARS_BROKER_PORT": str(free_port())}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arsbridge.cli",
        "demo",
        "--rounds",
        "1",
        "--voting-s",
        "4",
        "--port",
        str(port),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    voters: list[int] = []
    health = None
    try:
        async with asyncio.timeout(60):
            while line := (await proc.stdout.readline()).decode():
                if "API" in line and health is None:
                    async with httpx.AsyncClient() as http:
                        health = (await http.get(f"http://127.0.0.1:{port}/api/v1/health")).json()
                if (m := LINE.search(line)) is not None:
                    voters.append(int(m.group(1)))
                if "final:" in line:
                    break
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            await proc.wait()
    assert health is not None
    assert health["status"] == "ok"
    assert health["receivers"]["rx1"]["online"] is True
    assert len(voters) >= 3
    assert voters[-1] > 150, "most of the 220 delegates voted"
    assert voters == sorted(voters), "the tally moves up as votes arrive"
    assert [p.name for p in (tmp_path / "var").glob("*.sqlite3")] == ["demo.sqlite3"]


async def test_each_demo_replaces_the_last_demos_journal_and_never_one_in_use(
    tmp_path: Path,
) -> None:
    from arsbridge.demo import JOURNAL, fresh_journal
    from bridge.press.journal import Journal, JournalError

    path = tmp_path / "var" / JOURNAL
    journal = Journal(path)
    journal.open()
    try:
        with pytest.raises(JournalError, match="in use by another arsbridge process"):
            fresh_journal(path)
        assert path.exists()
    finally:
        await journal.close()
    assert fresh_journal(path) == path
    assert sorted(p.name for p in path.parent.iterdir()) == [f"{JOURNAL}.lock"]
