"""The bridge's handset table: every handset heard this session, as the technician sees it.

Its changes go out at most every second while handsets are heard, the whole table now and
then (:mod:`bridge.mqtt.handset_tables`). An entry is made again only for a handset heard since
the last change message, or whose fault flags may have changed: at 50,000 handsets, rebuilding
every entry each second would take a large share of the event loop.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from bridge.press.watch import FaultWatch

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
