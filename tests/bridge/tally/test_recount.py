"""A recount from the journal under the live rules equals the live tally, for any presses."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from bridge.clock import ManualClock
from bridge.desk.controller import RoundController, RoundError
from bridge.event.questions import Question
from bridge.event.rounds import RoundState
from bridge.event.votes import Decision, Policy, Record
from bridge.press.intake import Intake
from bridge.tally.count import RoundTally, recount
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


def _decisions(journal: list[Record], final: RoundState) -> list[Decision]:
    intake = Intake(echo_window_s=2.0)
    intake.update_round(final)
    return [
        intake.decide(Press(r.receiver, r.handset, r.key, r.t, r.seq), r.id).decision
        for r in journal
    ]
