"""The press journal: every press and its decision, durable in SQLite before anything else.

One writer thread owns the write connection. Records queue up from the event loop and are
written in group commits: as soon as the writer is free it takes everything that arrived
meanwhile (up to ``commit_max``), inserts it with one ``executemany`` and commits once, so one
fsync covers many presses under load and a lone press waits for no timer. The event loop is
told which records are durable through ``on_commit``; only then are they published or
acknowledged. The database runs in WAL mode with ``synchronous=FULL``, so a committed record
survives a crash or power loss.

A write that fails (a full disk, an I/O error) loses nothing: the writer keeps the records,
reports the failure through ``on_health``, retries every ``retry_ms`` and reports the recovery
when a commit succeeds again. Meanwhile nothing is acknowledged or published. Free space below
``min_free_mb`` on the journal's file system is reported before it comes to that.

``published`` in the meta table is the highest record id up to which the tally has
acknowledged every record as durable on its side; after a restart, records above it are sent
again. The mark rides on the
next commit of records (and is written at close), so it costs no fsync of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import logging
import os
import queue
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


def row_of(rec: Record) -> tuple[object, ...]:
    """A record as a row of the presses table (``COLUMNS`` order)."""
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
def record_of(row: tuple[Any, ...]) -> Record:
    """A row of the presses table (``COLUMNS`` order) as a record."""
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


def _apply_done(others: list[tuple[str, str, str]]) -> bool:
    """True when the changes just committed destroyed a round key."""
    return any(kind == "forget" for kind, _, _ in others)


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


SQLITE_HEADER = b"SQLite format 3\x00"


def check_journal(path: Path) -> None:
    """Raise :class:`JournalError` unless ``path`` is an existing arsbridge journal.

    Looks without writing: a file that is not one must not be turned into one.
    """
    hint = "give the service's [journal] path with --journal"
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        raise JournalError(f"journal {path} does not exist; {hint}") from None
    except OSError as exc:
        raise JournalError(f"journal {path} cannot be read ({exc.strerror}); {hint}") from None
    if head != SQLITE_HEADER:
        raise JournalError(f"{path} is not an arsbridge journal (not a SQLite database); {hint}")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'presses'"
            ).fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise JournalError(f"journal {path} cannot be read ({exc}); {hint}") from None
    if found is None:
        raise JournalError(f"{path} is a SQLite database but not an arsbridge journal; {hint}")


def lock_writer(path: Path) -> int:
    """Take the journal's writer lock (``<path>.lock``) or raise :class:`JournalError`.

    Two services appending to one journal would hand out the same record ids; the lock is
    an ``flock`` that the kernel releases when the process ends, however it ends.
    """
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise JournalError(
            f"journal {path} cannot be opened ({exc.strerror}); check [journal] path"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise JournalError(
            f"journal {path} is in use by another arsbridge process (pid {holder}); stop it, "
            "or give this service its own journal with [journal] path or ARS_JOURNAL_PATH"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


_STOP = object()


@dataclass(frozen=True, slots=True)
class JournalHealth:
    """What the writer last found: a failed write, and the free space on the journal's disk."""

    failure: str = ""
    free_bytes: int | None = None
    low_space: bool = False
    queued: int = 0

    @property
    def failed(self) -> bool:
        return bool(self.failure)


class Journal:
    """Durable append-only journal with group commit on a writer thread."""

    def __init__(
        self,
        path: Path,
        *,
        bridge_id: str = "",
        commit_max: int = 2000,
        retry_ms: int = 500,
        min_free_mb: int = 0,
        on_commit: Callable[[list[Record]], None] | None = None,
        on_health: Callable[[JournalHealth], None] | None = None,
        key_purge_wait_ms: int = 50,
    ) -> None:
        self.path = path
        self.bridge_id = bridge_id  # kept in the file, so merged exports know whose it is
        self._purge_wait_ms = key_purge_wait_ms
        self._commit_max = commit_max
        self._retry_s = retry_ms / 1000.0
        self._min_free = min_free_mb * 1024 * 1024
        self.on_commit = on_commit  # told which records are durable, on the event loop
        self.on_health = on_health  # told when a write fails or recovers, or space runs low
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_id = 1
        self._appended = 0
        self._committed = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.health = JournalHealth()
        self._lock: int | None = None
        self.published = 0
        self._published_written = 0
        self.commits = 0
        self.failures = 0

    # Lifecycle.

    def open(self) -> None:
        """Open the database and start the writer; call from the event loop's thread."""
        self._loop = asyncio.get_running_loop()
        self._lock = lock_writer(self.path)
        try:
            db = connect(self.path)
        except JournalError:
            self._unlock()
            raise
        db.execute("PRAGMA secure_delete=ON")  # a destroyed round key is overwritten on disk
        (max_id,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM presses").fetchone()
        row = db.execute("SELECT value FROM meta WHERE name='published'").fetchone()
        self.published = self._published_written = int(row[0]) if row else 0
        if self.bridge_id:
            try:
                db.execute(
                    "INSERT INTO meta (name, value) VALUES ('bridge', ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    (self.bridge_id,),
                )
            except sqlite3.Error as exc:
                raise JournalError(f"journal {self.path} cannot be written ({exc})") from None
        self._next_id = int(max_id) + 1
        self.health = JournalHealth(free_bytes=self._free_bytes())
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
        self._unlock()
        await asyncio.sleep(0)  # let the last commit notifications run

    def _unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    # The hot path.

    def next_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def append(self, rec: Record) -> None:
        """Queue ``rec`` for the next group commit (held, not dropped, while writes fail)."""
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
        """Remember that the tally holds every record up to ``record_id`` durably."""
        if record_id > self.published:
            self.published = record_id

    def rewind_published(self, record_id: int) -> None:
        """A new tally holds less: records above ``record_id`` are to be sent again."""
        self.published = min(self.published, max(record_id, 0))

    @property
    def last_id(self) -> int:
        """The highest record id handed out so far."""
        return self._next_id - 1

    @property
    def pending(self) -> int:
        """Records appended but not yet durable."""
        return self._appended - self._committed

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
                yield record_of(row)
        finally:
            db.close()

    # The writer thread.

    def _writer(self, db: sqlite3.Connection) -> None:
        held: list[Record] = []  # taken from the queue, not yet committed
        stop = False
        others: list[tuple[str, str, str]] = []  # participation and round keys to write
        purge = False  # a destroyed key's old pages may still be in the WAL
        next_space_check = 0.0
        while True:
            now = time.monotonic()
            if now >= next_space_check:
                next_space_check = now + 1.0
                self._check_space()
            if not stop:
                stop = self._take(held, others)
            if held or others or stop:
                error = self._commit(db, held[: self._commit_max], others, final=stop)
                if error is None:
                    committed, held = held[: self._commit_max], held[self._commit_max :]
                    purge = _apply_done(others) or purge
                    others = []
                    self.commits += 1
                    if purge:
                        try:
                            purge = _purge_wal(db, self._purge_wait_ms)
                        except sqlite3.Error as exc:
                            log.warning("journal %s: WAL not truncated yet (%s)", self.path, exc)
                    if self.health.failed:  # said before the records are, so flush() sees it
                        log.warning("journal %s: writing again", self.path)
                        self._report(failure="")
                    if committed:
                        self._to_loop(self._committed_batch, committed)
                else:
                    if not self.health.failed:
                        log.critical(
                            "journal %s: write failed (%s); %d presses held in memory, "
                            "retrying every %d ms; nothing is acknowledged meanwhile",
                            self.path,
                            error,
                            len(held),
                            round(self._retry_s * 1000),
                        )
                    self.failures += 1
                    self._report(failure=error, queued=len(held))
                    if stop:
                        log.critical(
                            "journal %s: stopping with %d presses that could not be written",
                            self.path,
                            len(held),
                        )
                        break
                    time.sleep(self._retry_s)
                    continue
            if stop and not held:
                break
        db.close()

    def _take(self, held: list[Record], others: list[tuple[str, str, str]]) -> bool:
        """Take everything queued (waiting for it unless records are held); True on close()."""
        try:
            if held or others:
                item = self._queue.get_nowait()
            else:
                # Wake once a second for the space check when a threshold is set.
                item = self._queue.get(timeout=1.0 if self._min_free else None)
        except queue.Empty:
            return False
        while True:
            if item is _STOP:
                return True
            if isinstance(item, Record):
                held.append(item)
            elif isinstance(item, tuple):
                others.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False

    def _commit(
        self,
        db: sqlite3.Connection,
        batch: list[Record],
        others: list[tuple[str, str, str]],
        *,
        final: bool,
    ) -> str | None:
        """Write ``batch``, participation and round keys (and the published mark) in one
        transaction; the error, if any."""
        published = self.published
        write_mark = published != self._published_written and (bool(batch) or final)
        if not batch and not others and not write_mark:
            return None
        try:
            db.execute("BEGIN")
            if batch:
                db.executemany(_INSERT, [row_of(r) for r in batch])
            _apply(db, others)
            if write_mark:
                db.execute(
                    "INSERT INTO meta (name, value) VALUES ('published', ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    (str(published),),
                )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            return str(exc)
        if write_mark:
            self._published_written = published
        return None

    def _free_bytes(self) -> int | None:
        try:
            return shutil.disk_usage(self.path.parent).free
        except OSError:
            return None

    def _check_space(self) -> None:
        free = self._free_bytes()
        low = free is not None and free < self._min_free
        if low and not self.health.low_space:
            log.warning(
                "journal %s: %d MB free, below [journal] min_free_mb = %d",
                self.path,
                (free or 0) // (1024 * 1024),
                self._min_free // (1024 * 1024),
            )
        if low != self.health.low_space or free != self.health.free_bytes:
            self._report(free_bytes=free, low_space=low)

    def _report(self, **changes: Any) -> None:
        before = self.health
        self.health = dataclasses.replace(before, **{"queued": 0, **changes})
        if self.on_health is not None and (
            before.failure != self.health.failure or before.low_space != self.health.low_space
        ):
            self._to_loop(self.on_health, self.health)

    def _to_loop(self, fn: Callable[..., None], arg: Any) -> None:
        if self._loop is not None:
            # At shutdown the loop may be gone already; the records are on disk.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(fn, arg)

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
