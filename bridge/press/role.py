"""The bridge role: receivers in, decisions journaled, vote batches out.

Each receiver runs under a supervisor task that opens it, reads its events and, when the link
is lost or the device is missing, closes it, publishes ``ars/rx/{receiver}/availability`` as
``offline`` and tries again with capped exponential backoff. A configuration error (a bad URL)
is reported once and not retried.

Every press goes through :class:`bridge.press.intake.Intake`, is appended to the journal, and only
after the journal has committed it is it acknowledged to the handset (two-way receivers) and
handed to the publisher.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from bridge.event.rounds import RoundState, RoundStatus
from bridge.event.votes import Decision, Record
from bridge.mqtt.link import MqttLink
from bridge.mqtt.topics import Topics
from bridge.press.intake import Intake
from bridge.press.journal import Journal
from bridge.press.publisher import VotePublisher
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
}


@dataclass(slots=True)
class HandsetHealth:
    """What a technician sees per handset: when and where it was last heard, and how well."""

    handset: str
    receiver: str
    last_heard: float
    presses: int = 0
    rssi: int | None = None
    battery: int | None = None


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
        self.receivers: dict[str, Receiver] = {}
        self.status: dict[str, ReceiverStatus] = {}
        self.handsets: dict[str, HandsetHealth] = {}
        self._changed: set[str] = set()  # handsets heard since the last table of changes
        # In-process takers of the handset changes (the tally, the desk), handed the document
        # itself before it is published.
        self.handset_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.decisions: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._seen_rounds: set[str] = set()

    # Wiring.

    def on_commit(self, records: list[Record]) -> None:
        """Journal callback: the records are durable; acknowledge and publish them."""
        for rec in records:
            self.decisions[rec.decision.value] = self.decisions.get(rec.decision.value, 0) + 1
            receiver = self.receivers.get(rec.receiver)
            if receiver is not None and receiver.acknowledges and rec.decision in _ACKS:
                press = Press(rec.receiver, rec.handset, rec.key, rec.t, rec.seq)
                self._spawn(self._acknowledge(receiver, press, _ACKS[rec.decision]))
        self._publisher.enqueue(records)

    def republish_unconfirmed(self) -> int:
        """Queue journaled records the broker never acknowledged (after a restart)."""
        records = self.journal.unpublished()
        if records:
            self._publisher.enqueue(records)
            log.info("republishing %d journaled records not confirmed by the broker", len(records))
        return len(records)

    def restore_handsets(self) -> int:
        """Rebuild the handset table from the journal (after a restart); how many presses."""
        n = 0
        for rec in self.journal.records():
            if rec.handset:
                self._heard(rec.handset, rec.receiver, rec.t, rec.rssi, rec.battery, 1)
                n += 1
        return n

    def update_round(self, state: RoundState) -> None:
        """A round changed: intake uses it from the next press on; receivers are told."""
        before = self.intake.current
        self.intake.update_round(state)
        if state.round not in self._seen_rounds:
            self._seen_rounds.add(state.round)
            if state.status in (RoundStatus.OPEN, RoundStatus.PAUSED):
                # A round this process has not decided on yet, already open: a restart. What
                # each handset has sent so far comes back from the journal.
                replayed = self.intake.restore(state, self.journal.records(round_id=state.round))
                if replayed:
                    log.info("round %s: %d journaled presses taken up again", state.round, replayed)
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
            rec = self.intake.decide(event, self.journal.next_id())
            self.journal.append(rec)
            self._heard(event.handset, event.receiver, event.t, event.rssi, event.battery, 1)
        elif isinstance(event, Presence):
            handset = self.aliases.resolve(event.handset)
            self._heard(handset, event.receiver, event.t, event.rssi, event.battery, 0)
        else:
            self.journal.append(self.intake.bad_frame(event, self.journal.next_id()))

    def _heard(
        self,
        handset: str,
        receiver: str,
        t: float,
        rssi: int | None,
        battery: int | None,
        presses: int,
    ) -> None:
        health = self.handsets.get(handset)
        if health is None:
            health = self.handsets[handset] = HandsetHealth(handset, receiver, t)
        health.receiver, health.last_heard = receiver, t
        health.presses += presses
        if rssi is not None:
            health.rssi = rssi
        if battery is not None:
            health.battery = battery
        self._changed.add(handset)

    def handsets_document(self, only: Iterable[str] | None = None) -> dict[str, Any]:
        """Every handset heard this session (or those in ``only``), as published on
        ``.../handsets`` (and ``.../handsets/changes``)."""
        table = self.handsets
        chosen = table.values() if only is None else (table[h] for h in only if h in table)
        return {
            "bridge": self.bridge_id,
            "t": round(self._clock(), 3),
            "handsets": {
                h.handset: {
                    "rx": h.receiver,
                    "last": round(h.last_heard, 3),
                    "presses": h.presses,
                    "rssi": h.rssi,
                    "bat": h.battery,
                }
                for h in chosen
            },
        }

    async def publish_handsets(self, interval_s: float, full_every_s: float) -> None:
        """Publish the handsets heard since the last time on ``.../handsets/changes`` at most
        every ``interval_s``, and the whole table, retained, on ``.../handsets`` at start and
        at most every ``full_every_s`` (a table of 50,000 handsets is 4 MB)."""
        changes = self._topics.bridge_handset_changes(self.bridge_id)
        full = self._topics.bridge_handsets(self.bridge_id)
        full_due = 0.0  # the first table goes out whole, so the retained one is this session's
        while True:
            await asyncio.sleep(interval_s)
            now = time.monotonic()
            if now >= full_due:
                full_due = now + full_every_s
                self._changed.clear()
                doc = self.handsets_document()
                await self._tell(doc)
                await self._link.publish(full, _encode(doc), qos=1, retain=True)
            elif self._changed:
                doc = self.handsets_document(self._changed)
                self._changed = set()
                await self._tell(doc)
                await self._link.publish(changes, _encode(doc), qos=1)

    async def _tell(self, doc: dict[str, Any]) -> None:
        for listener in self.handset_listeners:
            listener(doc)

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
        await self._link.publish(
            self._topics.rx_availability(status.name), json.dumps(payload), qos=1, retain=True
        )

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

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


_encoder = msgspec.json.Encoder()


def _encode(doc: dict[str, Any]) -> bytes:
    """A handset table as JSON; msgspec, because a table of 50,000 handsets is 4 MB."""
    return _encoder.encode(doc)
