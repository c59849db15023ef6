"""The press journal: every press and its decision, durable in SQLite before anything else.

One writer thread owns the write connection. Records queue up from the event loop and are
written in group commits: the writer takes everything waiting (up to ``commit_max``), inserts it
with one ``executemany`` and commits once, so one fsync covers many presses. The event loop is
told which records are durable through ``on_commit``; only then are they published or
acknowledged. The database runs in WAL mode with ``synchronous=FULL``, so a committed record
survives a crash or power loss.

``published`` in the meta table is the highest record id whose vote batch the broker has
acknowledged; after a restart, records above it are published again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bridge.event.votes import Decision, Record

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS presses (
    id INTEGER PRIMARY KEY,
    t REAL NOT NULL,
    receiver TEXT NOT NULL,
    handset TEXT NOT NULL,
    key TEXT NOT NULL,
    decision TEXT NOT NULL,
    round TEXT,
    answer TEXT,
    seq INTEGER,
    rssi INTEGER,
    battery INTEGER,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS presses_round ON presses (round, id);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Who voted in an anonymous round, never what or when: no time, and kept in key order.
-- ``since``: the round's last reset (0 before any), whose presses alone count.
CREATE TABLE IF NOT EXISTS participation (
    round TEXT NOT NULL,
    since REAL NOT NULL,
    participant TEXT NOT NULL,
    PRIMARY KEY (round, since, participant)
) WITHOUT ROWID;
"""

COLUMNS = (
    "id, t, receiver, handset, key, decision, round, answer, seq, rssi, battery, detail, voter"
)
_INSERT = f"INSERT INTO presses ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
KEY_PREFIX = "round-key/"  # meta rows holding an anonymous round's pseudonym key


class JournalError(Exception):
    """The journal cannot be opened or written; the service stops rather than lose presses."""


def _row(rec: Record) -> tuple[object, ...]:
    return (
        rec.id,
        rec.t,
        rec.receiver,
        rec.handset,
        rec.key,
        rec.decision.value,
        rec.round,
        rec.answer,
        rec.seq,
        rec.rssi,
        rec.battery,
        rec.detail,
        rec.voter,
    )


# Rows come back in the column types of SCHEMA, so they need no conversion.
def _record(row: tuple[Any, ...]) -> Record:
    (id_, t, receiver, handset, key, decision, round_, answer, seq, rssi, battery, detail) = row[
        :12
    ]
    return Record(
        id_,
        t,
        receiver,
        handset,
        key,
        Decision(decision),
        round_,
        answer,
        seq,
        rssi,
        battery,
        detail,
        row[12],
    )


def _purge_wal(db: sqlite3.Connection, wait_ms: int) -> bool:
    """Move the WAL into the database and truncate it, so a destroyed key's old page
    versions leave the files (secure_delete zeroed the row itself). True when a reader held
    the file and it is to be tried again after the next commit; presses never wait long."""
    db.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
    try:
        (busy, _, _) = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        db.execute("PRAGMA busy_timeout=5000")
    return bool(busy)


def _apply(db: sqlite3.Connection, others: list[tuple[str, str, str]]) -> bool:
    """Write participation and key changes; True when a key was destroyed."""
    forgotten = False
    for kind, round_id, value in others:
        if kind == "participated":
            since, _, name = round_id.partition("/")
            db.execute(
                "INSERT OR IGNORE INTO participation (round, since, participant) VALUES (?, ?, ?)",
                (name, float(since), value),
            )
        elif kind == "key":
            db.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)",
                (KEY_PREFIX + round_id, value),
            )
        elif kind == "forget":
            db.execute("DELETE FROM meta WHERE name = ?", (KEY_PREFIX + round_id,))
            forgotten = True
    return forgotten


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the journal at ``path`` with the schema in place."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(presses)")}
        if "voter" not in columns:  # a journal written before anonymous rounds
            db.execute("ALTER TABLE presses ADD COLUMN voter TEXT")
    except (OSError, sqlite3.Error) as exc:
        raise JournalError(
            f"journal {path} cannot be opened ({exc}); check [journal] path"
        ) from None
    return db


_STOP = object()


class Journal:
    """Durable append-only journal with group commit on a writer thread."""

    def __init__(
        self,
        path: Path,
        *,
        commit_interval_ms: int = 5,
        commit_max: int = 2000,
        on_commit: Callable[[list[Record]], None] | None = None,
        key_purge_wait_ms: int = 50,
    ) -> None:
        self.path = path
        self._purge_wait_ms = key_purge_wait_ms
        self._linger = commit_interval_ms / 1000.0
        self._commit_max = commit_max
        self.on_commit = on_commit  # told which records are durable, on the event loop
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_id = 1
        self._appended = 0
        self._committed = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._failure: BaseException | None = None
        self.published = 0
        self.commits = 0

    # Lifecycle.

    def open(self) -> None:
        """Open the database and start the writer; call from the event loop's thread."""
        self._loop = asyncio.get_running_loop()
        db = connect(self.path)
        db.execute("PRAGMA secure_delete=ON")  # a destroyed round key is overwritten on disk
        (max_id,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM presses").fetchone()
        row = db.execute("SELECT value FROM meta WHERE name='published'").fetchone()
        self.published = int(row[0]) if row else 0
        self._next_id = int(max_id) + 1
        self._thread = threading.Thread(
            target=self._writer, args=(db,), name="journal", daemon=True
        )
        self._thread.start()

    async def close(self) -> None:
        """Write everything queued, then stop the writer."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None
        await asyncio.sleep(0)  # let the last commit notifications run

    # The hot path.

    def next_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def append(self, rec: Record) -> None:
        """Queue ``rec`` for the next group commit."""
        if self._failure is not None:
            raise JournalError(f"journal {self.path} failed: {self._failure}")
        self._appended += 1
        self._queue.put(rec)

    def participated(self, round_id: str, since: float | None, participant: str) -> None:
        """Record that ``participant`` voted in an anonymous round (not what, not when);
        ``since`` is the round's last reset."""
        self._queue.put(("participated", f"{since or 0.0!r}/{round_id}", participant))

    def keep_key(self, round_id: str, key: bytes) -> None:
        """Keep an anonymous round's pseudonym key until :meth:`forget_key` (restarts)."""
        self._queue.put(("key", round_id, key.hex()))

    def forget_key(self, round_id: str) -> None:
        """Destroy a round's pseudonym key: overwritten in the file, the WAL truncated."""
        self._queue.put(("forget", round_id, ""))

    def round_keys(self) -> dict[str, bytes]:
        """The pseudonym keys of anonymous rounds still kept."""
        db = connect(self.path)
        try:
            rows = db.execute(
                "SELECT name, value FROM meta WHERE substr(name, 1, ?) = ?",
                (len(KEY_PREFIX), KEY_PREFIX),
            ).fetchall()
        finally:
            db.close()
        return {str(n).removeprefix(KEY_PREFIX): bytes.fromhex(str(v)) for n, v in rows}

    def participants(self, round_id: str, since: float | None = None) -> list[str]:
        """Who voted in an anonymous round since its last reset, in ID order."""
        db = connect(self.path)
        try:
            rows = db.execute(
                "SELECT participant FROM participation WHERE round = ? AND since = ? "
                "ORDER BY participant",
                (round_id, since or 0.0),
            ).fetchall()
        finally:
            db.close()
        return [str(r[0]) for r in rows]

    def mark_published(self, record_id: int) -> None:
        """Remember that every record up to ``record_id`` reached the broker."""
        if record_id > self.published:
            self.published = record_id
            self._queue.put(("published", record_id))

    async def flush(self) -> None:
        """Wait until everything appended so far is committed."""
        target = self._appended
        if self._committed >= target:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, fut))
        await fut

    # Reading (separate connections; safe from any thread while the writer runs).

    def unpublished(self) -> list[Record]:
        """Records above the published watermark, in id order."""
        return list(self.records(after_id=self.published))

    def records(self, *, round_id: str | None = None, after_id: int = 0) -> Iterator[Record]:
        """Journal rows in id order, optionally for one round."""
        db = connect(self.path)
        try:
            if round_id is None:
                cur = db.execute(
                    f"SELECT {COLUMNS} FROM presses WHERE id > ? ORDER BY id", (after_id,)
                )
            else:
                cur = db.execute(
                    f"SELECT {COLUMNS} FROM presses WHERE round = ? AND id > ? ORDER BY id",
                    (round_id, after_id),
                )
            for row in cur:
                yield _record(row)
        finally:
            db.close()

    # The writer thread.

    def _writer(self, db: sqlite3.Connection) -> None:
        stop = False
        purge = False  # a destroyed key's old pages may still be in the WAL
        while not stop:
            batch: list[Record] = []
            published: int | None = None
            others: list[tuple[str, str, str]] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, Record):
                    batch.append(item)
                elif isinstance(item, tuple) and item[0] == "published":
                    published = max(published or 0, int(item[1]))
                elif isinstance(item, tuple):
                    others.append(item)
                if stop or len(batch) >= self._commit_max:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    if self._linger <= 0 or not batch or len(batch) > 64:
                        break
                    try:
                        item = self._queue.get(timeout=self._linger)
                    except queue.Empty:
                        break
            if not batch and published is None and not others:
                continue
            try:
                db.execute("BEGIN")
                if batch:
                    db.executemany(_INSERT, [_row(r) for r in batch])
                if published is not None:
                    db.execute(
                        "INSERT INTO meta (name, value) VALUES ('published', ?) "
                        "ON CONFLICT(name) DO UPDATE SET value = excluded.value "
                        "WHERE CAST(value AS INTEGER) < CAST(excluded.value AS INTEGER)",
                        (str(published),),
                    )
                purge = _apply(db, others) or purge
                db.execute("COMMIT")
                if purge:
                    purge = _purge_wal(db, self._purge_wait_ms)
            except sqlite3.Error as exc:
                log.critical("journal %s: write failed: %s", self.path, exc)
                self._failure = exc
                stop = True
                continue
            self.commits += 1
            if batch and self._loop is not None:
                # At shutdown the loop may be gone already; the records are on disk.
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._committed_batch, batch)
        db.close()

    def _committed_batch(self, batch: list[Record]) -> None:
        self._committed += len(batch)
        if self.on_commit is not None:
            self.on_commit(batch)
        if self._waiters:
            done = [w for w in self._waiters if w[0] <= self._committed]
            self._waiters = [w for w in self._waiters if w[0] > self._committed]
            for _, fut in done:
                if not fut.done():
                    fut.set_result(None)
