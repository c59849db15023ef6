"""The tally role: vote batches and round states in, retained tallies and results out.

Snapshots go to ``ars/round/{round}/tally`` (retained) on the leading edge: the first change
after a quiet spell is published at once, and while changes keep coming the next snapshot
waits until ``interval_s`` after the previous one, so a burst of 200 presses costs one message
per interval, not 200, and a lone press waits for no timer. When
a round closes, the engine waits out the grace period plus ``settle_s`` for batches still in
flight, marks the tally final and publishes ``ars/round/{round}/results`` (retained). A
countable record that still arrives after that raises the revision and republishes both.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aiomqtt
import msgspec
from pydantic import ValidationError

from bridge.clock import Clock, SystemClock, TimerHandle
from bridge.event.batches import decode_batch
from bridge.event.rounds import RoundState, RoundStatus
from bridge.event.votes import PUBLISHED, Record
from bridge.mqtt.link import MqttLink, payload_bytes
from bridge.mqtt.topics import Topics
from bridge.tally.count import RoundTally, Seating, SeatingPlan
from bridge.tally.results import EventRecords

log = logging.getLogger(__name__)


class TallyEngine:
    """Keeps a :class:`RoundTally` per round and publishes it."""

    def __init__(
        self,
        link: MqttLink,
        topics: Topics,
        *,
        interval_s: float = 0.1,
        settle_s: float = 0.5,
        clock: Clock | None = None,
        seating: Seating | None = None,
        min_segment: int = 5,
    ) -> None:
        self._link = link
        self._topics = topics
        self._interval = interval_s
        self._settle = settle_s
        self._clock = clock or SystemClock()
        self.seating = seating
        self.min_segment = min_segment
        self.tallies: dict[str, RoundTally] = {}
        self.heard: set[str] = set()
        self._orphans: dict[str, list[tuple[str, Record]]] = {}
        self._dirty: set[str] = set()
        self._timers: dict[str, TimerHandle] = {}
        self._wake = asyncio.Event()
        self._next_at = 0.0  # no snapshot before this clock time (the interval since the last)
        self._trailing: TimerHandle | None = None  # the snapshot that ends a run of changes
        self.batches = 0
        self.bad_batches = 0
        self.gaps = 0
        self._last_batch: dict[tuple[str, str, float], int] = {}
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        # A bridge in this process hands its records and handsets over directly (see
        # bridge.service), so the engine never decodes what its own link published.
        link.subscribe(topics.all_votes, self._on_votes, own=False)
        link.subscribe(topics.all_round_states, self._on_state)
        link.subscribe(topics.roster, self._on_roster)
        link.subscribe(topics.all_bridge_handsets, self._on_handsets, own=False)
        link.subscribe(topics.all_bridge_handset_changes, self._on_handsets, own=False)

    # Input.

    def _on_state(self, message: aiomqtt.Message) -> None:
        try:
            state = RoundState.model_validate_json(payload_bytes(message))
        except ValidationError as exc:
            log.warning("ignoring malformed round state on %s: %s", message.topic, exc)
            return
        self.update_round(state)

    def update_round(self, state: RoundState) -> None:
        """Take a round state (from MQTT, or directly from the controller in one process)."""
        tally = self.tallies.get(state.round)
        if tally is not None and tally.state.revision >= state.revision:
            return
        if tally is None or (state.since is not None and state.since != tally.state.since):
            tally = RoundTally(state, seating=self.seating, min_segment=self.min_segment)
            self.tallies[state.round] = tally
            for source, rec in self._orphans.pop(state.round, []):
                tally.apply(rec, source)
        else:
            was_closed = tally.state.status is RoundStatus.CLOSED
            tally.set_state(state)
            if was_closed and state.status is not RoundStatus.CLOSED:
                tally.final = False
        if state.status is RoundStatus.CLOSED and not tally.final:
            self._schedule_final(state)
        self._mark(state.round)

    def _on_roster(self, message: aiomqtt.Message) -> None:
        try:
            doc = json.loads(payload_bytes(message))
            self.set_seating(SeatingPlan(doc))
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            log.warning("ignoring malformed roster on %s: %s", message.topic, exc)

    def set_seating(self, seating: Seating) -> None:
        """A new roster: segments, tables and turnout of every round follow it."""
        self.seating = seating
        for round_id, tally in self.tallies.items():
            tally.seating = seating
            self._mark(round_id)

    def _on_handsets(self, message: aiomqtt.Message) -> None:
        try:
            doc = json.loads(payload_bytes(message))
            handsets = set(doc["handsets"])
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("ignoring malformed handset table on %s: %s", message.topic, exc)
            return
        self.hear(handsets)

    def hear(self, handsets: Iterable[str]) -> None:
        """Handsets a bridge has heard (pressed or pinged): turnout counts them."""
        before = len(self.heard)
        self.heard.update(handsets)
        if len(self.heard) != before:
            for round_id, tally in self.tallies.items():
                if not tally.final:
                    self._mark(round_id)

    def _on_votes(self, message: aiomqtt.Message) -> None:
        try:
            batch = decode_batch(payload_bytes(message))
        except (msgspec.DecodeError, TypeError) as exc:
            self.bad_batches += 1
            log.warning("ignoring malformed vote batch on %s: %s", message.topic, exc)
            return
        self.batches += 1
        source, records = batch.bridge, batch.records()
        key = (source, batch.receiver, batch.boot)
        number = batch.batch
        last = self._last_batch.get(key)
        if last is not None and number > last + 1:
            self.gaps += number - last - 1
        self._last_batch[key] = max(number, last or 0)
        self.apply(records, source)

    def apply(self, records: list[Record], source: str = "") -> None:
        """Count records from one bridge."""
        for rec in records:
            if rec.handset:
                self.heard.add(rec.handset)
            if rec.round is None:
                continue
            tally = self.tallies.get(rec.round)
            if tally is None:
                self._orphans.setdefault(rec.round, []).append((source, rec))
                continue
            if tally.apply(rec, source):
                if tally.final:
                    tally.revision += 1
                self._mark(rec.round)

    # Output.

    def snapshot(self, round_id: str, *, full: bool | None = None) -> dict[str, Any] | None:
        """The round's current tally; ``full`` None follows the round's visibility."""
        tally = self.tallies.get(round_id)
        if tally is None:
            return None
        show = tally.state.results_visible if full is None else full
        return tally.snapshot(heard=len(self.heard), now=self._clock.time(), full=show)

    def results(self, round_id: str) -> dict[str, Any] | None:
        """The final results, or None while the round is not closed and settled."""
        tally = self.tallies.get(round_id)
        if tally is None or not tally.final:
            return None
        return self.snapshot(round_id, full=True)

    async def run(self) -> None:
        """Publish coalesced snapshots until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._next_at = self._clock.time() + self._interval
            await self.publish_dirty()

    async def publish_dirty(self) -> None:
        dirty, self._dirty = self._dirty, set()
        for round_id in sorted(dirty):
            tally = self.tallies.get(round_id)
            if tally is None:
                continue
            snap = self.snapshot(round_id)
            if snap is None:
                continue
            await self._emit("tally", self._topics.round_tally(round_id), snap)
            if tally.final:
                results = (
                    snap if tally.state.results_visible else self.snapshot(round_id, full=False)
                )
                assert results is not None
                await self._emit("results", self._topics.round_results(round_id), results)

    async def _emit(self, kind: str, topic: str, doc: dict[str, Any]) -> None:
        """Hand ``doc`` to in-process listeners (the displays' mirror first), then publish it
        retained on ``topic``."""
        for listener in self.listeners:
            listener(kind, doc)
        await self._link.publish(topic, json.dumps(doc, separators=(",", ":")), qos=1, retain=True)

    def _mark(self, round_id: str) -> None:
        self._dirty.add(round_id)
        if self._trailing is not None:
            return  # the snapshot at the end of this interval takes the change too
        if self._clock.time() >= self._next_at:
            self._wake.set()
        else:
            self._trailing = self._clock.call_at(self._next_at, self._release)

    def _release(self) -> None:
        self._trailing = None
        self._wake.set()

    def _schedule_final(self, state: RoundState) -> None:
        timer = self._timers.pop(state.round, None)
        if timer is not None:
            timer.cancel()
        closed_at = state.closed_at if state.closed_at is not None else self._clock.time()
        round_id = state.round

        def finalise() -> None:
            self._timers.pop(round_id, None)
            tally = self.tallies.get(round_id)
            if tally is not None and tally.state.status is RoundStatus.CLOSED:
                tally.final = True
                tally.revision += 1
                self._mark(round_id)

        self._timers[round_id] = self._clock.call_at(
            closed_at + state.grace_s + self._settle, finalise
        )

    async def recount_journal(self, path: Path, source: str) -> None:
        """After a restart, count again what the journal at ``path`` holds: vote batches the
        broker took before the restart are not sent again, but the journal has every press."""
        if not await asyncio.to_thread(path.is_file):
            return
        records = EventRecords(path)
        try:
            rounds = await asyncio.to_thread(records.rounds)
            for state in rounds:
                self.update_round(state)
                journaled = await asyncio.to_thread(records.records, state.round)
                # What the bridge's publisher sent: duplicates and bad frames stay behind.
                self.apply([r for r in journaled if r.decision in PUBLISHED], source)
        finally:
            records.close()
        if rounds:
            log.info("tallies of %d rounds counted again from the journal", len(rounds))

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._trailing is not None:
            self._trailing.cancel()
            self._trailing = None
