"""Who a vote belongs to: the roster and pairing history as the tally needs them.

A voter is the participant who held the handset at the press's time (one vote per person,
across a handset swap), or the handset itself in a round that counts unpaired handsets; in
an anonymous round, the holder's pseudonym the record carries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from bridge.event.pairing import Pairing, PairingLedger
from bridge.event.votes import Record
from bridge.press.anonymity import is_participant_pseudonym


class Seating(Protocol):
    """The roster as the tally needs it: who held a handset when, and where they sit."""

    @property
    def ledger(self) -> PairingLedger:
        """The pairing history."""

    def seat_of(self, participant: str) -> tuple[str, str] | None:
        """``(segment, table)`` of a participant, if on the roster."""

    @property
    def paired(self) -> int:
        """How many handsets are paired with participants now."""

    def seated(self) -> dict[str, int]:
        """Participants per table."""

    def groups(self) -> dict[str, dict[str, str]]:
        """Each declared grouping (municipality, sector...): the group of each handset in it."""


class SeatingPlan:
    """:class:`Seating` from the roster's published form (``ars/roster``)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        people = dict(doc.get("people", {}))
        self._people = {str(p): (str(seat[0]), str(seat[1])) for p, seat in people.items()}
        self._tables = {str(t): int(n) for t, n in dict(doc.get("tables", {})).items()}
        self._groups = {
            str(g): {str(p): str(v) for p, v in dict(members).items()}
            for g, members in dict(doc.get("groups", {})).items()
        }
        if "pairings" in doc:
            self._ledger = PairingLedger.from_doc(doc)
        else:  # a roster document without history: each seat held since the epoch
            self._ledger = PairingLedger(
                [
                    Pairing(handset=str(h), participant=f"@{h}", start=0.0)
                    for h in dict(doc.get("seats", {}))
                ],
                [(0.0, None)] if doc.get("seats") else [],
            )
            for h, seat in dict(doc.get("seats", {})).items():
                self._people[f"@{h}"] = (str(seat[0]), str(seat[1]))

    @property
    def ledger(self) -> PairingLedger:
        return self._ledger

    def seat_of(self, participant: str) -> tuple[str, str] | None:
        return self._people.get(participant)

    @property
    def paired(self) -> int:
        return len(self._ledger.current())

    def seated(self) -> dict[str, int]:
        return self._tables

    def groups(self) -> dict[str, dict[str, str]]:
        return self._groups


PARTICIPANT = "p:"  # handset IDs never hold a colon, so the two kinds of voter never meet


def voter_of(rec: Record, seating: Seating | None) -> str:
    """Whose vote a countable record is: its handset's holder at the press's time, else the
    handset itself (a round that counts unpaired handsets)."""
    return voter_for(rec.handset, rec.t, rec.voter, seating)


def voter_for(handset: str, t: float, voter: str | None, seating: Seating | None) -> str:
    """Whose vote a press of ``handset`` at ``t`` is; ``voter``: an anonymous round's
    pseudonym of the holder, which the record carries."""
    if voter is not None:
        return voter
    if seating is not None:
        participant = seating.ledger.holder_at(handset, t)
        if participant is not None:
            return PARTICIPANT + participant
    return handset


class RecordedPairings:
    """The pairing of an anonymous round as its records carry it: a press was a participant's
    when its voter is a participant's pseudonym (the handsets are pseudonyms too)."""

    def __init__(self, records: Iterable[Record], ledger: PairingLedger) -> None:
        self._paired = {(r.handset, r.t) for r in records if is_participant_pseudonym(r.voter)}
        self._ledger = ledger

    def holder_at(self, handset: str, t: float) -> str | None:
        return "(a participant)" if (handset, t) in self._paired else None

    def roster_loaded_at(self, t: float) -> bool:
        return self._ledger.roster_loaded_at(t)
