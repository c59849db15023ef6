"""The tally of one round, and recounts of it from the journal.

:class:`RoundTally` is pure: it takes journal records (as published in vote batches) and keeps
each voter's first and last answer, so the round's policy can change without replaying, and
it renders the snapshot that displays receive. A voter is the participant who held the
handset at the press's time (one vote per person, across a handset swap), or the handset
itself in a round that counts unpaired handsets. :func:`recount` runs journaled presses through
a fresh :class:`bridge.press.intake.Intake` and a fresh tally, under the live rules or under another
policy or grace period.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bridge.event.pairing import PairingLedger, PairingView
from bridge.event.rounds import RoundState
from bridge.event.votes import COUNTABLE, Decision, Policy, Record
from bridge.press.anonymity import is_participant_pseudonym
from bridge.press.intake import Intake
from bridge.tally.columns import Presses, RecordIds
from bridge.tally.disclosure import suppressed_groups
from bridge.tally.seating import PARTICIPANT, RecordedPairings, Seating, voter_for, voter_of
from drivers.base import Press


@dataclass(slots=True)
class RoundTally:
    """Counts of one round under its policy; fed record by record."""

    state: RoundState
    seating: Seating | None = None
    min_segment: int = 5
    # Each voter's first and last answer, as the index of its press in ``presses``.
    first: dict[str, int] = field(default_factory=dict)
    last: dict[str, int] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    presses: Presses = field(default_factory=Presses)  # countable ones, to attribute again
    final: bool = False
    revision: int = 0
    frozen: dict[str, Any] | None = None  # the final results document, fixed when final
    # Anonymous rounds: who voted comes apart from the answers, as tables' turnout from the
    # bridges, or as the participants journaled (a recount).
    turnout: dict[str, int] = field(default_factory=dict)
    participants: set[str] | None = None
    _seen: dict[str, RecordIds] = field(default_factory=dict)  # per bridge

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

    def set_seating(self, seating: Seating | None) -> None:
        """A new roster or pairing: presses are attributed again, unless the results are
        final (a final result is frozen; only an amendment changes it)."""
        if self.final:
            return
        self.seating = seating
        self.first.clear()
        self.last.clear()
        presses = self.presses
        for i in range(len(presses)):
            self._take(i, voter_for(presses.handset[i], presses.t[i], presses.voter[i], seating))
        self._rebuild()

    def apply(self, rec: Record, source: str = "") -> bool:
        """Count ``rec`` if it is new and countable; True when the counts may have changed.

        ``source`` names the bridge: record ids are unique per bridge, so an id already taken
        from that bridge is a redelivery and ignored, in whatever order records arrive (a
        recount after a restart, a bridge resending what was never acknowledged).
        """
        seen = self._seen.get(source)
        if seen is None:
            seen = self._seen[source] = RecordIds()
        if not seen.add(rec.id):
            return False
        self.decisions[rec.decision.value] = self.decisions.get(rec.decision.value, 0) + 1
        if rec.decision not in COUNTABLE or rec.answer is None:
            return True
        i = self.presses.add(
            rec.t, rec.id, rec.handset, rec.answer, rec.decision is Decision.COUNTED, rec.voter
        )
        voter = voter_of(rec, self.seating)
        current = self.answer_of(voter)
        self._take(i, voter)
        after = self.answer_of(voter)
        if after != current:
            self._add(current, -1)
            self._add(after, +1)
        return True

    def _take(self, i: int, voter: str) -> None:
        """File press ``i`` under its voter: one vote per participant, whichever of their
        handsets (a swap) it came from."""
        presses = self.presses
        order = presses.order(i)
        if presses.counted[i]:
            first = self.first.get(voter)
            if first is None or order < presses.order(first):
                self.first[voter] = i
        last = self.last.get(voter)
        if last is None or order >= presses.order(last):
            self.last[voter] = i

    def answer_of(self, voter: str) -> str | None:
        book = self.first if self.state.policy is Policy.FIRST else self.last
        i = book.get(voter)
        return self.presses.answer[i] if i is not None else None

    def answers(self) -> dict[str, str]:
        """Each voter's counted answer (``p:{participant}``, or the handset's ID)."""
        book = self.first if self.state.policy is Policy.FIRST else self.last
        answer = self.presses.answer
        return {voter: answer[i] for voter, i in book.items()}

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
        # Turnout by participant, tables, segments and groups go through every voter's answer:
        # only with a roster (or pseudonyms) to go by, since a snapshot follows every change
        # and an audience can be 50,000 strong. Without either (or with a roster nobody was
        # ever paired in), no voter is a participant.
        seated = self.seating is not None and bool(self.seating.ledger.pairings)
        answers = self.answers() if seated or state.anonymous else {}
        summary = question.summarise(self.counts, voters)
        paired = self.seating.paired if self.seating is not None else 0
        # Turnout of the delegates counts the participants who voted (a handset they held
        # when they pressed), never more than all of them, however many unpaired handsets
        # vote besides. An anonymous round's voters are pseudonyms of participants.
        paired_voters = sum(
            1 for v in answers if v.startswith(PARTICIPANT) or is_participant_pseudonym(v)
        )
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
                "paired_voters": paired_voters,
                "unpaired_voters": voters - paired_voters,
                "heard": heard_n,
                "percent_paired": _pct(paired_voters, paired),
                "percent_heard": _pct(min(voters, heard_n), heard_n)
                if heard_n is not None
                else None,
            },
            "min_segment": self.min_segment,
            "windows": [w.model_dump() for w in state.windows],
            "opened_at": state.opened_at,
            "closed_at": state.closed_at,
            "deadline": state.deadline,
            "remaining_s": state.remaining_s,
            "decisions": dict(self.decisions),
            # Presses from handsets nobody held: kept, not counted; the technician pairs them.
            "held": self.decisions.get(Decision.UNKNOWN_HANDSET.value, 0),
            "revision": self.revision,
            "ts": round(time.time() if now is None else now, 3),
        }
        # Which tables have voted says who voted, never what: it stays while results are hidden.
        out["tables"] = self._tables(answers)
        if state.anonymous:
            out["anonymous"] = True
        if full:
            out["counts"] = {k: _num(v) for k, v in self.counts.items()}
            out["percent"] = summary.get("percent", {})
            out["summary"] = summary
            # An anonymous round is not broken down by group: a small table or segment
            # would come close to naming its voters.
            out["segments"] = {} if state.anonymous else self._segments(answers)
            out["groups"] = {} if state.anonymous else self._groups(answers)
        else:
            out["hidden"] = True
        return out

    def _segments(self, answers: dict[str, str]) -> dict[str, Any]:
        if self.seating is None:
            return {}

        def segment_of(voter: str) -> str | None:
            seat = self._seat(voter)
            return seat[0] if seat is not None else None

        return self._split(answers, segment_of)

    def _groups(self, answers: dict[str, str]) -> dict[str, Any]:
        """Results by each declared grouping, suppressed group by group like segments."""
        if self.seating is None:
            return {}

        def group_in(members: dict[str, str]) -> Callable[[str], str | None]:
            def group_of(voter: str) -> str | None:
                if not voter.startswith(PARTICIPANT):
                    return None  # an unpaired handset counted as it is belongs to no group
                return members.get(voter.removeprefix(PARTICIPANT))

            return group_of

        return {
            grouping: self._split(answers, group_in(members))
            for grouping, members in self.seating.groups().items()
        }

    def _split(
        self, answers: dict[str, str], group_of: Callable[[str], str | None]
    ) -> dict[str, Any]:
        groups: dict[str, list[str]] = {}
        for voter, answer in answers.items():
            name = group_of(voter)
            if name is not None:  # "" is a group too: participants with no segment
                groups.setdefault(name, []).append(answer)
        question = self.state.question
        out: dict[str, Any] = {}
        # Small groups, and enough others that subtracting from the totals yields none of them.
        hidden = suppressed_groups({g: len(a) for g, a in groups.items()}, self.min_segment)
        for segment, group in sorted(groups.items()):
            if segment in hidden:
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

    def _anonymous_turnout(self) -> dict[str, int]:
        if self.participants is None or self.seating is None:
            return dict(self.turnout)
        voted: dict[str, int] = {}
        for participant in self.participants:
            seat = self.seating.seat_of(participant)
            if seat is not None and seat[1]:
                voted[seat[1]] = voted.get(seat[1], 0) + 1
        return voted

    def _seat(self, voter: str) -> tuple[str, str] | None:
        if self.seating is None or not voter.startswith(PARTICIPANT):
            return None
        return self.seating.seat_of(voter.removeprefix(PARTICIPANT))

    def _tables(self, answers: dict[str, str]) -> dict[str, Any]:
        if self.seating is None:
            return {}
        if self.state.anonymous:
            voted = self._anonymous_turnout()
        else:
            voted = {}
            for voter in answers:
                seat = self._seat(voter)
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
    participants: Iterable[str] | None = None,
) -> RoundTally:
    """The round's tally recomputed from journaled presses, optionally under other rules.

    Only presses are replayed (bad frames are not); their decisions are taken afresh, so a
    longer grace period can admit presses that were late live, and ``policy`` can switch
    between first and last answer. ``seating`` brings the pairing history: presses are
    held, and attributed to participants, as they were live.
    """
    if policy is not None:
        state = state.model_copy(update={"policy": policy})
    records = list(records)
    ledger = seating.ledger if seating is not None else PairingLedger()
    pairings: PairingView = RecordedPairings(records, ledger) if state.anonymous else ledger
    intake = Intake(echo_window_s=echo_window_s, grace_s=grace_s, pairings=lambda: pairings)
    intake.update_round(state)
    tally = RoundTally(state, seating=seating, min_segment=min_segment)
    if participants is not None:
        tally.participants = set(participants)
    # Records are numbered afresh: merged journals of several bridges repeat each other's ids.
    for number, rec in enumerate(records, 1):
        if rec.decision in (Decision.BAD_FRAME, Decision.SUSPECT):
            continue  # a held press stays out of every count until the delegate presses again
        press = Press(rec.receiver, rec.handset, rec.key, rec.t, rec.seq, rec.rssi, rec.battery)
        again = intake.decide(press, number)
        again.voter = rec.voter
        tally.apply(again)
    return tally
