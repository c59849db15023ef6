"""The round controller: what the host does to a round, and the timer that closes voting.

Every change produces a new :class:`RoundState` (revision + 1) handed to ``on_change``, which
publishes it retained and tells the bridges and receivers. Timers run on a
:class:`bridge.clock.Clock`, so tests drive them with a manual clock.

A theme's round moves through its phases: presentation and discussion (set by the host),
voting (the round is open; the timer closes it at the planned voting time unless the host
closes it first, extends, pauses or resumes it) and results. A re-vote is a new round of the
same theme (``{theme}-2``); the first round and its presses stay as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bridge.clock import Clock, TimerHandle
from bridge.event.agenda import Agenda
from bridge.event.language import Locale, locale
from bridge.event.rounds import PhaseName, RoundState, RoundStatus, Window
from bridge.event.votes import Unpaired

ACTIVE = (RoundStatus.OPEN, RoundStatus.PAUSED)


class RoundError(Exception):
    """A round command that does not fit the round's state; ``status`` is the HTTP status.

    The message is the catalogue's ``round_error.<key>`` (``bridge/event/messages``) with
    ``values`` filled in: English in ``str()``, any language through :meth:`text`.
    """

    def __init__(self, key: str, status: int = 409, **values: Any) -> None:
        self.key = key
        self.values = values
        self.status = status
        super().__init__(self.text(locale()))

    def text(self, lang: Locale) -> str:
        """The message in ``lang``; a round status in it is named in that language too."""
        values = dict(self.values)
        for name, labels in (("state", "status"), ("phase", "phase")):
            if name in values:
                values[name] = lang.t(f"value.{labels}.{values[name]}")
        return lang.t(f"round_error.{self.key}", **values)


StateListener = Callable[[RoundState], None]
Deleted = Callable[[str], None]
# (role, action, round, parameters): what the audit trail records of each command.
ActionListener = Callable[[str, str, str | None, dict[str, Any]], None]


class RoundController:
    """Holds every round's state and runs the voting timers."""

    def __init__(
        self,
        clock: Clock,
        on_change: StateListener,
        *,
        grace_s: float = 2.0,
        late_window_s: float = 60.0,
        unpaired: Unpaired = Unpaired.HOLD,
        anonymous: bool = False,
        agenda: Agenda | None = None,
        on_delete: Deleted | None = None,
    ) -> None:
        self._clock = clock
        self._on_change = on_change
        self._on_delete = on_delete
        self._grace_s = grace_s
        self._unpaired = unpaired
        self._anonymous = anonymous
        self._late_window_s = late_window_s
        self._rounds: dict[str, RoundState] = {}
        self._timers: dict[str, TimerHandle] = {}
        self.agenda = agenda
        self.current: str | None = None
        self.on_action: ActionListener | None = None

    def _did(self, action: str, round_id: str, role: str = "host", **params: Any) -> None:
        if self.on_action is not None:
            self.on_action(role, action, round_id, params)

    # Queries.

    def get(self, round_id: str) -> RoundState:
        state = self._rounds.get(round_id)
        if state is None:
            raise RoundError("missing", status=404, round=round_id)
        return state

    def started(self, round_id: str) -> RoundState:
        """The round a command acts on; a theme of the agenda not started yet says so."""
        state = self._rounds.get(round_id)
        if state is None and (theme := self._theme(round_id)) is not None:
            raise RoundError("not_started", round=round_id, title=theme.title)
        return self.get(round_id)

    def _theme(self, round_id: str) -> Any:
        return self.agenda.theme_of_round(round_id) if self.agenda is not None else None

    def find(self, round_id: str) -> RoundState | None:
        return self._rounds.get(round_id)

    def all(self) -> list[RoundState]:
        return list(self._rounds.values())

    # Creating rounds.

    def create(self, round_id: str, **fields: Any) -> RoundState:
        """Define a round without opening it; an agenda theme supplies what is not given."""
        existing = self._rounds.get(round_id)
        if existing is not None and existing.status is not RoundStatus.READY:
            raise RoundError("already_ran", round=round_id)
        theme = self.agenda.theme_of_round(round_id) if self.agenda is not None else None
        if theme is not None:
            fields = {**theme.round_fields(), **fields}
            suffix = round_id.removeprefix(theme.id).lstrip("-")
            fields.setdefault("attempt", int(suffix) if suffix.isdigit() else 1)
        fields.setdefault("grace_s", self._grace_s)
        fields.setdefault("late_window_s", self._late_window_s)
        fields.setdefault("unpaired", self._unpaired)
        fields.setdefault("anonymous", self._anonymous)
        state = RoundState(round=round_id, **fields)
        state = self._commit(state, revision=(existing.revision + 1) if existing else 1)
        self._did("create", round_id, **_described(state))
        return state

    def _ready(self, round_id: str, fields: dict[str, Any]) -> RoundState:
        """The round to open or move on: an existing one, an agenda theme's, or one that
        ``fields`` define here and now; never a blank round made up for a mistyped ID."""
        state = self._rounds.get(round_id)
        if state is None and not fields and self._theme(round_id) is None:
            themes = ", ".join(t.id for t in self.agenda.themes) if self.agenda else ""
            if not themes:
                raise RoundError("unknown_no_agenda", status=404, round=round_id)
            raise RoundError("unknown", status=404, round=round_id, themes=themes)
        if state is None or fields:
            state = self.create(round_id, **fields)
        return state

    def delete(self, round_id: str) -> None:
        """Remove a round that was never opened (the caller checks it holds no presses)."""
        state = self.get(round_id)
        if state.status is not RoundStatus.READY or state.windows or state.since is not None:
            raise RoundError("voted_on", round=round_id)
        del self._rounds[round_id]
        if self.current == round_id:
            self.current = None
        if self._on_delete is not None:
            self._on_delete(round_id)

    def revote(self, round_id: str) -> RoundState:
        """A new round on the same question; the first stays as it was, journal included."""
        first = self.started(round_id)
        if first.status is not RoundStatus.CLOSED:
            raise RoundError("revote_unclosed", round=round_id, state=first.status.value)
        theme = first.theme or first.round
        attempt = max(s.attempt for s in self._rounds.values() if (s.theme or s.round) == theme)
        self._did("revote", round_id, new_round=f"{theme}-{attempt + 1}")
        return self.create(
            f"{theme}-{attempt + 1}",
            theme=theme,
            title=first.title,
            question=first.question,
            policy=first.policy,
            visibility=first.visibility,
            paired_only=first.paired_only,
            unpaired=first.unpaired,
            anonymous=first.anonymous,
            phases=first.phases,
            grace_s=first.grace_s,
            attempt=attempt + 1,
        )

    # Voting.

    def open(
        self, round_id: str, *, duration_s: float | None = None, timer: bool = True, **fields: Any
    ) -> RoundState:
        """Open voting now; the timer closes it after ``duration_s`` or the planned voting time.

        ``timer=False`` leaves closing to the host.
        """
        if duration_s is not None and duration_s <= 0:
            raise RoundError("duration_positive", status=422)
        state = self._ready(round_id, fields)
        if state.status is not RoundStatus.READY:
            raise RoundError("opens_ready", round=round_id, state=state.status.value)
        for other in self._rounds.values():
            if other.round != round_id and other.status in ACTIVE:
                raise RoundError("still_active", round=other.round, state=other.status.value)
        now = self._clock.time()
        if duration_s is None and timer:
            duration_s = state.planned_s(PhaseName.VOTING)
        deadline = now + duration_s if duration_s is not None and timer else None
        new = state.model_copy(
            update={
                "status": RoundStatus.OPEN,
                "windows": [Window(start=now)],
                "deadline": deadline,
                "phase": PhaseName.VOTING,
                "phase_started_at": now,
                "closed_at": None,
                "remaining_s": None,
            }
        )
        self.current = round_id
        self._arm(new)
        self._did("open", round_id, duration_s=duration_s, timer=timer, deadline=deadline)
        return self._commit(new)

    def close(self, round_id: str) -> RoundState:
        state = self.started(round_id)
        if state.status not in ACTIVE:
            raise RoundError("closes_open", round=round_id, state=state.status.value)
        self._did("close", round_id)
        return self._close(state)

    def extend(self, round_id: str, seconds: float) -> RoundState:
        """Give voting more time; a round without a timer gets one ``seconds`` from now."""
        if seconds <= 0:
            raise RoundError("seconds_positive", status=422)
        state = self.started(round_id)
        if state.status is RoundStatus.PAUSED:
            remaining = (state.remaining_s or 0.0) + seconds
            self._did("extend", round_id, seconds=seconds)
            return self._commit(state.model_copy(update={"remaining_s": remaining}))
        if state.status is not RoundStatus.OPEN:
            raise RoundError("extends_open", round=round_id, state=state.status.value)
        self._did("extend", round_id, seconds=seconds)
        base = state.deadline if state.deadline is not None else self._clock.time()
        new = state.model_copy(update={"deadline": base + seconds})
        self._arm(new)
        return self._commit(new)

    def pause(self, round_id: str) -> RoundState:
        """Stop voting and the timer; presses until :meth:`resume` do not count."""
        state = self.started(round_id)
        if state.status is not RoundStatus.OPEN:
            raise RoundError("pauses_open", round=round_id, state=state.status.value)
        now = self._clock.time()
        windows = [*state.windows[:-1], Window(start=state.windows[-1].start, end=now)]
        remaining = None if state.deadline is None else max(0.0, state.deadline - now)
        self._disarm(round_id)
        self._did("pause", round_id, remaining_s=remaining)
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
        """Reopen a paused round with the time it had left."""
        state = self.started(round_id)
        if state.status is not RoundStatus.PAUSED:
            raise RoundError("resumes_paused", round=round_id, state=state.status.value)
        now = self._clock.time()
        deadline = None if state.remaining_s is None else now + state.remaining_s
        self._did("resume", round_id, deadline=deadline)
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
        state = self.started(round_id)
        if state.status in ACTIVE:
            raise RoundError("reset_active", round=round_id, state=state.status.value)
        self._disarm(round_id)
        self._did("reset", round_id, since=self._clock.time())
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
                    "phase": None,
                    "phase_started_at": None,
                }
            )
        )

    # Phases and results.

    def set_phase(self, round_id: str, phase: PhaseName, **fields: Any) -> RoundState:
        """Move a round to ``phase``: voting opens it, results closes it."""
        if phase is PhaseName.VOTING:
            self._did("phase", round_id, phase=phase.value)
            return self.open(round_id, **fields)
        state = (
            self._ready(round_id, fields)
            if phase is not PhaseName.RESULTS
            else self.started(round_id)
        )
        if state.phases and phase not in {p.name for p in state.phases}:
            raise RoundError("no_phase", status=422, round=round_id, phase=phase.value)
        if phase is PhaseName.RESULTS:
            if state.status in ACTIVE:
                self._did("phase", round_id, phase=phase.value)
                self._did("close", round_id)
                return self._close(state)
            if state.status is RoundStatus.READY:
                raise RoundError("not_voted_yet", round=round_id)
        elif state.status is not RoundStatus.READY:
            raise RoundError(
                "phase_over", round=round_id, state=state.status.value, phase=phase.value
            )
        else:
            self.current = round_id
        self._did("phase", round_id, phase=phase.value)
        return self._commit(
            state.model_copy(update={"phase": phase, "phase_started_at": self._clock.time()})
        )

    def reveal(self, round_id: str, revealed: bool = True) -> RoundState:
        """Show (or hide again) the results of a round whose visibility is ``hidden``."""
        self._did("reveal", round_id, revealed=revealed)
        return self._commit(self.started(round_id).model_copy(update={"revealed": revealed}))

    # Restart.

    def restore(self, states: Iterable[RoundState]) -> None:
        """Take over rounds as they were before a restart; an open round's timer runs on."""
        states = list(states)
        for state in states:
            self._rounds[state.round] = state
            if state.status in ACTIVE or (
                self.current is None
                and state.phase is not None
                and state.status is RoundStatus.READY
            ):
                self.current = state.round
        for state in states:
            if state.status is RoundStatus.OPEN:
                self._arm(state)

    def close_timers(self) -> None:
        for round_id in list(self._timers):
            self._disarm(round_id)

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
                    "phase": PhaseName.RESULTS,
                    "phase_started_at": now,
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
                # Closed at the deadline itself, however late the callback ran.
                self._did("close", round_id, role="timer", at=current.deadline)
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


def _described(state: RoundState) -> dict[str, Any]:
    """What the audit trail keeps of a round's definition: how it asks and counts."""
    return {
        "question": state.question.kind.value,
        "options": list(state.question.keys),
        "policy": state.policy.value,
        "visibility": state.visibility.value,
        "paired_only": state.paired_only,
        "unpaired": state.unpaired.value,
        "grace_s": state.grace_s,
        "anonymous": state.anonymous,
    }
