"""The tally of one round, and recounts of it from the journal.

:class:`RoundTally` is pure: it takes journal records (as published in vote batches) and keeps
each handset's first and last answer, so the round's policy can change without replaying, and
it renders the snapshot that displays receive. :func:`recount` runs journaled presses through
a fresh :class:`bridge.press.intake.Intake` and a fresh tally, under the live rules or under another
policy or grace period.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge.event.rounds import RoundState
from bridge.event.votes import COUNTABLE, Decision, Policy, Record
from bridge.press.intake import Intake
from drivers.base import Press


class Seating(Protocol):
    """Who holds a handset: the segment and table of its participant (from the roster)."""

    def seat_of(self, handset: str) -> tuple[str, str] | None:
        """``(segment, table)`` of the participant paired with ``handset``, if any."""

    @property
    def paired(self) -> int:
        """How many handsets are paired with participants."""

    def seated(self) -> dict[str, int]:
        """Participants per table."""


class SeatingPlan:
    """:class:`Seating` from the roster's published form (``ars/roster``)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self._seats = {
            str(h): (str(seat[0]), str(seat[1])) for h, seat in dict(doc.get("seats", {})).items()
        }
        self._tables = {str(t): int(n) for t, n in dict(doc.get("tables", {})).items()}

    def seat_of(self, handset: str) -> tuple[str, str] | None:
        return self._seats.get(handset)

    @property
    def paired(self) -> int:
        return len(self._seats)

    def seated(self) -> dict[str, int]:
        return self._tables


@dataclass(slots=True)
class _Answer:
    t: float
    id: int
    answer: str


@dataclass(slots=True)
class RoundTally:
    """Counts of one round under its policy; fed record by record."""

    state: RoundState
    seating: Seating | None = None
    min_segment: int = 5
    first: dict[str, _Answer] = field(default_factory=dict)
    last: dict[str, _Answer] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    final: bool = False
    revision: int = 0
    _high: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = dict.fromkeys(self.state.question.keys, 0)

    @property
    def policy(self) -> Policy:
        return self.state.policy

    def set_state(self, state: RoundState) -> None:
        """A new revision of the round's state; a change of policy or question recounts."""
        old = self.state
        self.state = state
        if old.policy != state.policy or old.question != state.question:
            self._rebuild()

    def apply(self, rec: Record, source: str = "") -> bool:
        """Count ``rec`` if it is new and countable; True when the counts may have changed.

        ``source`` names the bridge: record ids grow per bridge, so an id at or below the
        highest one seen from that bridge is a redelivery and ignored.
        """
        if rec.id <= self._high.get(source, 0):
            return False
        self._high[source] = rec.id
        self.decisions[rec.decision.value] = self.decisions.get(rec.decision.value, 0) + 1
        if rec.decision not in COUNTABLE or rec.answer is None:
            return True
        entry = _Answer(rec.t, rec.id, rec.answer)
        handset = rec.handset
        current = self.answer_of(handset)
        if rec.decision is Decision.COUNTED and handset not in self.first:
            self.first[handset] = entry
        held = self.last.get(handset)
        if held is None or (entry.t, entry.id) >= (held.t, held.id):
            self.last[handset] = entry
        after = self.answer_of(handset)
        if after != current:
            self._add(current, -1)
            self._add(after, +1)
        return True

    def answer_of(self, handset: str) -> str | None:
        book = self.first if self.state.policy is Policy.FIRST else self.last
        entry = book.get(handset)
        return entry.answer if entry is not None else None

    def answers(self) -> dict[str, str]:
        book = self.first if self.state.policy is Policy.FIRST else self.last
        return {hs: a.answer for hs, a in book.items()}

    def _add(self, answer: str | None, sign: int) -> None:
        if answer is None:
            return
        for key, points in self.state.question.points(answer).items():
            self.counts[key] = self.counts.get(key, 0) + sign * points

    def _rebuild(self) -> None:
        self.counts = dict.fromkeys(self.state.question.keys, 0)
        for answer in self.answers().values():
            self._add(answer, +1)

    # Rendering.

    def snapshot(
        self, *, heard: int | None = None, now: float | None = None, full: bool = True
    ) -> dict[str, Any]:
        """The JSON-ready tally; ``full=False`` leaves the counts out (results not visible)."""
        state = self.state
        question = state.question
        book = self.first if state.policy is Policy.FIRST else self.last
        voters = len(book)
        # Tables and segments go through every voter's answer: only with a roster to go by
        # (a snapshot follows every change, and an audience can be 50,000 strong).
        answers = self.answers() if self.seating is not None and self.seating.paired else {}
        summary = question.summarise(self.counts, voters)
        paired = self.seating.paired if self.seating is not None else 0
        heard_n = heard  # None: this process has not heard the bridges' handset tables
        out: dict[str, Any] = {
            "round": state.round,
            "theme": state.theme,
            "title": state.title,
            "question": question.to_public(),
            "policy": state.policy.value,
            "visibility": state.visibility.value,
            "status": state.status.value,
            "final": self.final,
            "attempt": state.attempt,
            "voters": voters,
            "cast": voters,
            "turnout": {
                "voters": voters,
                "paired": paired,
                "heard": heard_n,
                "percent_paired": _pct(voters, paired),
                "percent_heard": _pct(voters, heard_n) if heard_n is not None else None,
            },
            "min_segment": self.min_segment,
            "windows": [w.model_dump() for w in state.windows],
            "opened_at": state.opened_at,
            "closed_at": state.closed_at,
            "deadline": state.deadline,
            "remaining_s": state.remaining_s,
            "decisions": dict(self.decisions),
            "revision": self.revision,
            "ts": round(time.time() if now is None else now, 3),
        }
        # Which tables have voted says who voted, never what: it stays while results are hidden.
        out["tables"] = self._tables(answers)
        if full:
            out["counts"] = {k: _num(v) for k, v in self.counts.items()}
            out["percent"] = summary.get("percent", {})
            out["summary"] = summary
            out["segments"] = self._segments(answers)
        else:
            out["hidden"] = True
        return out

    def _segments(self, answers: dict[str, str]) -> dict[str, Any]:
        if self.seating is None:
            return {}
        groups: dict[str, list[str]] = {}
        for handset, answer in answers.items():
            seat = self.seating.seat_of(handset)
            if seat is not None:
                groups.setdefault(seat[0], []).append(answer)
        question = self.state.question
        out: dict[str, Any] = {}
        for segment, group in sorted(groups.items()):
            if len(group) < self.min_segment:
                # Not even the group's size: with it, a split could be worked out by others.
                out[segment] = {"suppressed": True}
                continue
            counts: dict[str, float] = dict.fromkeys(question.keys, 0)
            for answer in group:
                for key, points in question.points(answer).items():
                    counts[key] = counts.get(key, 0) + points
            summary = question.summarise(counts, len(group))
            out[segment] = {
                "voters": len(group),
                "suppressed": False,
                "counts": {k: _num(v) for k, v in counts.items()},
                "percent": summary.get("percent", {}),
            }
        return out

    def _tables(self, answers: dict[str, str]) -> dict[str, Any]:
        if self.seating is None:
            return {}
        voted: dict[str, int] = {}
        for handset in answers:
            seat = self.seating.seat_of(handset)
            if seat is not None:
                voted[seat[1]] = voted.get(seat[1], 0) + 1
        return {
            table: {
                "seated": seated,
                "voted": voted.get(table, 0),
                "complete": voted.get(table, 0) >= seated,
            }
            for table, seated in sorted(self.seating.seated().items(), key=_table_order)
        }


def _table_order(item: tuple[str, int]) -> tuple[int, str]:
    name = item[0]
    return (int(name), name) if name.isdigit() else (1 << 30, name)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 3)


def recount(
    records: Iterable[Record],
    state: RoundState,
    *,
    policy: Policy | None = None,
    grace_s: float | None = None,
    echo_window_s: float = 2.0,
    seating: Seating | None = None,
    min_segment: int = 5,
) -> RoundTally:
    """The round's tally recomputed from journaled presses, optionally under other rules.

    Only presses are replayed (bad frames are not); their decisions are taken afresh, so a
    longer grace period can admit presses that were late live, and ``policy`` can switch
    between first and last answer.
    """
    if policy is not None:
        state = state.model_copy(update={"policy": policy})
    intake = Intake(echo_window_s=echo_window_s, grace_s=grace_s)
    intake.update_round(state)
    tally = RoundTally(state, seating=seating, min_segment=min_segment)
    for rec in records:
        if rec.decision is Decision.BAD_FRAME:
            continue
        press = Press(rec.receiver, rec.handset, rec.key, rec.t, rec.seq, rec.rssi, rec.battery)
        tally.apply(intake.decide(press, rec.id))
    return tally
