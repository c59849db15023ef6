"""One arsbridge process: the roles it runs, wired together, started and stopped in order.

The roles are ``bridge`` (receivers, intake, journal, vote batches), ``tally`` (the tally
engine) and ``api`` (the round controller the HTTP API drives). ``arsbridge serve`` and
``demo`` run all three in one process; ``arsbridge bridge|tally|api`` run one each, joined by
the MQTT broker. Round states reach bridges and tally engines over MQTT (retained), and in
one process also directly, so a press never waits for a broker round trip to be placed in
its round.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Coroutine, Iterable, Sequence
from secrets import token_hex
from types import TracebackType
from typing import Any

import aiomqtt
from pydantic import ValidationError

from bridge import VERSION
from bridge.clock import Clock, SystemClock
from bridge.desk.controller import RoundController
from bridge.desk.event_desk import EventDesk
from bridge.desk.requests import RequestHandler
from bridge.desk.store import BUS_ROSTER, EventStore
from bridge.event.pairing import PairingLedger
from bridge.event.rounds import RoundState
from bridge.event.votes import PUBLISHED, Record
from bridge.health import health_report
from bridge.mqtt import handset_tables
from bridge.mqtt.broker import EmbeddedBroker, embedded_broker
from bridge.mqtt.feed import MirrorFeed
from bridge.mqtt.guard import BusGuard, Rejected
from bridge.mqtt.heartbeat import Heartbeat
from bridge.mqtt.link import BrokerUnreachable, MqttLink, link_from_settings, payload_bytes
from bridge.mqtt.mirror import Mirror
from bridge.mqtt.topics import Topics
from bridge.press.anonymity import RoundKeys
from bridge.press.intake import Intake
from bridge.press.journal import Journal, JournalHealth
from bridge.press.publisher import VotePublisher
from bridge.press.role import BridgeCore
from bridge.press.watch import FaultWatch
from bridge.settings import ConfigError, Settings
from bridge.tally.batches import BatchCheck
from bridge.tally.engine import TallyEngine
from bridge.tally.kept import KeptResults
from bridge.tally.lease import Lease
from bridge.tally.ledger import Ledger
from bridge.tally.receipts import Receipts
from bridge.tally.seating import SeatingPlan
from drivers.base import Receiver, ReceiverError
from drivers.registry import UnknownDriver, load_driver

log = logging.getLogger(__name__)

ROLES = ("bridge", "tally", "api")
_NO_PAIRINGS = PairingLedger()  # before any roster arrives
STOP_GRACE_S = 1.0  # how long a stopping task may take to clean up before it is cut short


class Service:
    """The components of one process, as an async context manager."""

    def __init__(
        self,
        settings: Settings,
        *,
        roles: Iterable[str] = ROLES,
        clock: Clock | None = None,
        receivers: Sequence[Receiver] = (),
    ) -> None:
        self.settings = settings
        self.roles = frozenset(roles)
        unknown = self.roles - set(ROLES)
        if unknown or not self.roles:
            raise ConfigError(f"roles must be some of {', '.join(ROLES)}, got {sorted(unknown)}")
        self.clock = clock or SystemClock()
        self.topics = Topics(settings.mqtt.base)
        self.started_at = 0.0
        self._bridge_state = "offline"
        self.store_failure = ""
        self._current_known = asyncio.Event()  # a bridge of its own knows the current round
        self._awaited_round: str | None = (
            None  # the last failed write of a round state, until one succeeds
        )
        self._running = False
        configured = self._configured_receivers()
        self._required = [
            (i, r)
            for i, (r, rs) in enumerate(zip(configured, settings.receivers, strict=True))
            if rs.required
        ]
        self.receivers: list[Receiver] = [*configured, *receivers]
        names = [r.name for r in self.receivers]
        if len(set(names)) != len(names):
            raise ConfigError(f"receiver names must be distinct, got {names}")
        self.broker: EmbeddedBroker | None = None
        self.guard = BusGuard()  # what this process dropped from the bus, for /health
        self.anonymous_broker = False  # the broker lets clients in without credentials
        self.link = self._make_link()
        # On the wall clock, whatever clock the rounds run on: it measures the real link.
        self.heartbeat = Heartbeat(
            self.link,
            f"{self.topics.base}/link/{self.link.client_id}",
            interval_s=settings.mqtt.heartbeat_s,
            misses=settings.mqtt.heartbeat_misses,
            clock=SystemClock(),
        )
        # What browsers see: rounds, tallies, availability...
        self.mirror = Mirror(stall_s=settings.api.stream_send_timeout_s)
        self.journal: Journal | None = None
        self.core: BridgeCore | None = None
        self.publisher: VotePublisher | None = None
        self.tally: TallyEngine | None = None
        self.ledger: Ledger | None = None
        self.lease: Lease | None = None
        self._epochs: dict[str, int] = {}  # the highest tally epoch seen per round topic
        self._bridges = frozenset(settings.bus.bridges or [settings.bridge_id])
        self.store: EventStore | None = None
        self.desk: EventDesk | None = None
        self.seats: SeatingPlan | None = None  # the roster as bridges and the tally see it
        self.kept: KeptResults | None = None  # every revision of final results (api role)
        # Round states, and the IDs of rounds deleted, in the order the controller made them.
        self._states: asyncio.Queue[RoundState | str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._build_roles()

    # Construction.

    def _configured_receivers(self) -> list[Receiver]:
        out = []
        for i, rs in enumerate(self.settings.receivers):
            try:
                module = load_driver(rs.driver)
            except UnknownDriver as exc:
                raise ConfigError(f"receivers[{i}] ({rs.name}).driver: {exc}") from None
            out.append(
                module.create_receiver(rs.name, rs.url, baudrate=rs.baudrate, channel=rs.channel)
            )
        return out

    def _make_link(self) -> MqttLink:
        s = self.settings
        login = None
        if s.mqtt.url == "embedded":
            self.broker, login = embedded_broker(s, self.roles)
        will = None
        if "bridge" in self.roles:
            offline = json.dumps({"state": "offline", "bridge": s.bridge_id}).encode()
            will = (self.topics.bridge_state(s.bridge_id), offline)
        # Unique to this run: a client that takes the ID over cannot be this process's own
        # reconnection, and nobody can guess it to take the session over.
        client_id = f"arsbridge-{s.bridge_id}-{'-'.join(sorted(self.roles))}-{token_hex(6)}"
        return link_from_settings(s, client_id, will, login=login)

    def _build_roles(self) -> None:
        s = self.settings
        topics = self.topics
        MirrorFeed(
            self.link,
            topics,
            self.mirror,
            self.guard,
            owns=self._owns,
            taken=self._taken,
            accept=self._fenced,
            max_bytes=s.bus.max_state_bytes,
        )
        if "api" not in self.roles:  # with the desk here, the roster comes directly
            self.link.subscribe(topics.roster, self._on_roster)
        if self.roles & {"bridge", "api"}:
            self.store = EventStore(s.journal.path)
        if "bridge" in self.roles:
            journal = Journal(
                s.journal.path,
                bridge_id=s.bridge_id,
                commit_max=s.journal.commit_max,
                retry_ms=s.journal.retry_ms,
                min_free_mb=s.journal.min_free_mb,
                on_health=self._journal_health,
                key_purge_wait_ms=s.journal.key_purge_wait_ms,
            )
            self.publisher = VotePublisher(
                self.link,
                topics,
                journal,
                bridge_id=s.bridge_id,
                interval_s=s.mqtt.batch_interval_ms / 1000,
                batch_max=s.mqtt.batch_max,
                resend_after_s=s.mqtt.resend_after_s,
                resend_max_s=s.mqtt.resend_max_s,
            )
            self.core = BridgeCore(
                bridge_id=s.bridge_id,
                link=self.link,
                topics=topics,
                journal=journal,
                intake=Intake(echo_window_s=s.dedup.echo_window_s, pairings=self._pairings),
                publisher=self.publisher,
                backoff=(s.supervisor.backoff_min_s, s.supervisor.backoff_max_s),
                clock=self.clock.time,
                watch=FaultWatch(s.faults),
                pairings=self._pairings,
                seat_of=self._seat_of,
            )
            journal.on_commit = self._committed
            self.journal = journal
            self.link.subscribe(topics.all_round_states, self._remote_state)
            if "api" not in self.roles:
                self.link.subscribe(topics.round_current, self._remote_current)
        if "tally" in self.roles:
            self.ledger = Ledger(s.journal.path, retry_ms=s.journal.retry_ms)
            receipts = Receipts(
                self.link,
                topics,
                ledger=self.ledger,
                local_bridge=s.bridge_id if "bridge" in self.roles else None,
                epoch=int(time.time() * 1000),
            )
            self.lease = Lease(
                self.link,
                topics,
                receipts,
                standby=s.tally.standby,
                renew_s=s.tally.renew_s,
                lease_s=s.tally.lease_s,
                clock=self.clock,
            )
            check = BatchCheck(
                s.bus.bridges or [s.bridge_id],
                max_bytes=s.bus.max_message_bytes,
                max_records=s.bus.max_batch_records,
                max_record_jump=s.bus.max_record_jump,
                receivers_of=self._receivers_of,
                own=(s.bridge_id, self.link.sent) if "bridge" in self.roles else None,
            )
            self.tally = TallyEngine(
                self.link,
                topics,
                receipts=receipts,
                interval_s=s.rounds.tally_interval_ms / 1000,
                settle_s=s.rounds.settle_ms / 1000,
                clock=self.clock,
                check=check,
                guard=self.guard,
                desk_on_bus="api" not in self.roles,
                max_revision_jump=s.bus.max_revision_jump,
            )
            if self.publisher is not None:
                self.publisher.local_sink = self.tally.take_local
        if "api" in self.roles:
            assert self.store is not None
            self.desk = EventDesk(
                store=self.store,
                link=self.link,
                topics=topics,
                clock=self.clock,
                on_round=self._round_changed,
                on_round_deleted=self._states.put_nowait,
                grace_s=s.rounds.grace_s,
                late_window_s=s.rounds.late_window_s,
                unpaired=s.event.unpaired,
                anonymous=s.event.anonymous,
                audit_params_max=s.event.audit_params_max,
                agenda_file=s.event.agenda,
                roster_file=s.event.roster,
            )
            self.desk.roster_listeners.append(self._seating_changed)
            self.kept = KeptResults(self.desk, self.link, topics, self.tally)
            RequestHandler(
                self.link, topics, s.bridge_id, self.desk, token=s.api.token, guard=self.guard
            )
        # The tally and the desk read every bridge's handset tables as the mirror takes them.
        for reader in (self.tally, self.desk):
            if reader is not None:
                self.mirror.table_listeners.append(reader.take_table)
        if self.core is not None:  # the mirror takes this process's own bridge's changes
            changes = f"bridge/{s.bridge_id}/{handset_tables.CHANGES}"
            self.core.table_listeners.append(
                lambda doc, data: self.mirror.update(changes, doc, data)
            )

    @property
    def controller(self) -> RoundController | None:
        """The round controller, in a process that runs the api role."""
        return self.desk.controller if self.desk is not None else None

    # Lifecycle.

    async def __aenter__(self) -> Service:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start every role (once); raises a one-line error when a part cannot be used."""
        if self._running:
            return
        self._running = True
        self.started_at = time.time()
        if self.broker is not None:
            await self.broker.start()
        if self.journal is not None:
            self.journal.open()
            if self.core is not None:  # anonymous rounds whose keys outlived a restart
                journal = self.journal
                self.core.keys = RoundKeys(
                    journal.round_keys(), keep=journal.keep_key, forget=journal.forget_key
                )
        if self.store is not None:
            self.store.open()
        if "bridge" in self.roles:
            await self._check_receivers()
        self._restore_roster()
        self._spawn(self.link.run(), "mqtt")
        if self._resumes_without_broker():
            # A bridge of its own restarted mid-event has the rounds (and the roster) it was
            # last given in its own file: it reads its receivers without waiting for the broker,
            # which can take long (a NATS cluster short of a node takes half a minute to accept
            # a connection and its subscriptions). What it journals meanwhile is sent once the
            # link is up, and the broker's retained state is taken as it arrives.
            self._spawn(self._meet_broker(), "broker")
        else:
            await self.link.wait_connected(self.settings.mqtt.connect_timeout_s)
            await self._meet_broker()
        self.heartbeat.start()
        if self.desk is not None:
            await self.desk.start()
            for state in self.desk.controller.all():  # rounds as they were before a restart
                self._round_changed(state)
            if self.kept is not None:
                self.kept.restore(self.desk.controller.all())
        if self.core is not None and self.desk is None:
            await self._learn_rounds()
        if self.core is not None and self.publisher is not None:
            if self.link.connected.is_set():
                await self._publish_bridge_state("online")
            else:  # retained: published once the link is up
                self._spawn(self._publish_bridge_state("online"), "bridge-state")
            self.core.restore_handsets()
            self.publisher.start_from_journal()
            self._spawn(self.publisher.run(), "publisher")
            self._spawn(
                self.core.publish_handsets(
                    self.settings.mqtt.handsets_interval_ms / 1000,
                    self.settings.mqtt.handsets_whole_interval_ms / 1000,
                ),
                "handsets",
            )
            for receiver in self.receivers:
                self._spawn(self.core.supervise(receiver), f"receiver-{receiver.name}")
        if self.tally is not None:
            await self.tally.recount_journal(
                self.settings.journal.path,
                self.settings.bridge_id,
                self.ledger,
                local="bridge" in self.roles,
            )
            assert self.lease is not None
            self.lease.on_active = self.tally.became_active
            self._spawn(self.tally.run(), "tally")
            self._spawn(self.tally.receipts.run(), "receipts")
            self._spawn(self.lease.run(), "lease")
        self._spawn(self._publish_states(), "round-states")
        log.info("arsbridge %s running roles %s", VERSION, ", ".join(sorted(self.roles)))

    def _resumes_without_broker(self) -> bool:
        """A bridge of its own whose file holds the event's rounds: a restart mid-event."""
        return (
            self.core is not None
            and self.desk is None
            and self.store is not None
            and bool(self.store.rounds())
        )

    async def _meet_broker(self) -> None:
        """Once the link is up: say whether the broker lets anonymous clients in."""
        if not self.link.connected.is_set():
            try:
                await self.link.wait_connected(self.settings.mqtt.connect_timeout_s)
            except BrokerUnreachable as exc:
                log.warning("%s; journaling meanwhile, sending once it answers", exc)
                await self.link.connected.wait()
        self.anonymous_broker = await self.link.accepts_anonymous()
        if self.anonymous_broker:
            log.warning(
                "the MQTT broker %s:%d lets anonymous clients in: anyone who reaches it can "
                "read the bus and publish on it; give it users and ACLs "
                "(arsbridge broker-config, docs/operations.md)",
                self.link.host,
                self.link.port,
            )

    def _restore_roster(self) -> None:
        """A bridge of its own: the roster the bus last gave it, until the bus gives one."""
        if self.store is None or self.desk is not None or self.core is None:
            return
        kept = self.store.document(BUS_ROSTER)
        if kept is None:
            return
        try:
            self._seating_changed(json.loads(kept))
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            log.warning("ignoring the kept roster: %s", exc)

    async def _check_receivers(self) -> None:
        for i, receiver in self._required:
            try:
                await receiver.open()
            except ReceiverError as exc:
                raise type(exc)(
                    f"{exc} (receivers[{i}] {receiver.name}: check its url, or set "
                    "required = false to start without it)"
                ) from None
            finally:
                await receiver.close()

    async def stop(self) -> None:
        """Stop in the order that loses nothing: receivers, journal, batches, then the link."""
        if not self._running:
            return
        self._running = False
        receivers = [t for t in self._tasks if t.get_name().startswith("receiver-")]
        await _cancel(receivers)
        if self.core is not None:
            await self.core.close()
        log.debug("receivers stopped")
        timeout = self.settings.mqtt.publish_timeout_s
        if self.journal is not None and self.publisher is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.journal.flush(), timeout)
            await self.journal.close()
            if self.link.connected.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.publisher.flush(), timeout)
                    await asyncio.wait_for(self._publish_bridge_state("offline"), timeout)
        if self.desk is not None:
            self.desk.stop()  # no timer changes a round from here on
            # Every round change is kept and, while the broker is there, published.
            if self.link.connected.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._states.join(), timeout)
            while self.store is not None and not self._states.empty():
                await self._store_round(self._states.get_nowait())
        if self.tally is not None:
            self.tally.close()
        self.heartbeat.stop()
        await _cancel(self._tasks)
        if self.ledger is not None:
            await self.ledger.close()
        self._tasks.clear()
        if self.store is not None:
            self.store.close()
        log.debug("roles stopped")
        if self.broker is not None:
            await self.broker.stop()
            log.debug("embedded broker stopped")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_report_crash)
        self._tasks.append(task)

    # Round states.

    def _round_changed(self, state: RoundState) -> None:
        """Controller callback: every local role takes the state now; the broker gets it next."""
        if self.core is not None:
            self.core.update_round(state)
        if self.tally is not None:
            self.tally.update_round(state)
        self._states.put_nowait(state)

    async def _publish_states(self) -> None:
        # One task, so that states reach the broker in the order the controller made them.
        # A state the store could not keep (a full disk) is still published, and stored on the
        # next attempt; the highest revision of each round is the one that matters.
        unsaved: dict[str, RoundState | str] = {}
        retry_s = self.settings.journal.retry_ms / 1000
        while True:
            try:
                state = await asyncio.wait_for(self._states.get(), retry_s if unsaved else None)
            except TimeoutError:
                await self._store_states(unsaved)
                continue
            try:
                round_id = state if isinstance(state, str) else state.round
                unsaved[round_id] = state
                await self._store_states(unsaved)
                # A deleted round's retained state is cleared with an empty message.
                body = "" if isinstance(state, str) else state.model_dump_json()
                await self.link.publish(self.topics.round_state(round_id), body, qos=1, retain=True)
                current = self.controller.current if self.controller is not None else None
                await self.link.publish(
                    self.topics.round_current, json.dumps({"round": current}), qos=1, retain=True
                )
            finally:
                self._states.task_done()

    async def _store_states(self, unsaved: dict[str, RoundState | str]) -> None:
        if self.store is None:
            unsaved.clear()
            return
        for round_id, state in list(unsaved.items()):
            try:
                await self._store_round(state)
            except sqlite3.Error as exc:
                if not self.store_failure:
                    log.critical("event store: round %s not stored (%s); retrying", round_id, exc)
                self.store_failure = str(exc)
                return
            del unsaved[round_id]
        if self.store_failure:
            log.warning("event store: writing again")
            self.store_failure = ""

    async def _store_round(self, state: RoundState | str) -> None:
        """Keep a round's state, or forget a deleted round (its id)."""
        if self.store is None:
            return
        if isinstance(state, str):
            await self.store.delete_round(state)
        else:
            await self.store.save_round(state)

    async def _learn_rounds(self) -> None:
        """A bridge of its own, before it reads a receiver: the rounds it kept before a
        restart, then the broker's retained current round, so that no press is decided
        against a round it has not heard of yet."""
        assert self.core is not None
        if self.store is not None:
            for state in self.store.rounds():
                self.core.update_round(state)
        wait_s = self.settings.mqtt.state_wait_s
        try:
            await asyncio.wait_for(self._current_known.wait(), wait_s)
        except TimeoutError:
            log.warning(
                "no current round on the broker after %.1f s ([mqtt] state_wait_s); "
                "reading receivers anyway",
                wait_s,
            )

    def _remote_current(self, message: aiomqtt.Message) -> None:
        try:
            current = json.loads(payload_bytes(message)).get("round")
        except (ValueError, AttributeError) as exc:
            log.warning("ignoring malformed current round on %s: %s", message.topic, exc)
            return
        self._awaited_round = current if isinstance(current, str) else None
        self._check_current_known()

    def _check_current_known(self) -> None:
        awaited = self._awaited_round
        current = self.core.intake.current if self.core is not None else None
        if awaited is None or (current is not None and current.round == awaited):
            self._current_known.set()

    async def _remote_state(self, message: aiomqtt.Message) -> None:
        if self.core is None or self.desk is not None:
            return  # with the desk in this process, states come directly (bridge.mqtt.feed)
        topic = str(message.topic)
        if not message.payload:  # a round deleted before it was ever opened
            parts = self.topics.split(topic)
            if self.store is not None and len(parts) == 3:
                await self.store.delete_round(parts[1])
            return
        try:
            state = RoundState.model_validate_json(payload_bytes(message))
        except (ValidationError, TypeError) as exc:
            log.warning("ignoring malformed round state on %s: %s", topic, exc)
            return
        held = self.core.intake.round(state.round)
        revision = held.revision if held is not None else 0
        if state.revision > revision + self.settings.bus.max_revision_jump or not topic.endswith(
            f"/{state.round}/state"
        ):
            self.guard.reject(
                topic,
                Rejected("round state out of line", f"revision {state.revision} after {revision}"),
            )
            return
        self.core.update_round(state)
        if self._awaited_round is not None:
            self._check_current_known()
        if self.store is not None:  # a bridge of its own keeps rounds too
            await self.store.save_round(state)

    # The roster, as bridges (paired-only rounds) and the tally (segments, tables) see it.

    async def _on_roster(self, message: aiomqtt.Message) -> None:
        try:
            doc = json.loads(payload_bytes(message))
            self._seating_changed(doc)
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            log.warning("ignoring malformed roster on %s: %s", message.topic, exc)
            return
        if self.store is not None and self.core is not None:
            # Kept for a restart, which reads receivers before the broker answers.
            await self.store.save_document(BUS_ROSTER, json.dumps(doc))

    def _seating_changed(self, doc: dict[str, Any]) -> None:
        self.seats = SeatingPlan(doc)
        if self.core is not None:  # a paired i>clicker counts as itself in either ID form
            for handset in doc.get("seats", {}):
                self.core.aliases.learn(str(handset))
        if self.tally is not None:
            self.tally.set_seating(self.seats)

    def _pairings(self) -> PairingLedger:
        return self.seats.ledger if self.seats is not None else _NO_PAIRINGS

    def _seat_of(self, participant: str) -> tuple[str, str] | None:
        return self.seats.seat_of(participant) if self.seats is not None else None

    def _committed(self, records: list[Record]) -> None:
        """Journal callback: the bridge acknowledges and publishes; a tally in this process
        counts them at once, so no record depends on the bus coming back to this process (a
        batch in flight when the link drops would otherwise be lost to the tally), and holds
        them durably already (the same journal): the bridge need not wait for its word."""
        assert self.core is not None
        self.core.on_commit(records)
        if self.tally is not None and records:
            self.tally.apply(
                [r for r in records if r.decision in PUBLISHED], self.settings.bridge_id
            )
            if self.journal is not None and self.tally.receipts.active:
                self.journal.mark_published(max(r.id for r in records))

    def _paired(self, handset: str) -> bool:
        return self.seats is not None and self.seats.seat_of(handset) is not None

    def _fenced(self, relative: str, doc: Any) -> bool:
        """Whether the mirror takes ``doc``: not a tally or results document of a lower lease
        epoch than one already taken on that topic (fencing after a takeover), nor the
        handset table of a bridge that is not in ``bus.bridges``."""
        parts = relative.split("/")
        tables = (handset_tables.WHOLE, handset_tables.CHANGES)
        if parts[0] == "bridge" and parts[-1] in tables and parts[1] not in self._bridges:
            unknown = Rejected("unknown bridge", f"{parts[1][:64]!r} is not in bus.bridges")
            self.guard.reject(f"{self.topics.base}/{relative}", unknown)
            return False
        if isinstance(doc, dict) and parts[0] == "round" and parts[-1] in ("tally", "results"):
            epoch = doc.get("epoch", 0)
            if not isinstance(epoch, int) or epoch < self._epochs.get(relative, 0):
                log.warning("ignoring %s from a tally of an older epoch (%s)", relative, epoch)
                return False
            self._epochs[relative] = epoch
        return True

    async def _taken(self, relative: str, doc: Any) -> None:
        parts = relative.split("/")
        if (
            self.kept is not None
            and isinstance(doc, dict)
            and parts[0] == "round"
            and parts[-1] == "results"
            and doc.get("round") == parts[1]
        ):
            await self.kept.published(parts[1], doc)

    def _journal_health(self, health: JournalHealth) -> None:
        """The journal failed, recovered or runs low on space: say so on the bridge's state."""
        if self._bridge_state != "offline":
            self._spawn(self._publish_bridge_state(self._bridge_state), "bridge-state")

    def _owns(self, parts: list[str]) -> bool:
        """Whether a role of this process is the one publisher of the topic ``parts``."""
        kind = parts[-1]
        if parts[0] == "round":
            # Only the tally holding the lease publishes tallies and results (a standby, or one
            # that stood down, takes them from the bus like any other process).
            tally = self.tally is not None and self.tally.receipts.active
            return (tally and kind in ("tally", "results")) or (
                self.desk is not None and kind in ("state", "current")
            )
        if parts[0] == "bridge" and len(parts) == 3:
            return self.core is not None and parts[1] == self.settings.bridge_id
        if parts[0] == "rx" and len(parts) == 3:
            return self.core is not None and parts[1] in self._own_receivers
        return self.desk is not None and parts in (["agenda"], ["roster"])

    def _receivers_of(self, bridge: str) -> frozenset[str] | None:
        """The receivers ``bridge`` has: this process's own, or as its state says."""
        if self.core is not None and bridge == self.settings.bridge_id:
            return self._own_receivers
        doc = self.mirror.latest.get(f"bridge/{bridge}/state")
        names = doc.get("receivers") if isinstance(doc, dict) else None
        return frozenset(map(str, names)) if isinstance(names, list) else None

    @property
    def _own_receivers(self) -> frozenset[str]:
        return frozenset(r.name for r in self.receivers)

    async def _publish_bridge_state(self, state: str) -> None:
        s = self.settings
        self._bridge_state = state
        journal = self.journal.health if self.journal is not None else None
        payload = {
            "state": state,
            "journal": ("failed" if journal.failed else "low_space" if journal.low_space else "ok")
            if journal is not None
            else None,
            "bridge": s.bridge_id,
            "version": VERSION,
            "since": self.started_at,
            "pid": os.getpid(),
            "receivers": [r.name for r in self.receivers],
        }
        await self.link.publish(
            self.topics.bridge_state(s.bridge_id), json.dumps(payload), qos=1, retain=True
        )

    # Queries.

    def health(self) -> dict[str, Any]:
        """What a technician checks first: broker link, receivers, journal, tally."""
        return health_report(self)

    def handsets(self) -> dict[str, dict[str, Any]]:
        """Every handset heard by any bridge, with the latest sighting of each."""
        if self.core is not None:
            self.core.take_handset_changes()  # this process's own bridge, as of now
        return self.mirror.sightings.latest

    def tally_snapshot(self, round_id: str) -> dict[str, Any] | None:
        """The round's live tally: from the engine in this process, else as last published."""
        if self.tally is not None:
            return self.tally.snapshot(round_id)
        doc: dict[str, Any] | None = self.mirror.latest.get(f"round/{round_id}/tally")
        return doc

    def results(self, round_id: str) -> dict[str, Any] | None:
        """The round's final results (its latest amendment, if any), or None while it is
        open or settling."""
        amended = self.kept.amendments.get(round_id) if self.kept is not None else None
        if amended is not None:
            return amended
        if self.tally is not None:
            return self.tally.results(round_id)
        doc: dict[str, Any] | None = self.mirror.latest.get(f"round/{round_id}/results")
        return doc


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait for them; a task still cleaning up after a grace period is
    cancelled again (an MQTT client waiting for a broker to close its socket, say)."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.critical("task %s stopped: %s", task.get_name(), exc, exc_info=exc)
