"""Pairing history: which participant held which handset, and when.

A press belongs to the participant its handset was paired with at the press's time, so a
swap mid-round, a loaner handed out and taken back, or a handset paired after a round never
moves a press to another person. Every pairing is an interval ``[start, end)``; pairing a
participant with another handset ends the old interval and starts a new one. The ledger
also remembers since when a roster has been loaded: with one loaded, presses from handsets
no participant held are held, not counted (unless the event counts them).

The ledger is plain data: the desk keeps it in the event store and publishes it on
``ars/roster``, bridges and the tally read it, and a recount reads the stored one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

OPEN_END = math.inf


class Pairing(BaseModel):
    """One handset held by one participant from ``start`` until ``end`` (None: still held)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    handset: str = Field(min_length=1, max_length=40)
    participant: str = Field(min_length=1, max_length=40)
    start: float
    end: float | None = None
    loaner: bool = False  # a spare handed out for a while, to be taken back
    note: str = Field("", max_length=200)  # why: "swap", "amendment 2", ...

    def covers(self, t: float) -> bool:
        return self.start <= t < (OPEN_END if self.end is None else self.end)


class PairingView(Protocol):
    """What deciding on a press needs of the pairing history."""

    def holder_at(self, handset: str, t: float) -> str | None:
        """The participant who held ``handset`` at ``t``, if anyone did."""

    def roster_loaded_at(self, t: float) -> bool:
        """Whether a roster with participants was loaded at ``t``."""


class PairingLedger:
    """Every pairing there has been, in the order they started."""

    def __init__(
        self, pairings: Iterable[Pairing] = (), loaded: Iterable[tuple[float, float | None]] = ()
    ) -> None:
        self.pairings: list[Pairing] = list(pairings)
        self.loaded: list[tuple[float, float | None]] = list(loaded)
        self._by_handset: dict[str, list[Pairing]] | None = None  # built on the first query

    # Queries.

    def holder_at(self, handset: str, t: float) -> str | None:
        """The participant who held ``handset`` at ``t``, if anyone did (the pairing added
        last wins, so an amendment's correction takes precedence)."""
        if self._by_handset is None:
            index: dict[str, list[Pairing]] = {}
            for p in self.pairings:
                index.setdefault(p.handset, []).append(p)
            self._by_handset = index
        for p in reversed(self._by_handset.get(handset, ())):
            if p.covers(t):
                return p.participant
        return None

    def roster_loaded_at(self, t: float) -> bool:
        """Whether a roster with participants was loaded at ``t``."""
        return any(start <= t < (OPEN_END if end is None else end) for start, end in self.loaded)

    def current(self) -> dict[str, Pairing]:
        """The open pairings, by handset."""
        return {p.handset: p for p in self.pairings if p.end is None}

    def during(self, start: float, end: float | None) -> list[Pairing]:
        """The pairings that overlap ``[start, end]`` (end None: up to now)."""
        stop = OPEN_END if end is None else end
        return [
            p
            for p in self.pairings
            if p.start <= stop and (OPEN_END if p.end is None else p.end) > start
        ]

    # Changes.

    def follow(
        self,
        held: Mapping[str, str],
        t: float,
        *,
        participants: int,
        loaners: Iterable[str] = (),
        note: str = "",
    ) -> list[Pairing]:
        """Bring the ledger in line with ``held`` (handset -> participant) as of ``t``.

        Open pairings that ``held`` no longer has end at ``t``; new ones start at ``t``,
        marked as loaners when their handset is in ``loaners``. Returns the pairings
        started. ``participants`` is how many the roster has (0: no roster loaded).
        """
        loaner_set = set(loaners)
        self._by_handset = None
        out: list[Pairing] = []
        for i, p in enumerate(self.pairings):
            if p.end is None and held.get(p.handset) != p.participant:
                self.pairings[i] = p.model_copy(update={"end": t})
        open_now = self.current()
        for handset, participant in held.items():
            if handset not in open_now:
                pairing = Pairing(
                    handset=handset,
                    participant=participant,
                    start=t,
                    loaner=handset in loaner_set,
                    note=note,
                )
                self.pairings.append(pairing)
                out.append(pairing)
        is_loaded = bool(self.loaded) and self.loaded[-1][1] is None
        if participants and not is_loaded:
            self.loaded.append((t, None))
        elif not participants and is_loaded:
            self.loaded[-1] = (self.loaded[-1][0], t)
        return out

    def add(self, pairing: Pairing) -> None:
        """Record a pairing as given (an amendment's correction of the past)."""
        self.pairings.append(pairing)
        self._by_handset = None

    # Documents.

    def to_doc(self) -> dict[str, Any]:
        return {
            "pairings": [p.model_dump(exclude_defaults=True) for p in self.pairings],
            "loaded": [list(span) for span in self.loaded],
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> PairingLedger:
        """Inverse of :meth:`to_doc`; bad input raises ValueError or TypeError."""
        pairings = [Pairing.model_validate(p) for p in doc.get("pairings", [])]
        loaded = [(float(s), None if e is None else float(e)) for s, e in doc.get("loaded", [])]
        return cls(pairings, loaded)
