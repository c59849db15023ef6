"""Intake: the decision taken on every press before it is journaled.

A press is first placed in time against the current round (:func:`bridge.event.rounds.gate`), then
compared with what this handset last sent in that round:

* a repeat of the handset's last key (a retransmit, a base re-report, the same press heard by
  a second receiver) is a **duplicate**;
* for protocols with a per-handset sequence number, a number at or behind the last one is a
  duplicate or a **stale** echo (mod 256);
* without sequence numbers, the handset's previous key arriving from another receiver shortly
  after the handset changed its answer is a **stale** echo;
* anything else is a genuine press: the first answer is **counted**, a different one
  **changed**; a key the question does not accept is **invalid**.

Before that, a press from a handset that no participant held at the press's time (by the
pairing history, :class:`bridge.event.pairing.PairingLedger`) is **held**
(``unknown_handset``) when the round holds such presses
(:func:`bridge.event.rounds.holds_unpaired`).

Intake is pure and synchronous so that the live path and a recount from the journal take the
same decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bridge.event.pairing import PairingLedger, PairingView
from bridge.event.rounds import RoundState, RoundStatus, gate, holds_unpaired
from bridge.event.votes import Decision, Record
from drivers.base import BadFrame, Press


@dataclass(slots=True)
class _Track:
    """What one handset last sent in one round."""

    key: str
    receiver: str
    t: float
    seq: int | None
    answer: str | None = None
    previous_key: str | None = None
    changed_at: float = 0.0


class Intake:
    """Decides on presses against the round states it has been told about."""

    def __init__(
        self,
        *,
        echo_window_s: float = 2.0,
        pairings: Callable[[], PairingView] | None = None,
        grace_s: float | None = None,
    ) -> None:
        self.echo_window_s = echo_window_s
        self._pairings: Callable[[], PairingView] = pairings or PairingLedger  # no roster: empty
        self._grace_s = grace_s  # overrides every round's grace period (recounts)
        self._rounds: dict[str, RoundState] = {}
        self._current: RoundState | None = None
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._held_tracks: dict[tuple[str, str], _Track] = {}

    @property
    def current(self) -> RoundState | None:
        return self._current

    def state_of(self, round_id: str) -> RoundState | None:
        return self._rounds.get(round_id)

    def forget_round(self, round_id: str) -> None:
        """Drop what this intake remembers of a round's handsets (an anonymous round's end)."""
        for tracks in (self._tracks, self._held_tracks):
            for k in [k for k in tracks if k[0] == round_id]:
                del tracks[k]

    def update_round(self, state: RoundState) -> None:
        """Take a new round state; older revisions of a round than the one held are ignored."""
        held = self._rounds.get(state.round)
        if held is not None and held.revision > state.revision:
            return
        if held is not None and state.since is not None and state.since != held.since:
            for tracks in (self._tracks, self._held_tracks):
                for k in [k for k in tracks if k[0] == state.round]:
                    del tracks[k]
        self._rounds[state.round] = state
        current = self._current
        if state.status in (RoundStatus.OPEN, RoundStatus.PAUSED):
            if (
                current is None
                or current.round == state.round
                or ((state.opened_at or 0.0) >= (current.opened_at or 0.0))
            ):
                self._current = state
        elif (current is not None and current.round == state.round) or (
            current is None and state.status is RoundStatus.CLOSED
        ):
            self._current = state

    def restore(self, state: RoundState, records: Iterable[Record]) -> int:
        """Rebuild what each handset has sent in ``state``'s round from its journaled records
        (after a restart), so the next press is decided as if the process had never stopped.
        Returns how many presses were replayed."""
        held, self._current = self._current, state
        replayed = 0
        try:
            for rec in records:
                if rec.round != state.round or not rec.handset:
                    continue
                self.decide(
                    Press(
                        rec.receiver, rec.handset, rec.key, rec.t, rec.seq, rec.rssi, rec.battery
                    ),
                    rec.id,
                )
                replayed += 1
        finally:
            self._current = held
        return replayed

    def round(self, round_id: str) -> RoundState | None:
        """The state held for ``round_id``, if any."""
        return self._rounds.get(round_id)

    def decide(self, press: Press, record_id: int) -> Record:
        """The journal record for ``press``, with its decision."""
        state = self._current
        round_id = state.round if state is not None else None
        decision = gate(state, press.t, self._grace_s)
        if decision is not None:
            return self._record(press, record_id, decision, round_id)
        assert state is not None
        assert round_id is not None
        key = (round_id, press.handset)
        if self._held(state, press):
            # Retransmits of a held press are duplicates, as any other; the held press leaves
            # the handset's answer alone, so once paired its first press counts.
            held = self._held_tracks.get(key)
            if held is not None and self._repeat(held, press) is not None:
                return self._record(press, record_id, Decision.DUPLICATE, round_id, detail="held")
            self._held_tracks[key] = _Track(press.key, press.receiver, press.t, press.seq)
            return self._record(press, record_id, Decision.UNKNOWN_HANDSET, round_id)
        track = self._tracks.get(key)
        if track is not None:
            repeat = self._repeat(track, press)
            if repeat is not None:
                return self._record(press, record_id, repeat, round_id)
        previous = track.answer if track is not None else None
        answer = state.question.answer(previous, press.key)
        if track is None:
            track = _Track(press.key, press.receiver, press.t, press.seq)
            self._tracks[key] = track
        else:
            if press.key != track.key:
                track.previous_key = track.key
                track.changed_at = press.t
            track.key, track.receiver, track.t, track.seq = (
                press.key,
                press.receiver,
                press.t,
                press.seq,
            )
        if answer is None:
            return self._record(press, record_id, Decision.INVALID, round_id, detail="key")
        if answer == previous:
            return self._record(
                press, record_id, Decision.DUPLICATE, round_id, answer=answer, detail="same answer"
            )
        track.answer = answer
        decision = Decision.COUNTED if previous is None else Decision.CHANGED
        return self._record(press, record_id, decision, round_id, answer=answer)

    def _held(self, state: RoundState, press: Press) -> bool:
        ledger = self._pairings()
        if ledger.holder_at(press.handset, press.t) is not None:
            return False
        return holds_unpaired(state, ledger.roster_loaded_at(press.t))

    def _repeat(self, track: _Track, press: Press) -> Decision | None:
        if press.seq is not None and track.seq is not None:
            step = (press.seq - track.seq) & 0xFF
            if step == 0:
                return Decision.DUPLICATE
            if step >= 128:
                return Decision.STALE
            return None
        if press.key == track.key:
            return Decision.DUPLICATE
        if (
            press.key == track.previous_key
            and press.receiver != track.receiver
            and press.t - track.changed_at <= self.echo_window_s
        ):
            return Decision.STALE
        return None

    def suspect(self, press: Press, record_id: int, reason: str) -> Record:
        """The journal record of a press held as suspected spoofing: never counted, and the
        handset's track is left as it was, so its genuine presses carry on from there."""
        state = self._current
        round_id = state.round if state is not None else None
        return self._record(press, record_id, Decision.SUSPECT, round_id, detail=reason[:500])

    def bad_frame(self, frame: BadFrame, record_id: int) -> Record:
        """The journal record for bytes that failed a check."""
        state = self._current
        return Record(
            id=record_id,
            t=frame.t,
            receiver=frame.receiver,
            handset="",
            key="",
            decision=Decision.BAD_FRAME,
            round=state.round if state is not None else None,
            detail=f"{frame.reason}: {frame.raw.hex()}"[:500],
        )

    @staticmethod
    def _record(
        press: Press,
        record_id: int,
        decision: Decision,
        round_id: str | None,
        *,
        answer: str | None = None,
        detail: str = "",
    ) -> Record:
        return Record(
            id=record_id,
            t=press.t,
            receiver=press.receiver,
            handset=press.handset,
            key=press.key,
            decision=decision,
            round=round_id,
            answer=answer,
            seq=press.seq,
            rssi=press.rssi,
            battery=press.battery,
            detail=detail,
        )
