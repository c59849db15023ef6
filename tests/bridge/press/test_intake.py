"""Intake: every press gets the decision the journal records, as the brief defines them."""

from __future__ import annotations

import itertools

from bridge.event.pairing import PairingLedger
from bridge.event.questions import Question
from bridge.event.rounds import RoundState, RoundStatus, Window
from bridge.event.votes import Decision, Unpaired
from bridge.press.intake import Intake
from drivers.base import Press

T0 = 1_000.0


def open_round(round_id: str = "r1", **fields: object) -> RoundState:
    return RoundState(
        round=round_id, status=RoundStatus.OPEN, windows=[Window(start=T0)], revision=1, **fields
    )  # type: ignore[arg-type]


def closed(state: RoundState, at: float) -> RoundState:
    return state.model_copy(
        update={
            "status": RoundStatus.CLOSED,
            "closed_at": at,
            "revision": state.revision + 1,
            "windows": [Window(start=state.windows[0].start, end=at)],
        }
    )


class Decider:
    def __init__(self, state: RoundState | None = None, **kw: object) -> None:
        self.intake = Intake(**kw)  # type: ignore[arg-type]
        if state is not None:
            self.intake.update_round(state)
        self.ids = itertools.count(1)

    def __call__(
        self, handset: str, key: str, t: float, receiver: str = "rx1", seq: int | None = None
    ) -> Decision:
        return self.intake.decide(Press(receiver, handset, key, t, seq), next(self.ids)).decision


def test_retransmits_count_once_and_changes_always_count() -> None:
    d = Decider(open_round())
    assert d("AA", "A", T0 + 1) is Decision.COUNTED
    assert d("AA", "A", T0 + 1.1) is Decision.DUPLICATE
    assert d("AA", "A", T0 + 1.2) is Decision.DUPLICATE
    assert d("AA", "B", T0 + 3) is Decision.CHANGED
    assert d("AA", "A", T0 + 9) is Decision.CHANGED  # changing back is a genuine change too
    assert d("BB", "A", T0 + 2) is Decision.COUNTED


def test_the_same_press_from_a_second_receiver_is_a_duplicate() -> None:
    d = Decider(open_round())
    assert d("AA", "C", T0 + 1, receiver="rx1") is Decision.COUNTED
    assert d("AA", "C", T0 + 1.01, receiver="rx2") is Decision.DUPLICATE


def test_a_late_echo_never_overwrites_a_newer_answer() -> None:
    d = Decider(open_round(), echo_window_s=2.0)
    assert d("AA", "A", T0 + 1, receiver="rx1") is Decision.COUNTED
    assert d("AA", "B", T0 + 5, receiver="rx1") is Decision.CHANGED
    # rx2 relays the old A late: an echo, not a change back.
    assert d("AA", "A", T0 + 5.5, receiver="rx2") is Decision.STALE
    # Long after the change, A from anywhere is the delegate changing their mind again.
    assert d("AA", "A", T0 + 30, receiver="rx2") is Decision.CHANGED


def test_sequence_numbers_tell_echoes_from_new_presses_across_the_wrap() -> None:
    d = Decider(open_round())
    assert d("AA", "A", T0 + 1, seq=254) is Decision.COUNTED
    assert d("AA", "A", T0 + 1.2, seq=254) is Decision.DUPLICATE
    assert d("AA", "B", T0 + 2, seq=255) is Decision.CHANGED
    assert d("AA", "C", T0 + 3, seq=0) is Decision.CHANGED  # wrapped: newer
    assert d("AA", "B", T0 + 3.1, seq=255, receiver="rx2") is Decision.STALE  # older
    assert d("AA", "C", T0 + 4, seq=1) is Decision.DUPLICATE  # same answer pressed again


def test_presses_outside_the_window_are_kept_but_not_counted() -> None:
    state = open_round(grace_s=2.0, late_window_s=60.0)
    d = Decider(state)
    assert d("AA", "A", T0 - 1) is Decision.CLOSED  # before the round opened
    d.intake.update_round(closed(state, T0 + 10))
    assert d("BB", "B", T0 + 11.9) is Decision.COUNTED  # in flight: within the grace period
    assert d("CC", "B", T0 + 12.1) is Decision.LATE
    assert d("DD", "B", T0 + 100) is Decision.CLOSED


def test_no_round_means_closed() -> None:
    assert Decider()("AA", "A", T0) is Decision.CLOSED


def test_keys_the_question_does_not_take_are_invalid() -> None:
    d = Decider(open_round(question=Question.single("ABC")))
    assert d("AA", "D", T0 + 1) is Decision.INVALID
    assert d("AA", "D", T0 + 1.1) is Decision.DUPLICATE
    assert d("AA", "B", T0 + 2) is Decision.COUNTED


def paired(at: float, **held: str) -> PairingLedger:
    """A history in which each handset (keyword) was paired with its participant at ``at``."""
    ledger = PairingLedger()
    ledger.follow(dict(held.items()), at, participants=max(len(held), 1))
    return ledger


def test_unknown_handsets_when_the_round_takes_paired_handsets_only() -> None:
    ledger = paired(T0, AA="p1")
    d = Decider(open_round(paired_only=True), pairings=lambda: ledger)
    assert d("AA", "A", T0 + 1) is Decision.COUNTED
    assert d("ZZ", "A", T0 + 1) is Decision.UNKNOWN_HANDSET
    nobody = Decider(open_round(paired_only=True))  # no roster at all: nobody is paired
    assert nobody("AA", "A", T0 + 1) is Decision.UNKNOWN_HANDSET
    anyone = Decider(open_round(unpaired=Unpaired.COUNT), pairings=lambda: ledger)
    assert anyone("ZZ", "A", T0 + 1) is Decision.COUNTED


def test_with_a_roster_loaded_unpaired_handsets_are_held_until_paired() -> None:
    ledger = paired(T0, AA="p1")
    d = Decider(open_round(), pairings=lambda: ledger)
    assert d("ZZ", "A", T0 + 1) is Decision.UNKNOWN_HANDSET  # a delegate's second keypad
    assert d("ZZ", "A", T0 + 1.1) is Decision.DUPLICATE  # its retransmit
    ledger.follow({"AA": "p1", "ZZ": "p2"}, T0 + 5, participants=2)
    assert d("ZZ", "B", T0 + 4) is Decision.UNKNOWN_HANDSET  # stamped before the pairing
    assert d("ZZ", "A", T0 + 6) is Decision.COUNTED  # from the pairing on it counts
    before_roster = Decider(open_round(), pairings=lambda: paired(T0 + 100, AA="p1"))
    assert before_roster("ZZ", "A", T0 + 1) is Decision.COUNTED  # no roster loaded yet


def test_a_reset_round_starts_afresh() -> None:
    state = open_round()
    d = Decider(state)
    assert d("AA", "A", T0 + 1) is Decision.COUNTED
    again = state.model_copy(
        update={"since": T0 + 50, "revision": 5, "windows": [Window(start=T0 + 60)]}
    )
    d.intake.update_round(again)
    assert d("AA", "A", T0 + 61) is Decision.COUNTED


def test_older_revisions_of_a_round_are_ignored() -> None:
    state = open_round()
    d = Decider(state)
    d.intake.update_round(closed(state, T0 + 10))
    d.intake.update_round(state)  # a stale retained message arriving late
    assert d("AA", "A", T0 + 20) is Decision.LATE
