"""The round controller on a manual clock: timers close voting when they should, and the
presses around a deadline land on the right side of it."""

from __future__ import annotations

import itertools

import pytest

from bridge.clock import ManualClock
from bridge.desk.controller import RoundController, RoundError
from bridge.event.agenda import Agenda, Theme
from bridge.event.questions import Question
from bridge.event.rounds import PhaseName, RoundState, RoundStatus
from bridge.event.votes import Decision
from bridge.press.intake import Intake
from drivers.base import Press


class Desk:
    """A controller on a manual clock, with an intake that sees every state it publishes."""

    def __init__(self, agenda: Agenda | None = None, grace_s: float = 2.0) -> None:
        self.clock = ManualClock()
        self.states: list[RoundState] = []
        self.intake = Intake()
        self.controller = RoundController(self.clock, self._changed, grace_s=grace_s, agenda=agenda)
        self.ids = itertools.count(1)
        if agenda is None:  # rounds of no theme exist only once created
            for round_id in ("r1", "r2"):
                self.controller.create(round_id, title=f"Round {round_id}")

    def _changed(self, state: RoundState) -> None:
        self.states.append(state)
        self.intake.update_round(state)

    def press(self, handset: str, key: str = "A", *, at: float | None = None) -> Decision:
        t = self.clock.time() if at is None else at
        return self.intake.decide(Press("rx1", handset, key, t), next(self.ids)).decision

    @property
    def t0(self) -> float:
        return 1_700_000_000.0


def test_the_timer_closes_voting_at_the_deadline() -> None:
    d = Desk()
    state = d.controller.open("r1", duration_s=60)
    assert state.deadline == d.t0 + 60
    d.clock.advance(59.9)
    assert d.controller.get("r1").status is RoundStatus.OPEN
    d.clock.advance(0.2)
    closed = d.controller.get("r1")
    assert closed.status is RoundStatus.CLOSED
    assert closed.closed_at == d.t0 + 60  # at the deadline itself, not when the callback ran
    assert closed.phase is PhaseName.RESULTS
    assert d.states[-1] == closed  # published


def test_presses_around_the_deadline_land_on_the_right_side() -> None:
    d = Desk(grace_s=2.0)
    d.controller.open("r1", duration_s=60)
    deadline = d.t0 + 60
    d.clock.advance(61)  # the timer has fired; presses still in flight arrive now
    assert d.press("before", at=deadline - 0.001) is Decision.COUNTED
    assert d.press("on-time", at=deadline) is Decision.COUNTED
    assert d.press("in-flight", at=deadline + 1.999) is Decision.COUNTED  # grace period
    assert d.press("too-late", at=deadline + 2.001) is Decision.LATE
    assert d.press("much-later", at=deadline + 3600) is Decision.CLOSED


def test_extend_moves_the_deadline_and_the_timer() -> None:
    d = Desk()
    d.controller.open("r1", duration_s=30)
    d.clock.advance(20)
    assert d.controller.extend("r1", 15).deadline == d.t0 + 45
    d.clock.advance(20)  # past the old deadline
    assert d.controller.get("r1").status is RoundStatus.OPEN
    d.clock.advance(5.1)
    assert d.controller.get("r1").closed_at == d.t0 + 45


def test_extend_gives_a_round_without_a_timer_one() -> None:
    d = Desk()
    d.controller.open("r1", timer=False)
    assert d.controller.get("r1").deadline is None
    d.clock.advance(100)
    d.controller.extend("r1", 10)
    d.clock.advance(10.1)
    assert d.controller.get("r1").status is RoundStatus.CLOSED


def test_pause_stops_voting_and_the_timer_and_resume_gives_back_the_time_left() -> None:
    d = Desk(grace_s=0.5)
    d.controller.open("r1", duration_s=60)
    d.clock.advance(40)
    paused = d.controller.pause("r1")
    assert paused.status is RoundStatus.PAUSED
    assert paused.remaining_s == pytest.approx(20)
    d.clock.advance(1)
    assert d.press("during-pause") is Decision.CLOSED
    d.clock.advance(299)  # long past the original deadline: the paused timer does not fire
    assert d.controller.get("r1").status is RoundStatus.PAUSED
    resumed = d.controller.resume("r1")
    assert resumed.deadline == pytest.approx(d.clock.time() + 20)
    assert d.press("after-resume") is Decision.COUNTED
    d.controller.extend("r1", 5)
    d.clock.advance(24.9)
    assert d.controller.get("r1").status is RoundStatus.OPEN
    d.clock.advance(0.2)
    assert d.controller.get("r1").status is RoundStatus.CLOSED
    assert len(d.controller.get("r1").windows) == 2


def test_extending_a_paused_round_adds_to_the_time_left() -> None:
    d = Desk()
    d.controller.open("r1", duration_s=60)
    d.clock.advance(50)
    d.controller.pause("r1")
    assert d.controller.extend("r1", 30).remaining_s == pytest.approx(40)


def test_the_host_can_close_before_the_timer() -> None:
    d = Desk()
    d.controller.open("r1", duration_s=60)
    d.clock.advance(10)
    assert d.controller.close("r1").closed_at == d.t0 + 10
    d.clock.advance(100)
    assert len([s for s in d.states if s.status is RoundStatus.CLOSED]) == 1
    assert d.clock.pending() == []


def test_commands_that_do_not_fit_say_why() -> None:
    d = Desk()
    with pytest.raises(RoundError, match="does not exist") as caught:
        d.controller.close("nope")
    assert caught.value.status == 404
    d.controller.open("r1")
    with pytest.raises(RoundError, match="still open"):
        d.controller.open("r2")
    with pytest.raises(RoundError, match="only a paused round resumes"):
        d.controller.resume("r1")
    d.controller.close("r1")
    with pytest.raises(RoundError, match="re-vote"):
        d.controller.open("r1", title="again")
    with pytest.raises(RoundError, match="only a ready round opens"):
        d.controller.open("r1")


def agenda() -> Agenda:
    theme = Theme(id="infra", title="Infrastructure", question=Question.single("ABCD"))
    return Agenda(title="Summit", themes=[theme])


def test_a_theme_runs_through_its_phases() -> None:
    d = Desk(agenda=agenda())
    state = d.controller.set_phase("infra", PhaseName.PRESENTATION)
    assert state.status is RoundStatus.READY
    assert state.question.keys == ("A", "B", "C", "D")
    assert state.phases[0].name is PhaseName.PRESENTATION
    assert d.controller.current == "infra"
    d.clock.advance(600)
    assert d.controller.set_phase("infra", PhaseName.DISCUSSION).phase is PhaseName.DISCUSSION
    assert d.press("early") is Decision.CLOSED  # discussing, not voting
    d.clock.advance(600)
    voting = d.controller.set_phase("infra", PhaseName.VOTING)
    assert voting.status is RoundStatus.OPEN
    assert voting.deadline == d.clock.time() + 180  # the theme's planned 3 minutes of voting
    assert d.press("voter") is Decision.COUNTED
    d.clock.advance(180.1)
    assert d.controller.get("infra").phase is PhaseName.RESULTS
    with pytest.raises(RoundError, match="over"):
        d.controller.set_phase("infra", PhaseName.DISCUSSION)


def test_a_revote_is_a_second_round_of_the_theme_and_the_first_stays() -> None:
    d = Desk(agenda=agenda())
    d.controller.open("infra")
    assert d.press("h1", "A") is Decision.COUNTED
    first = d.controller.close("infra")
    second = d.controller.revote("infra")
    assert second.round == "infra-2"
    assert second.attempt == 2
    assert second.theme == "infra"
    assert second.question == first.question
    assert d.controller.get("infra") == first
    d.controller.open("infra-2")
    assert d.press("h1", "A") is Decision.COUNTED  # a fresh round: the same answer counts again


def test_reset_discards_earlier_presses_from_the_count() -> None:
    d = Desk()
    d.controller.open("r1")
    d.press("h1")
    d.controller.close("r1")
    d.clock.advance(5)
    assert d.controller.reset("r1").status is RoundStatus.READY
    d.clock.advance(1)
    d.controller.open("r1")
    assert d.press("h1") is Decision.COUNTED


def test_a_restarted_controller_keeps_the_timer_of_an_open_round() -> None:
    d = Desk()
    d.controller.open("r1", duration_s=60)
    d.clock.advance(10)
    saved = d.controller.all()
    later = RoundController(d.clock, d._changed)
    later.restore(saved)
    assert later.current == "r1"
    d.clock.advance(50.1)
    assert later.get("r1").status is RoundStatus.CLOSED
    assert later.get("r1").closed_at == d.t0 + 60
