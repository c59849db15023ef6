"""One person, one vote: pairing history, swaps, loaners and held presses, as the tally and
the exports see them."""

from __future__ import annotations

import csv
import io
import itertools

from bridge.clock import ManualClock
from bridge.desk.controller import RoundController
from bridge.desk.event_desk import held_handsets, seating_document
from bridge.event.pairing import PairingLedger
from bridge.event.questions import Question
from bridge.event.roster import Participant, Roster
from bridge.event.rounds import RoundState
from bridge.event.votes import Decision, Policy, Record, Unpaired
from bridge.press.intake import Intake
from bridge.reports.tables import pairings_csv, votes_csv
from bridge.tally.count import RoundTally, recount
from bridge.tally.seating import SeatingPlan
from drivers.base import Press


class Event:
    """A roster, its pairing history, one round and its live tally, on a manual clock."""

    def __init__(self, **round_fields: object) -> None:
        self.clock = ManualClock(1_000.0)
        self.roster = Roster(
            [
                Participant(id="p1", segment="politicians", table="1"),
                Participant(id="p2", segment="business", table="1"),
            ]
        )
        self.ledger = PairingLedger()
        self.intake = Intake(pairings=lambda: self.ledger)
        self.journal: list[Record] = []
        self.ids = itertools.count(1)
        self.tally: RoundTally | None = None
        self.controller = RoundController(self.clock, self._changed)
        self.pair("p1", "AAAAAA")
        self.pair("p2", "BBBBBB")
        self.state = self.controller.open(
            "r", timer=False, question=Question.single("AB"), **round_fields
        )
        self.tally = RoundTally(self.state, seating=self.seating())

    def _changed(self, state: RoundState) -> None:
        self.intake.update_round(state)
        if self.tally is not None:
            self.tally.set_state(state)

    def seating(self) -> SeatingPlan:
        return SeatingPlan(seating_document(self.roster, self.ledger))

    def pair(self, participant: str, handset: str | None, loaner: bool = False) -> None:
        self.clock.advance(1)
        self.roster.pair(participant, handset)
        self.ledger.follow(
            held_handsets(self.roster),
            self.clock.time(),
            participants=len(self.roster),
            loaners=[handset] if loaner and handset else [],
        )
        if self.tally is not None:
            self.tally.set_seating(self.seating())

    def press(self, handset: str, key: str) -> Decision:
        self.clock.advance(1)
        rec = self.intake.decide(Press("rx1", handset, key, self.clock.time()), next(self.ids))
        self.journal.append(rec)
        assert self.tally is not None
        self.tally.apply(rec)
        return rec.decision

    def close(self) -> RoundState:
        self.clock.advance(1)
        return self.controller.close("r")


def test_a_swap_mid_round_keeps_one_vote_per_participant() -> None:
    event = Event()
    assert event.press("AAAAAA", "A") is Decision.COUNTED
    event.pair("p1", "CCCCCC")  # p1's keypad fails; the technician gives them CC
    assert event.press("CCCCCC", "B") is Decision.COUNTED
    assert event.press("AAAAAA", "A") is Decision.UNKNOWN_HANDSET  # the old keypad is nobody's now
    state = event.close()
    tally = event.tally
    assert tally is not None
    assert tally.answers() == {"p:p1": "B"}
    snap = tally.snapshot(now=0.0)
    assert snap["voters"] == 1
    assert snap["counts"] == {"A": 0, "B": 1}
    assert snap["tables"]["1"] == {"seated": 2, "voted": 1, "complete": False}
    assert snap["held"] == 1
    again = recount(event.journal, state, seating=event.seating())
    assert again.answers() == tally.answers()
    first = recount(event.journal, state, policy=Policy.FIRST, seating=event.seating())
    assert first.answers() == {"p:p1": "A"}  # the first answer, from the first handset

    votes = list(csv.DictReader(io.StringIO(votes_csv(event.journal, event.ledger, [state]))))
    # Each press names the participant who held its handset at the press's time.
    assert [(v["handset"], v["participant"], v["decision"]) for v in votes] == [
        ("AAAAAA", "p1", "counted"),
        ("CCCCCC", "p1", "counted"),
        ("AAAAAA", "", "unknown_handset"),
    ]


def test_an_unpaired_handset_is_held_until_assigned_then_counts_from_then_on() -> None:
    event = Event()
    assert event.press("DDDDDD", "A") is Decision.UNKNOWN_HANDSET  # p2's second keypad, say
    assert event.press("BBBBBB", "B") is Decision.COUNTED
    event.roster.put(Participant(id="p3", segment="business", table="2"))
    event.pair("p3", "DDDDDD")
    assert event.press("DDDDDD", "A") is Decision.COUNTED
    state = event.close()
    assert event.tally is not None
    assert event.tally.answers() == {"p:p2": "B", "p:p3": "A"}
    again = recount(event.journal, state, seating=event.seating())
    assert again.answers() == event.tally.answers()


def test_paired_only_recount_equals_live_and_count_rule_counts_handsets() -> None:
    event = Event(paired_only=True)
    event.press("AAAAAA", "A")
    event.press("FFFFFF", "B")
    state = event.close()
    assert event.tally is not None
    assert event.tally.snapshot(now=0.0)["counts"] == {"A": 1, "B": 0}
    for policy in Policy:
        again = recount(event.journal, state, policy=policy, seating=event.seating())
        assert again.counts == {"A": 1, "B": 0}  # the unpaired handset is held in a recount too

    counting = Event(unpaired=Unpaired.COUNT)
    counting.press("AAAAAA", "A")
    assert counting.press("FFFFFF", "B") is Decision.COUNTED
    assert counting.tally is not None
    assert counting.tally.answers() == {"p:p1": "A", "FFFFFF": "B"}


def test_a_final_tally_is_frozen_against_roster_and_pairing_changes() -> None:
    event = Event()
    event.press("AAAAAA", "A")
    event.press("BBBBBB", "B")
    event.close()
    tally = event.tally
    assert tally is not None
    tally.final = True
    before = tally.snapshot(now=0.0)
    event.roster.put(Participant(id="p1", segment="organisations", table="9", handset="AAAAAA"))
    event.pair("p2", "EEEEEE")
    assert tally.snapshot(now=0.0) == before


def test_loaners_are_marked_ended_and_exported() -> None:
    event = Event()
    event.pair("p1", "111111", loaner=True)  # p1 forgot their keypad
    event.press("111111", "A")
    event.pair("p1", "AAAAAA")  # their own keypad is back: the loan ends
    rows = list(csv.DictReader(io.StringIO(pairings_csv(event.ledger))))
    loan = next(r for r in rows if r["handset"] == "111111")
    assert loan["participant"] == "p1"
    assert loan["loaner"] == "yes"
    assert loan["end"]
    assert [r["handset"] for r in rows if not r["end"]] == ["BBBBBB", "AAAAAA"]
    assert event.ledger.holder_at("111111", event.clock.time()) is None
    assert PairingLedger.from_doc(event.ledger.to_doc()).to_doc() == event.ledger.to_doc()


def test_votes_csv_marks_presses_a_reset_removed() -> None:
    event = Event()
    event.press("AAAAAA", "A")
    event.close()
    event.clock.advance(1)
    reset = event.controller.reset("r")
    event.clock.advance(1)
    event.controller.open("r", timer=False)
    event.press("AAAAAA", "B")
    votes = list(csv.DictReader(io.StringIO(votes_csv(event.journal, event.ledger, [reset]))))
    assert [(v["answer"], v["removed"]) for v in votes] == [("A", "reset"), ("B", "")]
