"""The event's own records beside the press journal: round states, the agenda, the roster,
the results archive and the audit trail.

They live in the journal's SQLite file, so one file holds everything an export or a recount
needs. Writes are rare (a round changes a few times a minute) and go through one worker
thread, in order, so the event loop never waits on an fsync; closing the store waits for
the writes already handed to it, so none is cut off (or left running on a closed file).
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bridge.event.rounds import RoundState
from bridge.press.journal import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS rounds (
    round TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (name TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    t REAL NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    round TEXT,
    params TEXT NOT NULL
);
"""

AGENDA = "agenda"
ROSTER = "roster"
PAIRINGS = "pairings"  # the pairing history, bridge.event.pairing.PairingLedger as JSON
BUS_ROSTER = "bus/roster"  # a bridge of its own: the last roster the bus gave it, for a restart


class EventStore:
    """Round states (highest revision wins), the agenda and the roster, in SQLite."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._writer: ThreadPoolExecutor | None = None

    def open(self) -> None:
        """Open the file (once; opening an open store does nothing)."""
        if self._db is not None:
            return
        db = connect(self.path)
        db.executescript(SCHEMA)
        self._db = db
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-store")

    def close(self) -> None:
        """Finish the writes handed over so far, then close the file."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        if self._db is not None:
            self._db.close()
            self._db = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.open()
        assert self._db is not None
        return self._db

    # Writing.

    async def save_round(self, state: RoundState) -> None:
        """Keep ``state`` unless a higher revision of the round is stored already."""
        await self._write(
            "INSERT INTO rounds (round, revision, state) VALUES (?, ?, ?) "
            "ON CONFLICT(round) DO UPDATE SET revision = excluded.revision, "
            "state = excluded.state WHERE excluded.revision > rounds.revision",
            (state.round, state.revision, state.model_dump_json()),
        )

    async def delete_round(self, round_id: str) -> None:
        await self._write("DELETE FROM rounds WHERE round = ?", (round_id,))

    async def save_document(self, name: str, body: str) -> None:
        await self._write(
            "INSERT INTO documents (name, body) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET body = excluded.body",
            (name, body),
        )

    async def _write(self, sql: str, args: tuple[object, ...]) -> None:
        await asyncio.wrap_future(self.submit(sql, args))

    def submit(self, sql: str, args: tuple[object, ...]) -> Future[None]:
        """Hand a write to the writer now, without waiting for it (the audit trail)."""
        db = self._conn()
        assert self._writer is not None
        # One worker: writes run one at a time, in the order they were asked for.
        return self._writer.submit(_execute, db, sql, args)

    # Reading.

    def rounds(self) -> list[RoundState]:
        """Every stored round, in the order they were first stored."""
        rows = self._conn().execute("SELECT state FROM rounds ORDER BY rowid").fetchall()
        return [RoundState.model_validate_json(row[0]) for row in rows]

    def document(self, name: str) -> str | None:
        row = self._conn().execute("SELECT body FROM documents WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def audit_rows(self, round_id: str | None = None) -> list[tuple[Any, ...]]:
        """Rows of the audit trail in order (see :mod:`bridge.desk.audit`)."""
        sql = "SELECT id, t, role, action, round, params FROM audit"
        if round_id is None:
            return self._conn().execute(sql + " ORDER BY id").fetchall()
        return self._conn().execute(sql + " WHERE round = ? ORDER BY id", (round_id,)).fetchall()

    def documents(self, prefix: str) -> list[tuple[str, str]]:
        """``(name, body)`` of every document whose name starts with ``prefix``, by name."""
        rows = (
            self._conn()
            .execute(
                "SELECT name, body FROM documents WHERE substr(name, 1, ?) = ? ORDER BY name",
                (len(prefix), prefix),
            )
            .fetchall()
        )
        return [(str(name), str(body)) for name, body in rows]


def _execute(db: sqlite3.Connection, sql: str, args: tuple[object, ...]) -> None:
    db.execute(sql, args)
