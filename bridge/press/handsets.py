"""The bridge's handset table: every handset heard this session, as the technician sees it.

Its changes go out at most every second while handsets are heard, the whole table now and
then (:mod:`bridge.mqtt.handset_tables`). An entry is made again only for a handset heard since
the last change message, or whose fault flags may have changed: at 50,000 handsets, rebuilding
every entry each second would take a large share of the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from bridge.mqtt.link import MqttLink
from bridge.press.watch import FaultWatch

log = logging.getLogger(__name__)

# Change messages of the handset table kept while the link is down (about two minutes of
# them); past that the whole table replaces them once the link is back.
TABLE_OUTBOX_MAX = 120

# The flags of an entry without any: one shared (empty) sequence instead of a list each.
NO_FLAGS: tuple[dict[str, Any], ...] = ()


@dataclass(slots=True)
class HandsetHealth:
    """What a technician sees per handset: when and where it was last heard, and how well."""

    handset: str
    receiver: str
    last_heard: float
    presses: int = 0
    held: int = 0  # presses held because nobody held the handset: the technician pairs it
    rssi: int | None = None
    battery: int | None = None


class HandsetTable:
    """Each handset's health, its table entries as last made, and what changed since the
    last change message."""

    def __init__(self) -> None:
        self.health: dict[str, HandsetHealth] = {}
        self.epoch = secrets.token_hex(6)  # new each time the bridge starts
        self.seq = 0  # the last change message's number
        self._entries: dict[str, dict[str, Any]] = {}
        self._stale: set[str] = set()  # heard since their entries were last made
        self._flagged: set[str] = set()  # handsets with flags when entries were last made
        self._unsent: set[str] = set()  # entries made again since the last change message
        self._heard_since = False  # a handset heard since the last change message

    def heard(
        self,
        handset: str,
        receiver: str,
        t: float,
        rssi: int | None,
        battery: int | None,
        presses: int,
    ) -> None:
        health = self.health.get(handset)
        if health is None:
            health = self.health[handset] = HandsetHealth(handset, receiver, t)
        health.receiver, health.last_heard = receiver, t
        health.presses += presses
        if rssi is not None:
            health.rssi = rssi
        if battery is not None:
            health.battery = battery
        self._stale.add(handset)
        self._heard_since = True

    def held(self, handset: str) -> None:
        """A press of ``handset`` was held: nobody held the handset."""
        self.health[handset].held += 1
        self._stale.add(handset)

    @property
    def changed(self) -> bool:
        """Whether a handset was heard since the last :meth:`take_changes`."""
        return self._heard_since

    def entries(self, watch: FaultWatch) -> dict[str, dict[str, Any]]:
        """Every handset's entry, with its flags from ``watch`` (the table itself: read it,
        never change it)."""
        flagged = set(watch.handsets)
        stale, self._stale = self._stale | flagged | self._flagged, set()
        self._flagged = flagged
        self._unsent |= stale
        entries = self._entries
        for handset in stale:
            h = self.health.get(handset)
            if h is None:
                entries.pop(handset, None)
                continue
            entries[handset] = {
                "rx": h.receiver,
                "last": round(h.last_heard, 3),
                "presses": h.presses,
                "held": h.held,
                "rssi": h.rssi,
                "bat": h.battery,
                "flags": watch.flags_of(handset) if handset in flagged else NO_FLAGS,
            }
        return entries

    def take_changes(self, watch: FaultWatch) -> dict[str, dict[str, Any] | None]:
        """The entries made again since the last call (None: the entry is gone), numbered
        as change ``seq``."""
        entries = self.entries(watch)
        unsent, self._unsent = self._unsent, set()
        self._heard_since = False
        self.seq += 1
        return {handset: entries.get(handset) for handset in unsent}


class TablePublication:
    """The handset table as it goes out: change messages, and now and then the whole table
    (``ars/bridge/{bridge}/handset_changes`` and ``.../handsets``, docs/mqtt.md)."""

    def __init__(
        self,
        table: HandsetTable,
        watch: FaultWatch,
        bridge_id: str,
        clock: Callable[[], float],
    ) -> None:
        self.table = table
        self.watch = watch
        self.bridge_id = bridge_id
        self._clock = clock
        # Told of each change message as it is taken (the document and its JSON): this
        # process's mirror takes it here instead of decoding its own message from the bus.
        self.listeners: list[Callable[[dict[str, Any], bytes], None]] = []
        self.outbox: deque[tuple[dict[str, Any], bytes]] = deque()  # taken, not yet sent
        self.whole_due = False  # change messages were dropped: the whole table is due
        self._whole_seq = -1  # the change number of the last whole table sent
        self._whole_after = 0.0  # loop time before which no whole table goes out again

    def whole(self) -> dict[str, Any]:
        """Every handset heard this session, with its flags, and the receivers' flags, as
        published on ``.../handsets`` (its ``handsets`` is the live table: read it only)."""
        return self._document(self.table.entries(self.watch))

    def _document(self, handsets: dict[str, Any]) -> dict[str, Any]:
        return {
            "bridge": self.bridge_id,
            "t": round(self._clock(), 3),
            "epoch": self.table.epoch,
            "seq": self.table.seq,
            "handsets": handsets,
            "receivers": self.watch.receivers_document(),
        }

    def take_changes(self) -> None:
        """Take the table's changes now, if any: this process's readers get them at once,
        the bus with the next :meth:`send`. The technician's board calls it before it reads,
        so that what it shows is never older than its request.

        While the link is down the change messages wait, up to ``TABLE_OUTBOX_MAX``; past
        that they are dropped and the whole table goes out instead once the link is back
        (readers see the gap, and the whole table puts them right)."""
        if not (self.table.changed or self.watch.changed):
            return
        self.watch.changed = False
        doc = self._document(self.table.take_changes(self.watch))
        data = msgspec.json.encode(doc)
        if len(self.outbox) >= TABLE_OUTBOX_MAX:
            self.outbox.clear()
            self.whole_due = True
        self.outbox.append((doc, data))
        for listener in self.listeners:
            try:
                listener(doc, data)
            except Exception:  # one reader's failure must not stop the others or the bus
                log.exception("a reader of the handset table's changes failed")

    async def send(
        self, link: MqttLink, changes_topic: str, whole_topic: str, whole_interval_s: float
    ) -> None:
        """Publish the change messages taken, in order, then the whole table (retained) if
        it changed and ``whole_interval_s`` has passed since the last one, or it is due."""
        while self.outbox:  # in order: a reader takes them by number
            doc, data = self.outbox[0]
            await link.publish(changes_topic, data, qos=1, doc=doc)
            if self.outbox and self.outbox[0][0] is doc:
                self.outbox.popleft()
        now = asyncio.get_running_loop().time()
        if self.table.seq != self._whole_seq and (self.whole_due or now >= self._whole_after):
            doc = self.whole()
            doc["handsets"] = dict(doc["handsets"])  # as it is now, for the readers kept
            self._whole_seq, self._whole_after = self.table.seq, now + whole_interval_s
            self.whole_due = False
            await link.publish(whole_topic, msgspec.json.encode(doc), qos=1, retain=True, doc=doc)
