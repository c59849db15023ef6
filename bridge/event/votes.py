"""What the journal records about each press, and the per-round counting rules."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Decision(enum.StrEnum):
    """The journal's verdict on one press; only COUNTED and CHANGED can enter a tally."""

    COUNTED = "counted"  # first answer of this handset in the round
    CHANGED = "changed"  # a genuine change of answer in the round
    DUPLICATE = "duplicate"  # retransmit, base re-report, or the same press from another receiver
    STALE = "stale"  # a late echo of an answer older than the handset's current one
    LATE = "late"  # arrived after the round closed and its grace period ended
    CLOSED = "closed"  # no round was open
    UNKNOWN_HANDSET = "unknown_handset"  # the round accepts paired handsets only
    INVALID = "invalid"  # a key the round's question does not accept
    BAD_FRAME = "bad_frame"  # failed a checksum, ID check or layout check


COUNTABLE = frozenset({Decision.COUNTED, Decision.CHANGED})


class Policy(enum.StrEnum):
    """Which of a handset's answers counts in a round."""

    LAST = "last"
    FIRST = "first"


# Decisions the bridge publishes to the tally engine; duplicates and bad frames stay in the
# journal (and in the counters) only.
PUBLISHED = frozenset(Decision) - {Decision.DUPLICATE, Decision.BAD_FRAME}


@dataclass(slots=True)
class Record:
    """One journal row: a press (or a bad frame) with the decision taken on it.

    ``answer`` is the handset's answer after this press (for multi-select and ranking it
    combines earlier presses); only countable decisions carry one.
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
