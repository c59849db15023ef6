"""What the journal records about each press, and the per-round counting rules."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from sys import intern


class Decision(enum.StrEnum):
    """The journal's verdict on one press; only COUNTED and CHANGED can enter a tally."""

    COUNTED = "counted"  # first answer of this handset in the round
    CHANGED = "changed"  # a genuine change of answer in the round
    DUPLICATE = "duplicate"  # retransmit, base re-report, or the same press from another receiver
    STALE = "stale"  # a late echo of an answer older than the handset's current one
    LATE = "late"  # arrived after the round closed and its grace period ended
    CLOSED = "closed"  # no round was open
    # Held: no participant held the handset at the time, and the round counts paired ones only.
    UNKNOWN_HANDSET = "unknown_handset"
    INVALID = "invalid"  # a key the round's question does not accept
    BAD_FRAME = "bad_frame"  # failed a checksum, ID check or layout check
    SUSPECT = "suspect"  # looks forged (bridge.press.watch); held for the technician


COUNTABLE = frozenset({Decision.COUNTED, Decision.CHANGED})


class Policy(enum.StrEnum):
    """Which of a handset's answers counts in a round."""

    LAST = "last"
    FIRST = "first"


class Unpaired(enum.StrEnum):
    """What a round does, with a roster loaded, with presses from handsets nobody holds."""

    HOLD = "hold"  # journaled and shown to the technician, never counted: one person, one vote
    COUNT = "count"  # counted as the handset's own vote (events without pairing)


# Decisions the bridge publishes to the tally engine; duplicates and bad frames stay in the
# journal (and in the counters) only.
PUBLISHED = frozenset(Decision) - {Decision.DUPLICATE, Decision.BAD_FRAME}


@dataclass(slots=True)
class Record:
    """One journal row: a press (or a bad frame) with the decision taken on it.

    ``answer`` is the handset's answer after this press (for multi-select and ranking it
    combines earlier presses); only countable decisions carry one. In an anonymous round
    ``handset`` is the handset's pseudonym and ``voter`` the pseudonym of the participant who
    held it (see :mod:`bridge.press.anonymity`).
    """

    id: int
    t: float
    receiver: str
    handset: str
    key: str
    decision: Decision
    round: str | None = None
    answer: str | None = None
    seq: int | None = None
    rssi: int | None = None
    battery: int | None = None
    detail: str = ""
    voter: str | None = None
    bridge: str = ""  # the bridge that journaled it, where records of several are merged

    def to_wire(self) -> dict[str, object]:
        """The compact form used in vote batches (absent values left out)."""
        out: dict[str, object] = {
            "id": self.id,
            "t": self.t,
            "hs": self.handset,
            "k": self.key,
            "d": self.decision.value,
        }
        if self.round is not None:
            out["r"] = self.round
        if self.answer is not None:
            out["a"] = self.answer
        if self.seq is not None:
            out["seq"] = self.seq
        if self.rssi is not None:
            out["rssi"] = self.rssi
        if self.battery is not None:
            out["bat"] = self.battery
        if self.voter is not None:
            out["v"] = self.voter
        return out

    @classmethod
    def from_wire(cls, receiver: str, item: dict[str, object]) -> Record:
        """Inverse of :meth:`to_wire`; bad input raises KeyError, ValueError or TypeError."""

        def opt_int(name: str) -> int | None:
            v = item.get(name)
            return None if v is None else int(v)  # type: ignore[call-overload]

        r = item.get("r")
        a = item.get("a")
        v = item.get("v")
        return cls(
            id=int(item["id"]),  # type: ignore[call-overload]
            t=float(item["t"]),  # type: ignore[arg-type]
            receiver=receiver,
            handset=intern(str(item["hs"])),  # one string per handset in a tally's memory
            key=str(item["k"]),
            decision=Decision(str(item["d"])),
            round=None if r is None else str(r),
            answer=None if a is None else str(a),
            seq=opt_int("seq"),
            rssi=opt_int("rssi"),
            battery=opt_int("bat"),
            voter=None if v is None else str(v),
        )
