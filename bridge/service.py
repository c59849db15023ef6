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
from types import TracebackType
from typing import Any

import aiomqtt
from pydantic import ValidationError

from bridge import VERSION
from bridge.clock import Clock, SystemClock
from bridge.desk.controller import RoundController
from bridge.desk.event_desk import EventDesk
from bridge.desk.requests import RequestHandler
from bridge.desk.store import EventStore
from bridge.event.rounds import RoundState
from bridge.event.votes import PUBLISHED, Record
from bridge.health import health_report, latest_sightings
from bridge.mqtt.broker import EmbeddedBroker
from bridge.mqtt.link import MqttLink, link_from_settings, payload_bytes
from bridge.mqtt.mirror import PATTERNS as MIRRORED
from bridge.mqtt.mirror import Mirror
from bridge.mqtt.topics import Topics
from bridge.press.intake import Intake
from bridge.press.journal import Journal, JournalHealth
from bridge.press.publisher import VotePublisher
from bridge.press.role import BridgeCore
from bridge.settings import ConfigError, Settings
from bridge.tally.count import SeatingPlan
from bridge.tally.engine import TallyEngine
from bridge.tally.results import RESULTS_DOC
from drivers.base import Receiver, ReceiverError
from drivers.registry import UnknownDriver, load_driver

log = logging.getLogger(__name__)

ROLES = ("bridge", "tally", "api")
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
        self.store_failure = ""  # the last failed write of a round state, until one succeeds
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
        self.link = self._make_link()
        self.mirror = Mirror()  # what browsers see: rounds, tallies, availability...
        self.journal: Journal | None = None
        self.core: BridgeCore | None = None
        self.publisher: VotePublisher | None = None
        self.tally: TallyEngine | None = None
        self.store: EventStore | None = None
        self.desk: EventDesk | None = None
        self.seats: SeatingPlan | None = None  # the roster as bridges and the tally see it
        self._handset_tables: dict[str, dict[str, Any]] = {}  # other bridges', by topic
        self._states: asyncio.Queue[RoundState] = asyncio.Queue()
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
        if s.mqtt.url == "embedded":
            self.broker = EmbeddedBroker(
                s.broker.host, s.broker.port, max_connections=s.broker.max_connections
            )
        will = None
        if "bridge" in self.roles:
            offline = json.dumps({"state": "offline", "bridge": s.bridge_id}).encode()
            will = (self.topics.bridge_state(s.bridge_id), offline)
        return link_from_settings(
            s, f"arsbridge-{s.bridge_id}-{'-'.join(sorted(self.roles))}", will
        )

    def _build_roles(self) -> None:
        s = self.settings
        topics = self.topics
        for pattern, own in _mirror_subscriptions():
            if not own and "tally" in self.roles:
                continue  # the tally here is the one that publishes them: nothing to echo back
            self.link.subscribe(f"{topics.base}/{pattern}", self._mirror, own=own)
        # Other bridges' handset tables, whole and as changes, for GET /api/v1/handsets.
        self.link.subscribe(topics.all_bridge_handsets, self._on_handsets, own=False)
        self.link.subscribe(topics.all_bridge_handset_changes, self._on_handsets, own=False)
        self.link.subscribe(topics.roster, self._on_roster)
        if self.roles & {"bridge", "api"}:
            self.store = EventStore(s.journal.path)
        if "bridge" in self.roles:
            journal = Journal(
                s.journal.path,
                commit_max=s.journal.commit_max,
                retry_ms=s.journal.retry_ms,
                min_free_mb=s.journal.min_free_mb,
                on_health=self._journal_health,
            )
            self.publisher = VotePublisher(
                self.link,
                topics,
                journal,
                bridge_id=s.bridge_id,
                batch_max=s.mqtt.batch_max,
                # With the tally here, no display waits for a batch (see _hand_over).
                linger_s=s.mqtt.batch_linger_ms / 1000 if "tally" in self.roles else 0.0,
                clock=self.clock,
            )
            self.core = BridgeCore(
                bridge_id=s.bridge_id,
                link=self.link,
                topics=topics,
                journal=journal,
                intake=Intake(echo_window_s=s.dedup.echo_window_s, known=self._paired),
                publisher=self.publisher,
                backoff=(s.supervisor.backoff_min_s, s.supervisor.backoff_max_s),
                clock=self.clock.time,
            )
            journal.on_commit = self.core.on_commit
            self.journal = journal
            self.link.subscribe(topics.all_round_states, self._remote_state)
        if "tally" in self.roles:
            self.tally = TallyEngine(
                self.link,
                topics,
                interval_s=s.rounds.tally_interval_ms / 1000,
                settle_s=s.rounds.settle_ms / 1000,
                clock=self.clock,
            )
        if "api" in self.roles:
            assert self.store is not None
            self.desk = EventDesk(
                store=self.store,
                link=self.link,
                topics=topics,
                clock=self.clock,
                on_round=self._round_changed,
                grace_s=s.rounds.grace_s,
                late_window_s=s.rounds.late_window_s,
                agenda_file=s.event.agenda,
                roster_file=s.event.roster,
            )
            self.desk.roster_listeners.append(self._seating_changed)
            RequestHandler(self.link, topics, s.bridge_id, self.desk)
        self._hand_over()

    def _hand_over(self) -> None:
        """Roles in this process take each other's records, tallies and handset tables
        directly; the bus carries them for other processes, and the link keeps this
        process's own messages from its handlers, so none is decoded here."""
        if self.tally is not None:
            self.tally.listeners.append(self._tally_published)
        if self.core is None or self.journal is None:
            return
        core, tally = self.core, self.tally
        self.core.handset_listeners.append(self._handsets_published)
        if tally is not None:
            bridge_id = self.settings.bridge_id

            def committed(records: list[Record]) -> None:
                core.on_commit(records)
                tally.apply([r for r in records if r.decision in PUBLISHED], bridge_id)

            self.journal.on_commit = committed

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
        if self.store is not None:
            self.store.open()
        if "bridge" in self.roles:
            await self._check_receivers()
        self._spawn(self.link.run(), "mqtt")
        await self.link.wait_connected(self.settings.mqtt.connect_timeout_s)
        if self.desk is not None:
            await self.desk.start()
            for state in self.desk.controller.all():  # rounds as they were before a restart
                self._round_changed(state)
        if self.tally is not None:
            # Before the publisher starts: a batch sent again after a restart carries higher
            # record ids, and the tally ignores ids at or below the highest it has counted.
            await self.tally.recount_journal(self.settings.journal.path, self.settings.bridge_id)
        if self.core is not None and self.publisher is not None:
            await self._publish_bridge_state("online")
            self.core.restore_handsets()
            self.core.republish_unconfirmed()
            self._spawn(self.publisher.run(), "publisher")
            self._spawn(
                self.core.publish_handsets(
                    self.settings.mqtt.handsets_interval_ms / 1000,
                    self.settings.mqtt.handsets_full_interval_ms / 1000,
                ),
                "handsets",
            )
            for receiver in self.receivers:
                self._spawn(self.core.supervise(receiver), f"receiver-{receiver.name}")
        if self.tally is not None:
            self._spawn(self.tally.run(), "tally")
        self._spawn(self._publish_states(), "round-states")
        log.info("arsbridge %s running roles %s", VERSION, ", ".join(sorted(self.roles)))

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
                await self.store.save_round(self._states.get_nowait())
        if self.tally is not None:
            self.tally.close()
        await _cancel(self._tasks)
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
        unsaved: dict[str, RoundState] = {}
        retry_s = self.settings.journal.retry_ms / 1000
        while True:
            try:
                state = await asyncio.wait_for(self._states.get(), retry_s if unsaved else None)
            except TimeoutError:
                await self._store_states(unsaved)
                continue
            try:
                unsaved[state.round] = state
                await self._store_states(unsaved)
                await self.link.publish(
                    self.topics.round_state(state.round),
                    state.model_dump_json(),
                    qos=1,
                    retain=True,
                )
                current = self.controller.current if self.controller is not None else None
                await self.link.publish(
                    self.topics.round_current, json.dumps({"round": current}), qos=1, retain=True
                )
            finally:
                self._states.task_done()

    async def _store_states(self, unsaved: dict[str, RoundState]) -> None:
        if self.store is None:
            unsaved.clear()
            return
        for round_id, state in list(unsaved.items()):
            try:
                await self.store.save_round(state)
            except sqlite3.Error as exc:
                if not self.store_failure:
                    log.critical("event store: round %s not stored (%s); retrying", round_id, exc)
                self.store_failure = str(exc)
                return
            del unsaved[round_id]
        if self.store_failure:
            log.warning("event store: writing again")
            self.store_failure = ""

    async def _remote_state(self, message: aiomqtt.Message) -> None:
        if self.core is None:
            return
        try:
            state = RoundState.model_validate_json(payload_bytes(message))
        except (ValidationError, TypeError) as exc:
            log.warning("ignoring malformed round state on %s: %s", message.topic, exc)
            return
        self.core.update_round(state)
        if self.store is not None and self.desk is None:  # a bridge of its own keeps rounds too
            await self.store.save_round(state)

    # The roster, as bridges (paired-only rounds) and the tally (segments, tables) see it.

    def _on_roster(self, message: aiomqtt.Message) -> None:
        try:
            self._seating_changed(json.loads(payload_bytes(message)))
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            log.warning("ignoring malformed roster on %s: %s", message.topic, exc)

    def _seating_changed(self, doc: dict[str, Any]) -> None:
        self.seats = SeatingPlan(doc)
        if self.core is not None:  # a paired i>clicker counts as itself in either ID form
            for handset in doc.get("seats", {}):
                self.core.aliases.learn(str(handset))
        if self.tally is not None:
            self.tally.set_seating(self.seats)

    def _paired(self, handset: str) -> bool:
        return self.seats is not None and self.seats.seat_of(handset) is not None

    async def _mirror(self, message: aiomqtt.Message) -> None:
        topic = str(message.topic)
        relative = "/".join(self.topics.split(topic))
        try:
            doc = json.loads(payload_bytes(message))
        except TypeError:
            doc = None  # an empty retained message clears a topic
        except ValueError:
            log.warning("ignoring a message on %s that is not JSON", topic)
            return
        self.mirror.update(relative, doc)
        parts = relative.split("/")
        if doc is not None and parts[0] == "round" and parts[-1] == "results":
            await self._keep_results(parts[1], doc)

    async def _keep_results(self, round_id: str, doc: dict[str, Any]) -> None:
        if self.desk is not None and not doc.get("hidden"):
            # Exports take the published results; hidden ones they recount from the journal.
            await self.desk.store.save_document(RESULTS_DOC + round_id, json.dumps(doc))

    def _tally_published(self, kind: str, doc: dict[str, Any]) -> None:
        """This process's tally engine has a new snapshot or results: displays get it now."""
        round_id = str(doc["round"])
        self.mirror.update(f"round/{round_id}/{kind}", doc)
        if kind == "results" and self.desk is not None and not doc.get("hidden"):
            self._spawn(self._keep_results(round_id, doc), f"results-{round_id}")

    def _handsets_published(self, doc: dict[str, Any]) -> None:
        """This process's bridge has heard handsets: the tally and the desk take them."""
        if self.tally is not None:
            self.tally.hear(doc["handsets"])
        if self.desk is not None:
            self.desk.take_handsets(doc["handsets"])

    def _on_handsets(self, message: aiomqtt.Message) -> None:
        """Another bridge's whole handset table, or its changes: merged per bridge."""
        parts = self.topics.split(str(message.topic))
        try:
            table = json.loads(payload_bytes(message))["handsets"]
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("ignoring malformed handset table on %s: %s", message.topic, exc)
            return
        if not isinstance(table, dict) or len(parts) < 3:
            log.warning("ignoring malformed handset table on %s", message.topic)
            return
        if parts[-1] == "handsets":
            self._handset_tables[parts[1]] = table
        else:
            self._handset_tables.setdefault(parts[1], {}).update(table)

    def _journal_health(self, health: JournalHealth) -> None:
        """The journal failed, recovered or runs low on space: say so on the bridge's state."""
        if self._bridge_state != "offline":
            self._spawn(self._publish_bridge_state(self._bridge_state), "bridge-state")

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
        tables = dict(self._handset_tables)
        if self.core is not None:  # this process's own bridge, fresher than its last message
            tables[self.settings.bridge_id] = self.core.handsets_document()["handsets"]
        return latest_sightings(tables.values())

    def tally_snapshot(self, round_id: str) -> dict[str, Any] | None:
        """The round's live tally: from the engine in this process, else as last published."""
        if self.tally is not None:
            return self.tally.snapshot(round_id)
        doc: dict[str, Any] | None = self.mirror.latest.get(f"round/{round_id}/tally")
        return doc

    def results(self, round_id: str) -> dict[str, Any] | None:
        """The round's final results, or None while it is open or settling."""
        if self.tally is not None:
            return self.tally.results(round_id)
        doc: dict[str, Any] | None = self.mirror.latest.get(f"round/{round_id}/results")
        return doc


def _mirror_subscriptions() -> list[tuple[str, bool]]:
    """The mirrored topic patterns, and whether the mirror takes this process's own messages
    on them over the bus: tallies and results it gets directly instead."""
    direct = ("round/+/tally", "round/+/results")
    out: list[tuple[str, bool]] = []
    for pattern in MIRRORED:
        if pattern == "round/#":  # split, so that no two subscriptions overlap
            out += [("round/+/state", True), ("round/current", True), *((p, False) for p in direct)]
        elif pattern != "bridge/+/handsets":
            # Handset tables (4 MB with 50,000 handsets) are not streamed to every browser;
            # the technician's board reads GET /api/v1/handsets.
            out.append((pattern, True))
    return out


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
