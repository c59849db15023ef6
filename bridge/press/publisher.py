"""Vote batches: journaled records go to the tally per receiver, batched, QoS 1, and are sent
again until the tally says it has made them durable.

Records arrive here only once the journal has committed them. Every flush (the first record
at once, then at most every ``batch_interval_ms`` while records keep coming, or as soon as
``batch_max`` records wait) is one *cycle*: it covers the journal ids ``(lo, hi]`` committed
since the previous cycle, and sends one message per receiver (more for a large receiver) on
``ars/rx/{receiver}/votes``::

    {"bridge": "bridge1", "receiver": "rx1", "boot": 1764700000.1, "batch": 17,
     "cover": [800, 812], "part": 1, "parts": 2, "dup": 4,
     "presses": [{"id": 812, "t": 1764700012.4, "hs": "428071B3", "k": "A",
                  "a": "A", "r": "q2", "d": "counted"}, ...]}

``batch`` counts up per receiver for each ``boot`` of the bridge. The tally knows a cycle is
whole when all its ``parts`` are in, and acknowledges, on ``ars/bridge/{bridge}/acked``, the
highest id up to which every cycle is whole *and* durable on its side. That mark, not the
broker's PUBACK, is what the journal keeps as ``published``: records above it are sent again
after a reconnect, a restart, a new tally (failover) or ``resend_after_s`` without progress,
as one cycle covering ``(mark, last sent]``. The tally counts each ``(bridge, id)`` once, so
a resend never counts twice, and correctness does not rest on the broker's delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import msgspec

from bridge.event.votes import PUBLISHED, Decision, Record
from bridge.mqtt.link import MqttLink, payload_bytes
from bridge.mqtt.topics import Topics
from bridge.press.journal import Journal

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pending:
    records: list[Record] = field(default_factory=list)
    duplicates: int = 0


class VotePublisher:
    """Collects committed records, publishes them as cycles of batches, and resends what the
    tally has not acknowledged."""

    def __init__(
        self,
        link: MqttLink,
        topics: Topics,
        journal: Journal,
        *,
        bridge_id: str,
        interval_s: float = 0.05,
        batch_max: int = 500,
        resend_after_s: float = 5.0,
        resend_max_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._link = link
        self._topics = topics
        self._journal = journal
        self._bridge = bridge_id
        self._interval = interval_s
        self._max = batch_max
        self._resend_after = resend_after_s
        self._resend_max = resend_max_s
        self._clock = clock
        self._boot = round(time.time(), 3)
        self._pending: dict[str, _Pending] = {}
        self._waiting = 0
        self._high = 0  # the highest committed record id handed over
        self._sent = 0  # the highest id covered by a cycle sent
        self._wake = asyncio.Event()
        self._batch: dict[str, int] = {}
        self._tally: str | None = None  # the tally instance that acknowledges us
        self._epoch = 0  # its lease epoch: messages of an older one are ignored
        self._progress_at = clock()  # when the mark last moved (or a resend went out)
        self._resend_wait = resend_after_s
        self._resend_due = False
        self._connects = 0
        self.batches = 0
        self.sent = 0
        self.resends = 0
        self.bad_acks = 0
        # A tally in this process: told of each part as it is sent, with its cover
        # ``(bridge, lo, hi, part, parts)``, so that it need not decode the bus's copy.
        self.local_sink: Callable[[list[Record], tuple[str, int, int, int, int]], None] | None
        self.local_sink = None
        link.subscribe(topics.bridge_acked(bridge_id), self._on_acked)
        link.subscribe(topics.tally_state, self._on_tally)

    # Input.

    def start_from_journal(self) -> None:
        """After a restart: everything the journal holds above the mark is to be sent again."""
        self._high = max(self._high, self._journal.last_id)
        self._sent = max(self._sent, self._journal.last_id)
        if self._sent > self._journal.published:
            self._resend_due = True
            self._wake.set()

    def enqueue(self, records: list[Record]) -> None:
        """Take records the journal has committed (called on the event loop)."""
        for rec in records:
            if rec.id > self._high:
                self._high = rec.id
            pending = self._pending.get(rec.receiver)
            if pending is None:
                # Every receiver with a record in the cycle sends a part, even one with only
                # duplicates or bad frames in it, so the tally sees the whole range covered.
                pending = self._pending[rec.receiver] = _Pending()
            if rec.decision in PUBLISHED:
                pending.records.append(rec)
                self._waiting += 1
            elif rec.decision is Decision.DUPLICATE:
                pending.duplicates += 1
        self._wake.set()

    def _on_acked(self, message: aiomqtt.Message) -> None:
        try:
            doc = json.loads(payload_bytes(message))
            upto, tally, epoch = int(doc["upto"]), str(doc["tally"]), int(doc["epoch"])
        except (ValueError, KeyError, TypeError) as exc:
            self.bad_acks += 1
            log.warning("ignoring malformed acknowledgement on %s: %s", message.topic, exc)
            return
        self._take_mark(upto, tally, epoch)

    def _on_tally(self, message: aiomqtt.Message) -> None:
        try:
            doc = json.loads(payload_bytes(message))
            tally, state, epoch = str(doc["tally"]), str(doc["state"]), int(doc["epoch"])
            marks: dict[str, Any] = doc.get("marks") or {}
            upto = int(marks.get(self._bridge, 0))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self.bad_acks += 1
            log.warning("ignoring malformed tally state on %s: %s", message.topic, exc)
            return
        if state == "active":
            self._take_mark(upto, tally, epoch)

    def _take_mark(self, upto: int, tally: str, epoch: int) -> None:
        if epoch < self._epoch or (epoch == self._epoch and tally != self._tally):
            return  # a tally that has lost its lease, or a second one claiming the same
        self._epoch = epoch
        if upto > max(self._sent, self._journal.last_id):
            # A mark above anything this bridge ever journaled is not about our journal.
            self.bad_acks += 1
            log.warning(
                "ignoring acknowledgement up to %d from tally %s: beyond id %d",
                upto,
                tally,
                self._journal.last_id,
            )
            return
        if tally != self._tally:
            # A new tally (a restart, a standby taking over) has what its own record holds:
            # its mark may be lower than the last one's, and everything above is sent again.
            if self._tally is not None:
                log.info("tally %s took over at record %d; sending again from there", tally, upto)
            self._tally = tally
            self._journal.rewind_published(upto)
            self._resend_due = self._sent > upto
            self._wake.set()
        if upto > self._journal.published:
            self._journal.mark_published(upto)
            self._progress_at = self._clock()
            self._resend_wait = self._resend_after

    # State.

    @property
    def backlog(self) -> int:
        """Records committed but not yet sent."""
        return self._waiting

    @property
    def unacknowledged(self) -> int:
        """Journal ids sent but not yet acknowledged durable by the tally."""
        return max(0, self._sent - self._journal.published)

    # Sending.

    async def run(self) -> None:
        """Send on the leading edge, then at most every interval while records keep coming;
        resend after a reconnect or when the tally stops acknowledging."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_left())
            self._wake.clear()
            if self._link.connects != self._connects:
                first = self._connects == 0
                self._connects = self._link.connects
                if not first and self.unacknowledged:
                    self._resend_due = True
            if self.unacknowledged and self._clock() - self._progress_at >= self._resend_wait:
                self._resend_due = True
                self._resend_wait = min(self._resend_wait * 2, self._resend_max)
            if self._resend_due:
                self._resend_due = False
                await self.resend()
            await self.flush()
            await asyncio.sleep(self._interval)

    def _interval_left(self) -> float:
        if not self.unacknowledged:
            return self._resend_after
        return max(0.0, self._resend_wait - (self._clock() - self._progress_at))

    async def flush(self) -> None:
        """Send everything waiting as one cycle."""
        if not self._pending and self._high <= self._sent:
            return
        pending, self._pending = self._pending, {}
        self._waiting = 0
        lo, hi = self._sent, max(self._high, self._sent)
        self._sent = hi
        await self._send_cycle(lo, hi, pending)

    async def resend(self) -> None:
        """Send again, as one cycle, every record above the tally's mark."""
        lo, hi = self._journal.published, self._sent
        if hi <= lo:
            return
        pending: dict[str, _Pending] = {}
        records = await asyncio.to_thread(
            lambda: [r for r in self._journal.records(after_id=lo) if r.id <= hi]
        )
        for rec in records:
            item = pending.setdefault(rec.receiver, _Pending())
            if rec.decision in PUBLISHED:
                item.records.append(rec)
        self.resends += 1
        self._progress_at = self._clock()
        log.info("sending records %d..%d again (%d presses)", lo + 1, hi, len(records))
        await self._send_cycle(lo, hi, pending)

    async def _send_cycle(self, lo: int, hi: int, pending: dict[str, _Pending]) -> None:
        parts: list[tuple[str, list[Record], int]] = []
        for receiver, item in pending.items():
            records = item.records
            for start in range(0, max(len(records), 1), self._max):
                chunk = records[start : start + self._max]
                parts.append((receiver, chunk, item.duplicates if start == 0 else 0))
        for number, (receiver, chunk, duplicates) in enumerate(parts, 1):
            await self._send(receiver, chunk, duplicates, (lo, hi), number, len(parts))

    async def _send(
        self,
        receiver: str,
        chunk: list[Record],
        duplicates: int,
        cover: tuple[int, int],
        part: int,
        parts: int,
    ) -> None:
        n = self._batch.get(receiver, 0) + 1
        self._batch[receiver] = n
        payload = {
            "bridge": self._bridge,
            "receiver": receiver,
            "boot": self._boot,
            "batch": n,
            "cover": list(cover),
            "part": part,
            "parts": parts,
            "dup": duplicates,
            "presses": [r.to_wire() for r in chunk],
        }
        data = msgspec.json.encode(payload)
        if self.local_sink is not None:
            self.local_sink(chunk, (self._bridge, cover[0], cover[1], part, parts))
        await self._link.publish(self._topics.rx_votes(receiver), data, qos=1)
        self.batches += 1
        self.sent += len(chunk)
