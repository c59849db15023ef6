"""The tally's own record: every press it counted, from every bridge, durable before it is
acknowledged back to the bridge that sent it.

Rows live in the tally process's SQLite file (table ``tally_presses``, keyed by bridge and
record id, so a resend is stored once), beside the marks: per bridge, the journal id up to
which every cycle of vote batches is whole and durable here. A bridge keeps every record above
that mark and sends it again, so the tally never has to trust the broker's delivery.

In a process that runs the bridge role too, that bridge's records are already durable in its
journal (the same file), so they are not written twice: only other bridges' records go here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bridge.event.votes import Record
from bridge.press.journal import COLUMNS, connect, record_of, row_of

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS tally_presses (
    bridge TEXT NOT NULL,
    id INTEGER NOT NULL,
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
    detail TEXT NOT NULL DEFAULT '',
    voter TEXT,
    PRIMARY KEY (bridge, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tally_presses_round ON tally_presses (round, t);
CREATE TABLE IF NOT EXISTS tally_marks (bridge TEXT PRIMARY KEY, upto INTEGER NOT NULL);
"""

_COLUMNS = f"bridge, {COLUMNS}"  # the journal's columns, after the bridge they came from
_INSERT = f"INSERT OR IGNORE INTO tally_presses ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
_MARK = (
    "INSERT INTO tally_marks (bridge, upto) VALUES (?, ?) "
    "ON CONFLICT(bridge) DO UPDATE SET upto = excluded.upto"
)
MAX_PARTS = 10_000  # one cycle of a bridge never needs more batches than this


class CoverError(ValueError):
    """A batch whose cycle fields cannot be true."""


Token = tuple[str, int, int, int, int]  # bridge, lo, hi, part, parts


def token_of(bridge: str, cover: object, part: object, parts: object) -> Token:
    """The cycle a batch belongs to, checked; raises :class:`CoverError`."""
    if not isinstance(cover, list | tuple) or len(cover) != 2:
        raise CoverError(f"cover {cover!r} is not a pair of record ids")
    try:
        lo, hi = int(cover[0]), int(cover[1])
        n, of = int(part), int(parts)  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise CoverError(f"cover/part/parts malformed: {exc}") from None
    if not 0 <= lo < hi or not 1 <= n <= of <= MAX_PARTS:
        raise CoverError(f"cover ({lo}, {hi}] part {n} of {of} is impossible")
    return (bridge, lo, hi, n, of)


@dataclass(slots=True)
class Coverage:
    """Which journal ids of one bridge are held: whole cycles merged into a mark."""

    mark: int = 0
    _parts: dict[tuple[int, int], set[int]] = field(default_factory=dict)
    _whole: list[tuple[int, int]] = field(default_factory=list)

    def add(self, lo: int, hi: int, part: int, parts: int) -> bool:
        """One part of cycle ``(lo, hi]`` is durable; True when the mark moved."""
        if hi <= self.mark:
            return False
        got = self._parts.setdefault((lo, hi), set())
        got.add(part)
        if len(got) < parts:
            return False
        del self._parts[(lo, hi)]
        self._whole.append((lo, hi))
        return self._advance()

    def _advance(self) -> bool:
        before = self.mark
        moved = True
        while moved:
            moved = False
            for lo, hi in self._whole:
                if lo <= self.mark < hi:
                    self.mark = hi
                    moved = True
        self._whole = [(lo, hi) for lo, hi in self._whole if hi > self.mark]
        self._parts = {k: v for k, v in self._parts.items() if k[1] > self.mark}
        return self.mark > before


_STOP = object()


class Ledger:
    """The tally's durable record, written in group commits on a thread of its own."""

    def __init__(
        self,
        path: Path,
        *,
        retry_ms: int = 500,
        on_durable: Callable[[list[Token]], None] | None = None,
    ) -> None:
        self.path = path
        self._retry_s = retry_ms / 1000
        self.on_durable = on_durable
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._marks: dict[str, int] = {}
        self.commits = 0
        self.failure = ""

    def open(self) -> dict[str, int]:
        """Open the file and start the writer; the marks it holds, per bridge."""
        self._loop = asyncio.get_running_loop()
        db = connect(self.path)
        db.executescript(SCHEMA)
        marks = {str(b): int(u) for b, u in db.execute("SELECT bridge, upto FROM tally_marks")}
        self._thread = threading.Thread(target=self._writer, args=(db,), name="ledger", daemon=True)
        self._thread.start()
        return marks

    async def close(self) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    def add(self, bridge: str, records: list[Record], token: Token) -> None:
        """Keep ``records`` of ``bridge``; ``token`` is reported durable once they are."""
        self._queue.put((bridge, records, token))

    def set_mark(self, bridge: str, upto: int) -> None:
        """Remember ``bridge``'s mark; written with the next commit."""
        self._queue.put((bridge, upto))

    def records(self, round_id: str | None = None) -> Iterator[tuple[str, Record]]:
        """``(bridge, record)`` in time order, optionally of one round."""
        db = connect(self.path)
        try:
            exists = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tally_presses'"
            ).fetchone()
            if not exists:
                return
            where, args = ("WHERE round = ?", (round_id,)) if round_id is not None else ("", ())
            cur = db.execute(
                f"SELECT {_COLUMNS} FROM tally_presses {where} ORDER BY t, bridge, id",
                args,
            )
            for row in cur:
                yield str(row[0]), record_of(row[1:])
        finally:
            db.close()

    def _writer(self, db: sqlite3.Connection) -> None:
        stop = False
        rows: list[tuple[object, ...]] = []
        tokens: list[Token] = []
        while True:
            if not stop:
                item = self._queue.get() if not rows else self._take_nowait()
                while item is not None:
                    if item is _STOP:
                        stop = True
                    elif isinstance(item, tuple) and len(item) == 3:
                        bridge, records, token = item
                        rows.extend((bridge, *row_of(r)) for r in records)
                        tokens.append(token)
                    elif isinstance(item, tuple):
                        self._marks[str(item[0])] = int(item[1])
                    item = self._take_nowait()
            if rows or tokens or self._marks:
                marks, self._marks = self._marks, {}
                try:
                    db.execute("BEGIN")
                    db.executemany(_INSERT, rows)
                    db.executemany(_MARK, list(marks.items()))
                    db.execute("COMMIT")
                except sqlite3.Error as exc:
                    if db.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            db.execute("ROLLBACK")
                    if not self.failure:
                        log.critical("tally record %s: write failed (%s); retrying", self.path, exc)
                    self.failure = str(exc)
                    self._marks = {**marks, **self._marks}
                    if stop:
                        break
                    threading.Event().wait(self._retry_s)
                    continue
                if self.failure:
                    log.warning("tally record %s: writing again", self.path)
                    self.failure = ""
                self.commits += 1
                done, rows, tokens = tokens, [], []
                if done and self._loop is not None and self.on_durable is not None:
                    with contextlib.suppress(RuntimeError):
                        self._loop.call_soon_threadsafe(self.on_durable, done)
            if stop:
                break
        db.close()

    def _take_nowait(self) -> object | None:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None
