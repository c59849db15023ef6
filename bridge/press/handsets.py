"""The bridge's handset table: every handset heard this session, as the technician sees it.

It is published whole (``ars/bridge/{bridge}/handsets``) at most every second while handsets
are heard. An entry is made again only for a handset heard since the last table, or whose
fault flags may have changed: at 50,000 handsets, rebuilding every entry each second would
take a large share of the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.press.watch import FaultWatch


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
    """Each handset's health, and its table entries as last made."""

    def __init__(self) -> None:
        self.health: dict[str, HandsetHealth] = {}
        self._entries: dict[str, dict[str, Any]] = {}
        self._stale: set[str] = set()  # heard since their entries were last made
        self._flagged: set[str] = set()  # handsets with flags in the last table
        self._untold: set[str] = set()  # entries made again since the last take_untold
        self._heard_since = False  # a handset heard since the last take_untold

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
        """Whether a handset was heard since the last :meth:`take_untold`."""
        return self._heard_since

    def entries(self, watch: FaultWatch) -> dict[str, dict[str, Any]]:
        """Every handset's entry, with its flags from ``watch``."""
        flagged = set(watch.handsets)
        stale, self._stale = self._stale | flagged | self._flagged, set()
        self._flagged = flagged
        self._untold |= stale
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
                "flags": watch.flags_of(handset),
            }
        return dict(entries)

    def take_untold(self) -> set[str]:
        """The handsets whose entries changed since the last call (for in-process readers)."""
        untold, self._untold = self._untold, set()
        self._heard_since = False
        return untold
