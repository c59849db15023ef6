"""A recount from the journal under the live rules equals the live tally, for any presses,
any pairing changes and any resets."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass

from hypothesis import event, given
from hypothesis import strategies as st

from bridge.clock import ManualClock
from bridge.desk.controller import RoundController, RoundError
from bridge.desk.event_desk import held_handsets, seating_document
from bridge.event.pairing import PairingLedger, PairingView
from bridge.event.questions import Question
from bridge.event.roster import Participant, Roster, RosterError
from bridge.event.rounds import RoundState
from bridge.event.votes import Decision, Policy, Record, Unpaired
from bridge.press.anonymity import RoundKeys
from bridge.press.intake import Intake
from bridge.tally.count import RoundTally, recount
from bridge.tally.seating import RecordedPairings, SeatingPlan
from drivers.base import Press

QUESTIONS = [
    Question.single("ABCD"),
    Question.multi("ABCDE", 2),
    Question.yesno(),
    Question.rating(5),
    Question.ranking("ABCDE", (10, 9, 8)),
]


@dataclass(frozen=True)
class PressStep:
    gap: float
    handset: str
    key: str
    receiver: str
    with_seq: bool


@dataclass(frozen=True)
class HostStep:
    gap: float
    command: str  # pause, resume, extend, close


# Gaps are never zero: a press stamped at the very microsecond the host paused or resumed
# has no order the journal could show (the live service decided by arrival), and clocks
# with microsecond resolution make such ties vanishingly rare.
presses = st.builds(
    PressStep,
    gap=st.floats(0.001, 3),
    handset=st.sampled_from(["h1", "h2", "h3", "h4", "h5"]),
    key=st.sampled_from(["A", "B", "C", "D", "E", "1", "5", "?", "AB", "CAB"]),
    receiver=st.sampled_from(["rx1", "rx2"]),
    with_seq=st.booleans(),
)
commands = st.builds(
    HostStep,
    gap=st.floats(0.001, 5),
    command=st.sampled_from(["pause", "resume", "extend", "close"]),
)


@given(
    question=st.sampled_from(QUESTIONS),
    policy=st.sampled_from(list(Policy)),
    grace=st.floats(0, 3),
    duration=st.one_of(st.none(), st.floats(5, 60)),
    steps=st.lists(st.one_of(presses, presses, presses, commands), max_size=60),
)
def test_recount_under_the_live_rules_equals_the_live_tally(
    question: Question,
    policy: Policy,
    grace: float,
    duration: float | None,
    steps: list[PressStep | HostStep],
) -> None:
    clock = ManualClock()
    intake = Intake(echo_window_s=2.0)
    live: RoundTally | None = None
    journal: list[Record] = []
    ids = itertools.count(1)
    seqs: dict[str, int] = {}

    def changed(state: RoundState) -> None:
        intake.update_round(state)
        if live is not None:
            live.set_state(state)

    controller = RoundController(clock, changed, grace_s=grace)
    state = controller.open("r", duration_s=duration, question=question, policy=policy)
    live = RoundTally(state)
    for step in steps:
        clock.advance(step.gap)  # the timer may close the round on the way
        if isinstance(step, HostStep):
            # A command that does not fit the round's state is refused; the host is told so.
            with contextlib.suppress(RoundError):
                getattr(controller, step.command)("r", *([5.0] if step.command == "extend" else []))
            continue
        seq = None
        if step.with_seq:
            seq = seqs[step.handset] = (seqs.get(step.handset, 0) + 1) % 256
        press = Press(step.receiver, step.handset, step.key, clock.time(), seq)
        rec = intake.decide(press, next(ids))
        journal.append(rec)
        live.apply(rec)
    if controller.get("r").status.value in ("open", "paused"):
        controller.close("r")
    final = controller.get("r")

    again = recount(journal, final)
    assert again.answers() == live.answers()
    assert again.counts == live.counts
    assert [r.decision for r in journal] == _decisions(journal, final)


def _decisions(
    journal: list[Record], final: RoundState, pairings: PairingView | None = None
) -> list[Decision]:
    view: PairingView = pairings if pairings is not None else PairingLedger()
    intake = Intake(echo_window_s=2.0, pairings=lambda: view)
    intake.update_round(final)
    return [
        intake.decide(Press(r.receiver, r.handset, r.key, r.t, r.seq), r.id).decision
        for r in journal
    ]


@dataclass(frozen=True)
class PairStep:
    gap: float
    participant: str
    handset: str | None  # None: the technician takes the handset away
    loaner: bool


@dataclass(frozen=True)
class ResetStep:
    gap: float


HANDSETS = ["0000A1", "0000A2", "0000A3", "0000A4", "0000A5"]  # IDs a roster takes
paired_presses = st.builds(
    PressStep,
    gap=st.floats(0.001, 3),
    handset=st.sampled_from(HANDSETS),
    key=st.sampled_from(["A", "B", "C", "D", "E", "1", "5", "?", "AB", "CAB"]),
    receiver=st.sampled_from(["rx1", "rx2"]),
    with_seq=st.booleans(),
)
PEOPLE = {"p1": ("politicians", "1"), "p2": ("business", "1"), "p3": ("business", "2")}
pairing_changes = st.builds(
    PairStep,
    gap=st.floats(0.001, 3),
    participant=st.sampled_from(sorted(PEOPLE)),
    handset=st.one_of(st.none(), st.sampled_from(HANDSETS)),
    loaner=st.booleans(),
)
resets = st.builds(ResetStep, gap=st.floats(0.001, 3))


class Desk:
    """The roster and its pairing history as the desk keeps them, stamped on the clock."""

    def __init__(self, clock: ManualClock, initial: dict[str, str]) -> None:
        self.clock = clock
        self.roster = Roster(
            [Participant(id=p, segment=s, table=t) for p, (s, t) in PEOPLE.items()]
        )
        for handset, participant in initial.items():
            with contextlib.suppress(RosterError):
                self.roster.pair(participant, handset)
        self.ledger = PairingLedger()
        self.follow()

    def follow(self, loaners: tuple[str, ...] = ()) -> None:
        self.ledger.follow(
            held_handsets(self.roster), self.clock.time(), participants=3, loaners=loaners
        )

    def seating(self) -> SeatingPlan:
        return SeatingPlan(seating_document(self.roster, self.ledger))


@given(
    question=st.sampled_from(QUESTIONS),
    policy=st.sampled_from(list(Policy)),
    rule=st.sampled_from(["hold", "count", "paired_only"]),
    anonymous=st.booleans(),
    grace=st.floats(0, 3),
    initial=st.dictionaries(st.sampled_from(HANDSETS), st.sampled_from(sorted(PEOPLE))),
    steps=st.lists(
        st.one_of(
            paired_presses,
            paired_presses,
            paired_presses,
            commands,
            pairing_changes,
            pairing_changes,
            resets,
        ),
        max_size=60,
    ),
)
def test_recount_equals_live_with_pairing_swaps_held_presses_and_resets(
    question: Question,
    policy: Policy,
    rule: str,
    anonymous: bool,
    grace: float,
    initial: dict[str, str],
    steps: list[PressStep | HostStep | PairStep | ResetStep],
) -> None:
    """Paired-only and hold/count rounds, anonymous or not, handsets swapped, loaned, paired
    after a held press, rounds reset and reopened: the recount from the journal, with the
    stored pairing history (an anonymous round's: its pseudonyms), equals the live tally,
    and a participant never has two votes."""
    clock = ManualClock(1_000.0)
    desk = Desk(clock, initial)
    intake = Intake(echo_window_s=2.0, pairings=lambda: desk.ledger)
    live: RoundTally | None = None
    journal: list[Record] = []
    ids = itertools.count(1)
    seqs: dict[str, int] = {}

    def changed(state: RoundState) -> None:
        nonlocal live
        intake.update_round(state)
        if live is not None:
            if state.since != live.state.since:  # the tally engine starts a reset round afresh
                live = RoundTally(state, seating=desk.seating())
            else:
                live.set_state(state)

    fields: dict[str, object] = {
        "question": question,
        "policy": policy,
        "paired_only": rule == "paired_only",
        "unpaired": Unpaired.COUNT if rule == "count" else Unpaired.HOLD,
        "anonymous": anonymous,
    }
    keys = RoundKeys()
    voted: set[str] = set()  # who voted, as the bridge journals it apart in anonymous rounds
    controller = RoundController(clock, changed, grace_s=grace)
    state = controller.open("r", duration_s=None, **fields)
    live = RoundTally(state, seating=desk.seating())
    for step in steps:
        clock.advance(step.gap)
        if isinstance(step, HostStep):
            with contextlib.suppress(RoundError):
                getattr(controller, step.command)("r", *([5.0] if step.command == "extend" else []))
            continue
        if isinstance(step, ResetStep):
            with contextlib.suppress(RoundError):
                controller.close("r")
            controller.reset("r")
            voted.clear()  # who voted is kept per reset of the round
            clock.advance(0.001)
            controller.open("r", timer=False)
            continue
        if isinstance(step, PairStep):
            with contextlib.suppress(RosterError):
                desk.roster.pair(step.participant, step.handset)
                desk.follow(loaners=(step.handset,) if step.loaner and step.handset else ())
                live.set_seating(desk.seating())
            continue
        seq = None
        if step.with_seq:
            seq = seqs[step.handset] = (seqs.get(step.handset, 0) + 1) % 256
        press = Press(step.receiver, step.handset, step.key, clock.time(), seq)
        rec = intake.decide(press, next(ids))
        if anonymous:  # as the bridge journals and publishes it
            holder = desk.ledger.holder_at(rec.handset, rec.t)
            keys.pseudonymise(rec, holder)
            if rec.decision in (Decision.COUNTED, Decision.CHANGED) and holder is not None:
                voted.add(holder)
            live.participants = set(voted)
        journal.append(rec)
        live.apply(rec)
    if controller.get("r").status.value in ("open", "paused"):
        controller.close("r")
    final = controller.get("r")
    seating = desk.seating()

    participants = sorted(voted) if anonymous else None
    again = recount(journal, final, seating=seating, participants=participants)
    assert again.answers() == live.answers()
    assert again.counts == live.counts
    live_doc, again_doc = live.snapshot(now=0.0), again.snapshot(now=0.0)
    for part in ("voters", "segments", "tables", "counts"):
        assert again_doc[part] == live_doc[part]
    # Presses from before the last reset are out of the round (``closed`` when recounted).
    kept = [r for r in journal if final.since is None or r.t >= final.since]
    pairings = RecordedPairings(kept, seating.ledger) if anonymous else seating.ledger
    assert [r.decision for r in kept] == _decisions(kept, final, pairings)
    swapped = any(
        len({p.handset for p in desk.ledger.pairings if p.participant == who}) > 1 for who in PEOPLE
    )
    event("a handset swapped" if swapped else "no swap")
    event("presses held" if live.decisions.get("unknown_handset") else "none held")
    # One vote per person: a participant's presses from several handsets make one voter.
    person = "~p" if anonymous else "p:"
    voters = [v for v in live.answers() if v.startswith(person)]
    assert len(voters) == len(set(voters)) <= len(PEOPLE)
    if rule != "count":
        assert all(v.startswith(person) for v in live.answers())
    if anonymous:  # nothing journaled names a handset or a participant
        assert not {r.handset for r in journal} & set(HANDSETS)
        assert all(r.voter is not None and r.voter.startswith("~") for r in journal)
