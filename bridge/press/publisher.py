"""Vote batches: journaled records go to the broker per receiver, batched, QoS 1.

Records arrive here only once the journal has committed them, and go out as soon as they do:
each commit wakes the publisher, which sends what is waiting as one message per receiver (at
most ``batch_max`` records each) on ``ars/rx/{receiver}/votes``; commits that land while it
waits for the broker's acknowledgements go in the next batch, so no timer adds latency and
batches grow with the load. Where a tally in the same process takes the records at commit,
the batches serve other processes only, and may wait ``linger_s`` to group commits::

    {"bridge": "bridge1", "receiver": "rx1", "boot": 1764700000.1, "batch": 17,
     "dup": 4, "presses": [{"id": 812, "t": 1764700012.4, "hs": "428071B3", "k": "A",
                            "a": "A", "r": "q2", "d": "counted"}, ...]}

``batch`` counts up per receiver from 1 for each ``boot`` of the bridge; a subscriber that sees
a gap knows it missed a batch. Duplicates are counted in ``dup`` but not sent. Once the broker
has acknowledged every batch of a cycle, the journal's published watermark moves up, so a
restarted bridge republishes what the broker never confirmed (the tally engine ignores
records it already has, by id).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from bridge.clock import Clock, SystemClock
from bridge.event.batches import VoteBatch, encode_batch, wire
from bridge.event.votes import PUBLISHED, Record
from bridge.mqtt.link import MqttLink
from bridge.mqtt.topics import Topics
from bridge.press.journal import Journal

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pending:
    records: list[Record] = field(default_factory=list)
    duplicates: int = 0


class VotePublisher:
    """Collects committed records and publishes them as per-receiver batches."""

    def __init__(
        self,
        link: MqttLink,
        topics: Topics,
        journal: Journal,
        *,
        bridge_id: str,
        batch_max: int = 500,
        linger_s: float = 0.0,
        clock: Clock | None = None,
    ) -> None:
        self._link = link
        self._topics = topics
        self._journal = journal
        self._bridge = bridge_id
        self._max = batch_max
        self._linger = linger_s
        self._clock = clock or SystemClock()
        self._boot = round(time.time(), 3)
        self._pending: dict[str, _Pending] = {}
        self._waiting = 0
        self._high = 0
        self._wake = asyncio.Event()
        self._batch: dict[str, int] = {}
        self.batches = 0
        self.sent = 0

    def enqueue(self, records: list[Record]) -> None:
        """Take records the journal has committed (called on the event loop)."""
        for rec in records:
            if rec.id > self._high:
                self._high = rec.id
            pending = self._pending.get(rec.receiver)
            if pending is None:
                pending = self._pending[rec.receiver] = _Pending()
            if rec.decision in PUBLISHED:
                pending.records.append(rec)
                self._waiting += 1
            elif rec.decision.value == "duplicate":
                pending.duplicates += 1
        self._wake.set()

    @property
    def backlog(self) -> int:
        """Records committed but not yet acknowledged by the broker."""
        return self._waiting

    async def run(self) -> None:
        """Publish whatever the journal committed, as soon as it did (or ``linger_s`` later,
        to group the presses of several commits), until cancelled."""
        while True:
            await self._wake.wait()
            if self._linger > 0:
                # Only where no display waits for the batch: the tally in this process has
                # taken the records at commit already.
                lingered = asyncio.Event()
                self._clock.call_at(self._clock.time() + self._linger, lingered.set)
                await lingered.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Publish everything waiting, then move the journal's published watermark."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        high, self._waiting = self._high, 0
        for receiver, item in pending.items():
            records = item.records
            for start in range(0, max(len(records), 1), self._max):
                chunk = records[start : start + self._max]
                if not chunk and not item.duplicates:
                    continue
                await self._send(receiver, chunk, item.duplicates if start == 0 else 0)
        self._journal.mark_published(high)

    async def _send(self, receiver: str, chunk: list[Record], duplicates: int) -> None:
        n = self._batch.get(receiver, 0) + 1
        self._batch[receiver] = n
        batch = VoteBatch(self._bridge, receiver, self._boot, n, duplicates, list(map(wire, chunk)))
        data = encode_batch(batch)
        await self._link.publish(self._topics.rx_votes(receiver), data, qos=1)
        self.batches += 1
        self.sent += len(chunk)
