"""Voting rounds: the state every bridge and display shares, and the rule that sorts presses.

A round is one vote on one question. Its state is published retained on
``ars/round/{round}/state``; bridges use it to decide, per press, whether the round was open
(:func:`gate`), and displays use it to show the timer and phase. The controller that changes
it lives in :mod:`bridge.desk.controller`.
"""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field

from bridge.event.questions import Question
from bridge.event.votes import Decision, Policy, Unpaired


class RoundStatus(enum.StrEnum):
    """Where a round is in its life."""

    READY = "ready"  # created, not yet opened
    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"


class PhaseName(enum.StrEnum):
    """The parts of a theme's block, in the order they run."""

    PRESENTATION = "presentation"
    DISCUSSION = "discussion"
    VOTING = "voting"
    RESULTS = "results"


class PhasePlan(BaseModel):
    """A phase and how long it is planned to take."""

    model_config = ConfigDict(frozen=True)

    name: PhaseName
    minutes: float = Field(gt=0, le=240)


DEFAULT_PHASES = (
    PhasePlan(name=PhaseName.PRESENTATION, minutes=10),
    PhasePlan(name=PhaseName.DISCUSSION, minutes=10),
    PhasePlan(name=PhaseName.VOTING, minutes=3),
    PhasePlan(name=PhaseName.RESULTS, minutes=2),
)


class Visibility(enum.StrEnum):
    """When displays may show the results of a round."""

    LIVE = "live"
    AFTER_CLOSE = "after_close"
    HIDDEN = "hidden"  # until the host reveals them


class Window(BaseModel):
    """One stretch of time in which the round was open; a pause ends one and a resume starts one."""

    start: float
    end: float | None = None


class RoundState(BaseModel):
    """Everything about a round that bridges, the tally engine and displays need to know."""

    round: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    theme: str | None = None
    title: str = ""
    question: Question = Field(default_factory=lambda: Question.single("ABCDE"))
    policy: Policy = Policy.LAST
    visibility: Visibility = Visibility.LIVE
    revealed: bool = False
    status: RoundStatus = RoundStatus.READY
    paired_only: bool = False  # presses from handsets no participant holds are not counted
    # With a roster loaded: whether presses from handsets nobody holds are held or counted.
    unpaired: Unpaired = Unpaired.HOLD
    # Handsets and participants journaled and published as per-round pseudonyms only.
    anonymous: bool = False
    phases: tuple[PhasePlan, ...] = ()  # the theme's plan; empty for a round without one
    phase: PhaseName | None = None
    phase_started_at: float | None = None
    windows: list[Window] = []
    deadline: float | None = None  # the timer closes voting then; None: the host closes it
    remaining_s: float | None = None  # time left on the timer while paused
    closed_at: float | None = None
    grace_s: float = 2.0
    late_window_s: float = 60.0
    attempt: int = 1  # 2 for the first re-vote of the same theme, and so on
    since: float | None = None  # presses before this time belong to an earlier reset of the round
    revision: int = 0

    @property
    def opened_at(self) -> float | None:
        return self.windows[0].start if self.windows else None

    def planned_s(self, phase: PhaseName) -> float | None:
        """Planned seconds of ``phase``, or None when the round has no plan for it."""
        return next((p.minutes * 60 for p in self.phases if p.name is phase), None)

    @property
    def results_visible(self) -> bool:
        if self.visibility is Visibility.LIVE:
            return True
        if self.visibility is Visibility.AFTER_CLOSE:
            return self.status is RoundStatus.CLOSED
        return self.revealed


def holds_unpaired(state: RoundState, roster_loaded: bool) -> bool:
    """Whether the round holds presses from handsets nobody holds, given whether a roster is
    loaded: always when it takes paired handsets only, else unless the event counts them."""
    return state.paired_only or (roster_loaded and state.unpaired is Unpaired.HOLD)


def gate(state: RoundState | None, t: float, grace_s: float | None = None) -> Decision | None:
    """Whether a press received at ``t`` falls inside the round's open time.

    Returns None when it does (dedup decides the rest), :attr:`Decision.LATE` when it came
    after the close and its grace period but within the late window, and
    :attr:`Decision.CLOSED` otherwise. ``grace_s`` overrides the round's grace period, which
    is how a recount under another grace period asks the same question.
    """
    if state is None or not state.windows:
        return Decision.CLOSED
    if state.since is not None and t < state.since:
        return Decision.CLOSED
    grace = state.grace_s if grace_s is None else grace_s
    for window in state.windows:
        if t < window.start:
            break
        if window.end is None or t <= window.end + grace:
            return None
    if state.status is RoundStatus.CLOSED and state.closed_at is not None:
        after = t - state.closed_at
        if grace < after <= state.late_window_s:
            return Decision.LATE
    return Decision.CLOSED
