"""The bridge role: receivers in, decisions journaled, vote batches out.

Each receiver runs under a supervisor task that opens it, reads its events and, when the link
is lost or the device is missing, closes it, publishes ``ars/rx/{receiver}/availability`` as
``offline`` and tries again with capped exponential backoff. A configuration error (a bad URL)
is reported once and not retried.

Every press goes through :class:`bridge.press.intake.Intake`, is appended to the journal, and only
after the journal has committed it is it acknowledged to the handset (two-way receivers) and
handed to the publisher. In an anonymous round the record is journaled and published under
pseudonyms (:mod:`bridge.press.anonymity`), and who voted is journaled apart and published
as turnout by table on ``ars/round/{round}/turnout``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bridge.event.pairing import PairingLedger
from bridge.event.rounds import RoundState, RoundStatus
from bridge.event.votes import COUNTABLE, Decision, Record
from bridge.mqtt.link import MqttLink
from bridge.mqtt.topics import Topics
from bridge.press.anonymity import RoundKeys
from bridge.press.handsets import HandsetTable, TablePublication
from bridge.press.intake import Intake
from bridge.press.journal import Journal
from bridge.press.publisher import VotePublisher
from bridge.press.watch import FaultWatch
from bridge.settings import FaultSettings
from drivers.base import (
    Ack,
    BadFrame,
    PollState,
    Presence,
    Press,
    Receiver,
    ReceiverConfigError,
    ReceiverError,
)
from drivers.ids import HandsetAliases

log = logging.getLogger(__name__)

_ACKS = {
    Decision.COUNTED: Ack.ACCEPTED,
    Decision.CHANGED: Ack.ACCEPTED,
    Decision.DUPLICATE: Ack.ACCEPTED,
    Decision.STALE: Ack.ACCEPTED,
    Decision.LATE: Ack.CLOSED,
    Decision.CLOSED: Ack.CLOSED,
    Decision.UNKNOWN_HANDSET: Ack.NOT_PAIRED,
    Decision.INVALID: Ack.INVALID_KEY,
    # Not taken: a genuine delegate sees it was not accepted and presses again.
    Decision.SUSPECT: Ack.CLOSED,
}


@dataclass(slots=True)
class ReceiverStatus:
    """A receiver as the supervisor sees it."""

    name: str
    family: str
    online: bool = False
    error: str = ""
    opened: int = 0
    since: float = 0.0


class BridgeCore:
    """Supervises receivers, decides and journals presses, and feeds the publisher."""

    def __init__(
        self,
        *,
        bridge_id: str,
        link: MqttLink,
        topics: Topics,
        journal: Journal,
        intake: Intake,
        publisher: VotePublisher,
        backoff: tuple[float, float] = (0.5, 15.0),
        clock: Callable[[], float] = time.time,
        watch: FaultWatch | None = None,
        pairings: Callable[[], PairingLedger] = PairingLedger,
        seat_of: Callable[[str], tuple[str, str] | None] = lambda participant: None,
    ) -> None:
        self.bridge_id = bridge_id
        self._link = link
        self._topics = topics
        self.journal = journal
        self.intake = intake
        self._publisher = publisher
        self._backoff = backoff
        self._clock = clock
        self.aliases = HandsetAliases()
        self.watch = watch or FaultWatch(FaultSettings())
        self.receivers: dict[str, Receiver] = {}
        self.status: dict[str, ReceiverStatus] = {}
        self.table = HandsetTable()
        self.handsets = self.table.health
        self.publication = TablePublication(self.table, self.watch, bridge_id, clock)
        self.table_listeners = self.publication.listeners
        self.decisions: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._seen_rounds: set[str] = set()
        self._pairings = pairings
        self._seat_of = seat_of
        self.keys = RoundKeys()  # replaced by the journal's kept keys when the service starts
        # Anonymous rounds: who voted, by round and last reset.
        self.participation: dict[tuple[str, float | None], set[str]] = {}
        self._turnout_changed: set[str] = set()
        self._real: dict[int, str] = {}  # record id -> handset, until acknowledged
        self._key_timers: dict[str, asyncio.Task[None]] = {}

    # Wiring.

    def on_commit(self, records: list[Record]) -> None:
        """Journal callback: the records are durable; acknowledge and publish them."""
        for rec in records:
            self.decisions[rec.decision.value] = self.decisions.get(rec.decision.value, 0) + 1
            receiver = self.receivers.get(rec.receiver)
            handset = self._real.pop(rec.id, rec.handset)
            if receiver is not None and receiver.acknowledges and rec.decision in _ACKS:
                press = Press(rec.receiver, handset, rec.key, rec.t, rec.seq)
                self._spawn(self._acknowledge(receiver, press, _ACKS[rec.decision]))
        self._publisher.enqueue(records)

    def restore_handsets(self) -> int:
        """Rebuild the handset table from the journal (after a restart); how many presses."""
        n = 0
        for rec in self.journal.records():
            if rec.handset:
                self.table.heard(rec.handset, rec.receiver, rec.t, rec.rssi, rec.battery, 1)
                n += 1
        return n

    def update_round(self, state: RoundState) -> None:
        """A round changed: intake uses it from the next press on; receivers are told."""
        before = self.intake.current
        self.intake.update_round(state)
        if state.round not in self._seen_rounds:
            self._seen_rounds.add(state.round)
            if state.status in (RoundStatus.OPEN, RoundStatus.PAUSED) and not state.anonymous:
                # A round this process has not decided on yet, already open: a restart. What
                # each handset has sent so far comes back from the journal. (An anonymous
                # round's journal holds pseudonyms, which cannot be turned back into handsets.)
                journaled = self.journal.records(round_id=state.round)
                replayed = self.intake.restore(state, journaled)
                if replayed:
                    log.info("round %s: %d journaled presses taken up again", state.round, replayed)
        self._forget_later(state)
        if state.status in (RoundStatus.OPEN, RoundStatus.CLOSED, RoundStatus.PAUSED) and (
            before is None or before.revision != state.revision or before.round != state.round
        ):
            poll = PollState(
                open=state.status is RoundStatus.OPEN,
                round=state.round,
                title=state.title,
                options=len(state.question.options),
            )
            for receiver in self.receivers.values():
                self._spawn(self._set_poll(receiver, poll))

    # Events.

    def handle(self, event: Press | Presence | BadFrame) -> None:
        """Decide on one receiver event and append it to the journal (the hot path)."""
        if isinstance(event, Press):
            handset = self.aliases.resolve(event.handset)
            if handset != event.handset:
                event = Press(
                    event.receiver,
                    handset,
                    event.key,
                    event.t,
                    event.seq,
                    event.rssi,
                    event.battery,
                )
            reason = self.watch.suspect(event)
            if reason is None:
                rec = self.intake.decide(event, self.journal.next_id())
                self.watch.accepted(event)
            else:
                rec = self.intake.suspect(event, self.journal.next_id(), reason)
            state = self.intake.state_of(rec.round) if rec.round is not None else None
            if state is not None and state.anonymous:
                self._anonymise(rec, event.receiver, state)
            self.journal.append(rec)
            self.watch.heard(event.handset, event.receiver, event.t, event.rssi, event.battery)
            self.table.heard(event.handset, event.receiver, event.t, event.rssi, event.battery, 1)
            if rec.decision is Decision.UNKNOWN_HANDSET:
                self.table.held(event.handset)
        elif isinstance(event, Presence):
            handset = self.aliases.resolve(event.handset)
            self.watch.heard(handset, event.receiver, event.t, event.rssi, event.battery)
            self.table.heard(handset, event.receiver, event.t, event.rssi, event.battery, 0)
        else:
            self.journal.append(self.intake.bad_frame(event, self.journal.next_id()))

    def release(self, handset: str) -> Record | None:
        """Decide and journal the press held as suspect for ``handset``, as the technician
        asked; None when none is held. It counts only as the round's rules allow at its time."""
        press = self.watch.release(handset)
        if press is None:
            return None
        rec = self.intake.decide(press, self.journal.next_id())
        rec.detail = "; ".join(filter(None, (rec.detail, "released by the technician")))
        state = self.intake.state_of(rec.round) if rec.round is not None else None
        if state is not None and state.anonymous:
            self._anonymise(rec, press.receiver, state)
        self.journal.append(rec)
        return rec

    def _anonymise(self, rec: Record, receiver: str, state: RoundState) -> None:
        """Pseudonyms in place of the handset and its holder; who voted, recorded apart."""
        assert rec.round is not None
        participant = self._pairings().holder_at(rec.handset, rec.t)
        rx = self.receivers.get(receiver)
        if rx is not None and rx.acknowledges:
            self._real[rec.id] = rec.handset  # the acknowledgement goes to the real handset
        self.keys.pseudonymise(rec, participant)
        if rec.decision in COUNTABLE and participant is not None:
            generation = (rec.round, state.since)
            voted = self.participation.get(generation)
            if voted is None:
                voted = set(self.journal.participants(rec.round, state.since))
                self.participation[generation] = voted
            if participant not in voted:
                voted.add(participant)
                self.journal.participated(rec.round, state.since, participant)
                self._turnout_changed.add(rec.round)

    def turnout_document(self, round_id: str) -> dict[str, Any]:
        """How many participants of each table voted in an anonymous round (not what)."""
        tables: dict[str, int] = {}
        state = self.intake.state_of(round_id)
        since = state.since if state is not None else None
        for participant in self.participation.get((round_id, since), ()):
            seat = self._seat_of(participant)
            if seat is not None and seat[1]:
                tables[seat[1]] = tables.get(seat[1], 0) + 1
        return {
            "round": round_id,
            "since": since,  # the round's last reset: turnout of earlier ones does not count
            "bridge": self.bridge_id,
            "tables": dict(sorted(tables.items())),
        }

    def _forget_later(self, state: RoundState) -> None:
        """Destroy an anonymous round's key once no press can count in it any more."""
        if not state.anonymous or state.status is not RoundStatus.CLOSED:
            return
        closed_at = state.closed_at if state.closed_at is not None else self._clock()
        delay = closed_at + max(state.late_window_s, state.grace_s) - self._clock()
        round_id = state.round

        async def forget() -> None:
            await asyncio.sleep(max(0.0, delay))
            current = self.intake.state_of(round_id)
            if current is not None and current.status is RoundStatus.CLOSED:
                self.keys.forget(round_id)
                self.intake.forget_round(round_id)
                log.info("round %s: pseudonym key destroyed", round_id)

        if round_id in self.keys:
            old = self._key_timers.pop(round_id, None)
            if old is not None:
                old.cancel()
            self._key_timers[round_id] = asyncio.ensure_future(forget())

    def handsets_document(self) -> dict[str, Any]:
        """The whole handset table, as published on ``.../handsets``."""
        return self.publication.whole()

    def take_handset_changes(self) -> None:
        """Take the handset table's changes now (see :meth:`TablePublication.take_changes`)."""
        self.publication.take_changes()

    def review(self) -> None:
        """Let the fault watch check the receivers' counters (every handset-table tick)."""
        self.watch.review(self._clock(), {n: r.stats for n, r in self.receivers.items()})

    async def publish_handsets(self, interval_s: float, whole_interval_s: float) -> None:
        """Every ``interval_s``: the fault watch's review, the turnout of anonymous rounds
        that changed, the handset table's changes (and those the technician's board took in
        between), and the whole table at most every ``whole_interval_s`` while it changes
        (once within the first interval, naming this run's epoch, and after change messages
        were dropped)."""
        changes_topic = self._topics.bridge_handset_changes(self.bridge_id)
        whole_topic = self._topics.bridge_handsets(self.bridge_id)
        while True:
            await asyncio.sleep(interval_s)
            self.review()
            changed, self._turnout_changed = self._turnout_changed, set()
            for round_id in sorted(changed):
                await self._link.publish(
                    self._topics.round_turnout(round_id),
                    json.dumps(self.turnout_document(round_id)),
                    qos=1,
                    retain=True,
                )
            self.publication.take_changes()
            await self.publication.send(self._link, changes_topic, whole_topic, whole_interval_s)

    # Supervision.

    async def supervise(self, receiver: Receiver) -> None:
        """Keep ``receiver`` open and read it until cancelled."""
        name = receiver.name
        self.receivers[name] = receiver
        status = self.status[name] = ReceiverStatus(name, receiver.family)
        delay = self._backoff[0]
        await self._availability(status, False)
        try:
            while True:
                try:
                    await receiver.open()
                    if status.opened or status.error:
                        log.info(
                            "receiver %s: back online after %.1f s",
                            name,
                            self._clock() - status.since,
                        )
                    else:
                        log.info("receiver %s (%s): online", name, receiver.family)
                    status.opened += 1
                    status.error = ""
                    await self._availability(status, True)
                    delay = self._backoff[0]
                    state = self.intake.current
                    if state is not None and state.status is RoundStatus.OPEN:
                        await receiver.set_poll(
                            PollState(True, state.round, state.title, len(state.question.options))
                        )
                    async for event in receiver.events():
                        self.handle(event)
                except ReceiverConfigError as exc:
                    status.error = str(exc)
                    log.error(
                        "receiver %s: %s (not retried; fix [[receivers]] %s)", name, exc, name
                    )
                    await self._availability(status, False)
                    return
                except ReceiverError as exc:
                    if status.online or not status.error:
                        log.warning("receiver %s: %s; retrying", name, exc)
                    status.error = str(exc)
                await receiver.close()
                await self._availability(status, False)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])
        finally:
            await receiver.close()

    async def _availability(self, status: ReceiverStatus, online: bool) -> None:
        if status.online == online and status.since:
            return
        status.online, status.since = online, self._clock()
        payload = {
            "state": "online" if online else "offline",
            "receiver": status.name,
            "family": status.family,
            "since": status.since,
            "error": status.error,
        }
        sent = self._link.publish(
            self._topics.rx_availability(status.name), json.dumps(payload), qos=1, retain=True
        )
        if self._link.connected.is_set():
            await sent
        else:
            # Retained, so the link sends it on connecting; the receiver is read meanwhile.
            self._spawn(sent)

    async def _acknowledge(self, receiver: Receiver, press: Press, ack: Ack) -> None:
        try:
            await receiver.acknowledge(press, ack)
        except ReceiverError as exc:
            log.debug("ack to %s on %s not sent: %s", press.handset, receiver.name, exc)

    async def _set_poll(self, receiver: Receiver, poll: PollState) -> None:
        try:
            await receiver.set_poll(poll)
        except ReceiverError as exc:
            log.debug("poll state to %s not sent: %s", receiver.name, exc)

    async def close(self) -> None:
        """Cancel the key timers at shutdown (a restart sets them again from the journal), and
        what still waits to reach a receiver that is closed or a broker that never came."""
        pending = [*self._key_timers.values(), *self._tasks]
        self._key_timers.clear()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
