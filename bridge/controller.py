"""The round controller: the host's open, close, extend, pause, resume, reset and phase.

Every change produces a new :class:`RoundState` (revision + 1) handed to ``on_change``, which
publishes it retained and tells the receivers. Timers run on a :class:`bridge.clock.Clock`, so
tests drive them with a manual clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.clock import Clock, TimerHandle
from bridge.rounds import RoundState, RoundStatus, Window


class RoundError(Exception):
    """A round command that does not fit the round's state; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


StateListener = Callable[[RoundState], None]


class RoundController:
    """Holds every round's state and runs the voting timers."""

    def __init__(
        self,
        clock: Clock,
        on_change: StateListener,
        *,
        grace_s: float = 2.0,
        late_window_s: float = 60.0,
    ) -> None:
        self._clock = clock
        self._on_change = on_change
        self._grace_s = grace_s
        self._late_window_s = late_window_s
        self._rounds: dict[str, RoundState] = {}
        self._timers: dict[str, TimerHandle] = {}
        self.current: str | None = None

    # Queries.

    def get(self, round_id: str) -> RoundState:
        state = self._rounds.get(round_id)
        if state is None:
            raise RoundError(f"round {round_id!r} does not exist", status=404)
        return state

    def find(self, round_id: str) -> RoundState | None:
        return self._rounds.get(round_id)

    def all(self) -> list[RoundState]:
        return list(self._rounds.values())

    def rounds_of(self, theme: str) -> list[RoundState]:
        return [s for s in self._rounds.values() if s.theme == theme]

    # Commands.

    def create(self, round_id: str, **fields: Any) -> RoundState:
        """Define a round (question, policy, theme...) without opening it."""
        existing = self._rounds.get(round_id)
        if existing is not None and existing.status is not RoundStatus.READY:
            raise RoundError(f"round {round_id!r} already ran; start a re-vote instead")
        fields.setdefault("grace_s", self._grace_s)
        fields.setdefault("late_window_s", self._late_window_s)
        state = RoundState(round=round_id, **fields)
        return self._commit(state, revision=(existing.revision + 1) if existing else 1)

    def open(self, round_id: str, *, duration_s: float | None = None, **fields: Any) -> RoundState:
        """Open voting now; with ``duration_s`` the timer closes it at the deadline."""
        if duration_s is not None and duration_s <= 0:
            raise RoundError("duration_s must be positive", status=422)
        state = self._rounds.get(round_id)
        if state is None or fields:
            state = self.create(round_id, **fields)
        if state.status is not RoundStatus.READY:
            raise RoundError(f"round {round_id!r} is {state.status}; only a ready round opens")
        for other in self._rounds.values():
            if other.round != round_id and other.status in (RoundStatus.OPEN, RoundStatus.PAUSED):
                raise RoundError(f"round {other.round!r} is still {other.status}; close it first")
        now = self._clock.time()
        deadline = now + duration_s if duration_s is not None else None
        new = state.model_copy(
            update={
                "status": RoundStatus.OPEN,
                "windows": [Window(start=now)],
                "deadline": deadline,
                "phase": "voting",
                "closed_at": None,
                "remaining_s": None,
            }
        )
        self.current = round_id
        self._arm(new)
        return self._commit(new)

    def close(self, round_id: str) -> RoundState:
        state = self.get(round_id)
        if state.status not in (RoundStatus.OPEN, RoundStatus.PAUSED):
            raise RoundError(f"round {round_id!r} is {state.status}; only an open round closes")
        return self._close(state)

    def extend(self, round_id: str, seconds: float) -> RoundState:
        """Give voting more time; a round without a timer gets one ``seconds`` from now."""
        if seconds <= 0:
            raise RoundError("seconds must be positive", status=422)
        state = self.get(round_id)
        if state.status is RoundStatus.PAUSED:
            remaining = (state.remaining_s or 0.0) + seconds
            return self._commit(state.model_copy(update={"remaining_s": remaining}))
        if state.status is not RoundStatus.OPEN:
            raise RoundError(f"round {round_id!r} is {state.status}; only an open round extends")
        base = state.deadline if state.deadline is not None else self._clock.time()
        new = state.model_copy(update={"deadline": base + seconds})
        self._arm(new)
        return self._commit(new)

    def pause(self, round_id: str) -> RoundState:
        state = self.get(round_id)
        if state.status is not RoundStatus.OPEN:
            raise RoundError(f"round {round_id!r} is {state.status}; only an open round pauses")
        now = self._clock.time()
        windows = [*state.windows[:-1], Window(start=state.windows[-1].start, end=now)]
        remaining = None if state.deadline is None else max(0.0, state.deadline - now)
        self._disarm(round_id)
        return self._commit(
            state.model_copy(
                update={
                    "status": RoundStatus.PAUSED,
                    "windows": windows,
                    "deadline": None,
                    "remaining_s": remaining,
                }
            )
        )

    def resume(self, round_id: str) -> RoundState:
        state = self.get(round_id)
        if state.status is not RoundStatus.PAUSED:
            raise RoundError(f"round {round_id!r} is {state.status}; only a paused round resumes")
        now = self._clock.time()
        deadline = None if state.remaining_s is None else now + state.remaining_s
        new = state.model_copy(
            update={
                "status": RoundStatus.OPEN,
                "windows": [*state.windows, Window(start=now)],
                "deadline": deadline,
                "remaining_s": None,
            }
        )
        self._arm(new)
        return self._commit(new)

    def reset(self, round_id: str) -> RoundState:
        """Put a round back to ready; its earlier presses stay journaled but no longer count."""
        state = self.get(round_id)
        if state.status in (RoundStatus.OPEN, RoundStatus.PAUSED):
            raise RoundError(f"round {round_id!r} is {state.status}; close it before a reset")
        self._disarm(round_id)
        return self._commit(
            state.model_copy(
                update={
                    "status": RoundStatus.READY,
                    "windows": [],
                    "deadline": None,
                    "closed_at": None,
                    "remaining_s": None,
                    "since": self._clock.time(),
                    "revealed": False,
                }
            )
        )

    def revote(self, round_id: str) -> RoundState:
        """A second round on the same question; the first stays as it was, journal included."""
        first = self.get(round_id)
        if first.status is not RoundStatus.CLOSED:
            raise RoundError(f"round {round_id!r} is {first.status}; close it before a re-vote")
        theme = first.theme or first.round
        attempt = max(s.attempt for s in self._rounds.values() if (s.theme or s.round) == theme)
        new_id = f"{theme}-{attempt + 1}"
        return self.create(
            new_id,
            theme=theme,
            title=first.title,
            question=first.question,
            policy=first.policy,
            visibility=first.visibility,
            grace_s=first.grace_s,
            attempt=attempt + 1,
        )

    def set_phase(self, round_id: str, phase: str) -> RoundState:
        return self._commit(self.get(round_id).model_copy(update={"phase": phase}))

    def reveal(self, round_id: str, revealed: bool = True) -> RoundState:
        return self._commit(self.get(round_id).model_copy(update={"revealed": revealed}))

    def restore(self, state: RoundState) -> None:
        """Take over a round's state as published before a restart, timers included."""
        self._rounds[state.round] = state
        if state.status in (RoundStatus.OPEN, RoundStatus.PAUSED):
            self.current = state.round
        if state.status is RoundStatus.OPEN:
            self._arm(state)

    # Internals.

    def _close(self, state: RoundState, at: float | None = None) -> RoundState:
        now = self._clock.time() if at is None else at
        windows = list(state.windows)
        if windows and windows[-1].end is None:
            windows[-1] = Window(start=windows[-1].start, end=now)
        self._disarm(state.round)
        return self._commit(
            state.model_copy(
                update={
                    "status": RoundStatus.CLOSED,
                    "windows": windows,
                    "closed_at": now,
                    "deadline": None,
                    "remaining_s": None,
                    "phase": "results",
                }
            )
        )

    def _arm(self, state: RoundState) -> None:
        self._disarm(state.round)
        if state.deadline is None:
            return
        round_id = state.round

        def expire() -> None:
            self._timers.pop(round_id, None)
            current = self._rounds.get(round_id)
            if current is not None and current.status is RoundStatus.OPEN:
                self._close(current, at=current.deadline)

        self._timers[round_id] = self._clock.call_at(state.deadline, expire)

    def _disarm(self, round_id: str) -> None:
        timer = self._timers.pop(round_id, None)
        if timer is not None:
            timer.cancel()

    def _commit(self, state: RoundState, revision: int | None = None) -> RoundState:
        previous = self._rounds.get(state.round)
        rev = revision if revision is not None else (previous.revision + 1 if previous else 1)
        state = state.model_copy(update={"revision": rev})
        self._rounds[state.round] = state
        self._on_change(state)
        return state

    def close_timers(self) -> None:
        for round_id in list(self._timers):
            self._disarm(round_id)
