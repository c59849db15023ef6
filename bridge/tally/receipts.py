"""Receipts: the tally tells each bridge how far its records are whole and durable here.

For every vote batch the engine counts, :class:`Receipts` makes the records durable (the
:class:`~bridge.tally.ledger.Ledger`, or nothing more for the bridge in the same process, whose
journal already holds them), tracks each bridge's cycles (:class:`~bridge.tally.ledger.Coverage`)
and publishes the mark on ``ars/bridge/{bridge}/acked`` (retained). On start it announces
itself on ``ars/tally/state`` with its instance, lease epoch and every mark it holds, so that
bridges send again whatever it lacks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from bridge.event.votes import Record
from bridge.mqtt.link import MqttLink
from bridge.mqtt.topics import Topics
from bridge.tally.ledger import Coverage, Ledger, Token

log = logging.getLogger(__name__)


class Receipts:
    """Coverage per bridge, durable records, and acknowledgements on the bus."""

    def __init__(
        self,
        link: MqttLink,
        topics: Topics,
        *,
        ledger: Ledger | None = None,
        local_bridge: str | None = None,
        epoch: int = 1,
    ) -> None:
        self._link = link
        self._topics = topics
        self._ledger = ledger
        self._local = local_bridge
        self.tally_id = uuid.uuid4().hex[:12]
        self.epoch = epoch
        self.active = True  # only the active tally (the lease holder) acknowledges
        self.coverage: dict[str, Coverage] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self.acks = 0
        if ledger is not None:
            ledger.on_durable = self.durable

    def start_marks(self, marks: dict[str, int]) -> None:
        """Marks held before a restart (the ledger's, and the local journal's last id)."""
        for bridge, upto in marks.items():
            cov = self.coverage.setdefault(bridge, Coverage())
            cov.mark = max(cov.mark, upto)

    def received(self, bridge: str, records: list[Record], token: Token) -> None:
        """A batch was counted; make it durable, then it counts towards the mark."""
        if bridge == self._local or self._ledger is None:
            # The local journal holds these already (or, with no ledger, nothing more can).
            self.durable([token])
        else:
            self._ledger.add(bridge, records, token)

    def durable(self, tokens: list[Token]) -> None:
        """Ledger callback: these parts are durable."""
        for bridge, lo, hi, part, parts in tokens:
            cov = self.coverage.setdefault(bridge, Coverage())
            if cov.add(lo, hi, part, parts):
                self._dirty.add(bridge)
                if self._ledger is not None and bridge != self._local:
                    self._ledger.set_mark(bridge, cov.mark)
        if self._dirty:
            self._wake.set()

    def marks(self) -> dict[str, int]:
        return {bridge: cov.mark for bridge, cov in self.coverage.items()}

    async def announce(self) -> None:
        """Say, retained, which tally is active and what it holds of each bridge."""
        doc: dict[str, Any] = {
            "tally": self.tally_id,
            "epoch": self.epoch,
            "state": "active" if self.active else "standby",
            "marks": self.marks(),
        }
        await self._link.publish(self._topics.tally_state, json.dumps(doc), qos=1, retain=True)

    async def run(self) -> None:
        """Publish each bridge's mark as it moves, coalesced, until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self.active:
                continue
            dirty, self._dirty = self._dirty, set()
            for bridge in sorted(dirty):
                doc = {
                    "bridge": bridge,
                    "upto": self.coverage[bridge].mark,
                    "tally": self.tally_id,
                    "epoch": self.epoch,
                }
                await self._link.publish(
                    self._topics.bridge_acked(bridge), json.dumps(doc), qos=1, retain=True
                )
                self.acks += 1
