"""The tally role: vote batches and round states in, retained tallies and results out.

Snapshots go to ``ars/round/{round}/tally`` (retained) on the leading edge: the first change
after a quiet spell is published at once, and while changes keep coming the next snapshot
waits until ``interval_s`` after the previous one, so a burst of 200 presses costs one message
per interval, not 200, and a lone press waits for no timer. When
a round closes, the engine waits out the grace period plus ``settle_s`` for batches still in
flight, marks the tally final and publishes ``ars/round/{round}/results`` (retained). The
final results are frozen: a fixed document, which later roster or pairing changes, and the
passing of time, leave alone. A countable record journaled in time that still arrives after
that raises the revision and freezes the results again; a record that does not count (late,
closed, a duplicate) leaves them as they are; any other correction is an amendment
(:mod:`bridge.tally.amend`). A reset withdraws the round's results (an empty retained
message) until it closes again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aiomqtt
from pydantic import ValidationError

from bridge.clock import Clock, SystemClock, TimerHandle
from bridge.event.rounds import RoundState, RoundStatus
from bridge.event.votes import COUNTABLE, PUBLISHED, Record
from bridge.mqtt.guard import BusGuard, Rejected
from bridge.mqtt.link import MqttLink, payload_bytes
from bridge.mqtt.topics import Topics
from bridge.tally.batches import BatchCheck
from bridge.tally.count import RoundTally
from bridge.tally.ledger import Ledger, Token
from bridge.tally.receipts import Receipts
from bridge.tally.results import EventRecords
from bridge.tally.seating import Seating, SeatingPlan

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
        check: BatchCheck,
        receipts: Receipts | None = None,
        guard: BusGuard | None = None,
        desk_on_bus: bool = True,
        max_revision_jump: int = 10000,
    ) -> None:
        self._link = link
        self.receipts = receipts or Receipts(link, topics)
        self._topics = topics
        self._interval = interval_s
        self._settle = settle_s
        self._clock = clock or SystemClock()
        self.seating = seating
        self.min_segment = min_segment
        self.tallies: dict[str, RoundTally] = {}
        self.heard: set[str] = set()
        self.amendments: dict[str, dict[str, Any]] = {}  # the latest amended results by round
        self._orphans: dict[str, list[tuple[str, Record]]] = {}
        self._dirty: set[str] = set()
        self._withdrawn: set[str] = set()  # reset rounds whose retained results must go
        self._timers: dict[str, TimerHandle] = {}
        self._wake = asyncio.Event()
        self._next_at = 0.0  # no snapshot before this clock time (the interval since the last)
        self._trailing: TimerHandle | None = None  # the snapshot that ends a run of changes
        self.batches = 0
        self.bad_batches = 0
        self.gaps = 0
        self._last_batch: dict[tuple[str, str, float], int] = {}
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.check = check
        self.max_revision_jump = max_revision_jump
        self.guard = guard or BusGuard()
        # This process's own bridge hands its batches over directly (take_local).
        link.subscribe(topics.all_votes, self._on_votes, own=False)
        # With the round controller in this process its states and roster come directly,
        # never from the bus, where anyone could have written one.
        if desk_on_bus:
            link.subscribe(topics.all_round_states, self._on_state)
            link.subscribe(topics.roster, self._on_roster)
        link.subscribe(topics.all_round_turnouts, self._on_turnout)
        # round -> bridge -> (the round's last reset, voters by table)
        self._turnouts: dict[str, dict[str, tuple[float | None, dict[str, int]]]] = {}

    # Input.

    def _on_state(self, message: aiomqtt.Message) -> None:
        try:
            state = RoundState.model_validate_json(payload_bytes(message))
        except ValidationError as exc:
            log.warning("ignoring malformed round state on %s: %s", message.topic, exc)
            return
        tally = self.tallies.get(state.round)
        held = tally.state.revision if tally is not None else 0
        if state.revision > held + self.max_revision_jump or not str(message.topic).endswith(
            f"/{state.round}/state"
        ):
            self.guard.reject(
                str(message.topic),
                Rejected("round state out of line", f"revision {state.revision} after {held}"),
            )
            return
        self.update_round(state)

    def update_round(self, state: RoundState) -> None:
        """Take a round state (from MQTT, or directly from the controller in one process)."""
        tally = self.tallies.get(state.round)
        if tally is not None and tally.state.revision >= state.revision:
            return
        if tally is None or (state.since is not None and state.since != tally.state.since):
            if tally is not None:  # a reset: the results of the earlier voting no longer hold
                self._withdrawn.add(state.round)
            tally = RoundTally(state, seating=self.seating, min_segment=self.min_segment)
            self.tallies[state.round] = tally
            for source, rec in self._orphans.pop(state.round, []):
                tally.apply(rec, source)
            self._take_turnout(tally)
        else:
            was_closed = tally.state.status is RoundStatus.CLOSED
            tally.set_state(state)
            if was_closed and state.status is not RoundStatus.CLOSED:
                tally.final = False
                tally.frozen = None
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
        """A new roster: segments, tables and turnout of every round not final follow it."""
        self.seating = seating
        for round_id, tally in self.tallies.items():
            if not tally.final:
                tally.set_seating(seating)
                self._mark(round_id)

    def take_table(self, doc: dict[str, Any]) -> None:
        """A bridge's handset table or change message, as the mirror takes it (checked, from
        a bridge in ``bus.bridges``, newer than its copy)."""
        self.hear(h for h, entry in doc["handsets"].items() if entry is not None)

    def hear(self, handsets: Iterable[str]) -> None:
        """Handsets a bridge has heard (pressed or pinged): turnout counts them."""
        before = len(self.heard)
        self.heard.update(handsets)
        if len(self.heard) != before:
            for round_id, tally in self.tallies.items():
                if not tally.final:
                    self._mark(round_id)

    def _on_turnout(self, message: aiomqtt.Message) -> None:
        """An anonymous round's turnout by table from a bridge (who voted, not what)."""
        try:
            doc = json.loads(payload_bytes(message))
            round_id, bridge = str(doc["round"]), str(doc.get("bridge", ""))
            tables = {str(t): int(n) for t, n in dict(doc["tables"]).items()}
            since = None if doc.get("since") is None else float(doc["since"])
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("ignoring malformed turnout on %s: %s", message.topic, exc)
            return
        self._turnouts.setdefault(round_id, {})[bridge] = (since, tables)
        tally = self.tallies.get(round_id)
        if tally is not None:
            self._take_turnout(tally)

    def _take_turnout(self, tally: RoundTally) -> None:
        turnouts = self._turnouts.get(tally.state.round)
        if tally.final or not turnouts:
            return
        total: dict[str, int] = {}
        for since, tables in turnouts.values():
            if since != tally.state.since:
                continue  # from before the round's last reset
            for table, n in tables.items():
                total[table] = total.get(table, 0) + n
        tally.turnout = total
        tally.participants = None  # the bridges' counts include what the journal held
        self._mark(tally.state.round)

    def _on_votes(self, message: aiomqtt.Message) -> None:
        topic = str(message.topic)
        try:
            data = _data(message)
            levels = self._topics.split(topic)
            batch = self.check.check(topic, levels[1] if len(levels) == 3 else "", data)
        except Rejected as exc:
            self.bad_batches += 1
            self.guard.reject(topic, exc)
            return
        self.batches += 1
        key = (batch.bridge, batch.receiver, batch.boot)
        last = self._last_batch.get(key)
        if last is not None and batch.number > last + 1:
            self.gaps += batch.number - last - 1
        self._last_batch[key] = max(batch.number, last or 0)
        self.apply(batch.records, batch.bridge)
        self.receipts.received(batch.bridge, batch.records, batch.token)

    def take_local(self, records: list[Record], token: Token) -> None:
        """A part of a cycle this process's own bridge is sending: its records were counted
        as the journal committed them (:meth:`apply`); here the cycle's cover is taken."""
        self.batches += 1
        self.receipts.received(token[0], records, token)

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
                    if rec.decision not in COUNTABLE or rec.answer is None:
                        continue  # the published results stand: this press changes no count
                    tally.revision += 1
                    self._freeze(tally)
                self._mark(rec.round)

    # Output.

    def snapshot(self, round_id: str, *, full: bool | None = None) -> dict[str, Any] | None:
        """The round's current tally; ``full`` None follows the round's visibility."""
        tally = self.tallies.get(round_id)
        if tally is None:
            return None
        show = tally.state.results_visible if full is None else full
        doc = tally.snapshot(heard=len(self.heard), now=self._clock.time(), full=show)
        doc["epoch"] = self.receipts.epoch  # the lease it was counted under (fencing)
        return doc

    def results(self, round_id: str) -> dict[str, Any] | None:
        """The final results (frozen), or None while the round is not closed and settled."""
        tally = self.tallies.get(round_id)
        if tally is None or not tally.final or tally.frozen is None:
            return None
        return {**tally.frozen, "epoch": self.receipts.epoch}

    def amended(self, doc: dict[str, Any]) -> None:
        """An amendment's revision replaces the round's frozen results, now and after a
        restart: from here on only another amendment changes them."""
        round_id = str(doc["round"])
        self.amendments[round_id] = doc
        tally = self.tallies.get(round_id)
        if tally is not None and tally.final:
            self._freeze(tally)
            self._mark(round_id)

    def _freeze(self, tally: RoundTally) -> None:
        """Fix the final results document as it stands now (or as last amended)."""
        amended = self.amendments.get(tally.state.round)
        if amended is not None:
            tally.frozen = amended
            tally.revision = int(amended["revision"])
            return
        tally.frozen = tally.snapshot(heard=len(self.heard), now=self._clock.time(), full=True)

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
            if round_id in self._withdrawn and not tally.final:
                self._withdrawn.discard(round_id)
                await self._link.publish(
                    self._topics.round_results(round_id), "", qos=1, retain=True
                )
            if tally.final and tally.frozen is not None:
                shown = tally.state.results_visible
                results = tally.frozen if shown else self.snapshot(round_id, full=False)
                assert results is not None
                await self._emit("tally", self._topics.round_tally(round_id), results)
                await self._emit("results", self._topics.round_results(round_id), results)
                continue
            snap = self.snapshot(round_id)
            if snap is None:
                continue
            await self._emit("tally", self._topics.round_tally(round_id), snap)

    def became_active(self) -> None:
        """This tally took the lease over: publish every round as it stands here."""
        for round_id in self.tallies:
            self._mark(round_id)

    async def _emit(self, kind: str, topic: str, doc: dict[str, Any]) -> None:
        """Publish ``doc`` retained on ``topic`` and hand it to in-process listeners; only
        the tally holding the lease publishes, and says under which epoch."""
        if not self.receipts.active:
            return
        doc = {**doc, "epoch": self.receipts.epoch}
        data = json.dumps(doc, separators=(",", ":"))
        await self._link.publish(topic, data, qos=1, retain=True, doc=doc)
        for listener in self.listeners:
            listener(kind, doc)

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
                self._freeze(tally)
                self._mark(round_id)

        self._timers[round_id] = self._clock.call_at(
            closed_at + state.grace_s + self._settle, finalise
        )

    async def recount_journal(
        self, path: Path, source: str, ledger: Ledger | None = None, local: bool = True
    ) -> None:
        """After a restart, count again what this process holds: the journal at ``path`` (the
        presses of bridge ``source``, when it runs here) and the tally's own record of every
        other bridge; then say, on the bus, how far each bridge's records are held."""
        marks: dict[str, int] = {}
        if ledger is not None:
            marks.update(ledger.open())
        records = EventRecords(path) if await asyncio.to_thread(path.is_file) else None
        rounds: list[RoundState] = []
        try:
            if records is not None:
                rounds = await asyncio.to_thread(records.rounds)
            for state in rounds:
                self.update_round(state)
            for state in rounds:
                if records is not None and state.anonymous and state.round in self.tallies:
                    # Who voted, as journaled apart from the answers.
                    voted = await asyncio.to_thread(records.participants, state)
                    self.tallies[state.round].participants = set(voted or ())
            if records is not None and local:
                journaled = await asyncio.to_thread(records.journal_records)
                # What the bridge's publisher sent: duplicates and bad frames stay behind.
                self.apply([r for r in journaled if r.decision in PUBLISHED], source)
                marks[source] = max((r.id for r in journaled), default=0)
                if journaled:
                    self.check.seen(source, max(r.id for r in journaled))
            if ledger is not None:
                held = await asyncio.to_thread(lambda: list(ledger.records()))
                for bridge, rec in held:
                    self.apply([rec], bridge)
                    self.check.seen(bridge, rec.id)
        finally:
            if records is not None:
                records.close()
        self.receipts.start_marks(marks)
        if rounds:
            log.info("tallies of %d rounds counted again from the journal", len(rounds))

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._trailing is not None:
            self._trailing.cancel()
            self._trailing = None


def _data(message: aiomqtt.Message) -> bytes:
    try:
        return payload_bytes(message)
    except TypeError:
        raise Rejected("malformed", "empty payload") from None
