"""Simulated handsets heard by a bridge in simulated time: each transmission of an
:class:`~firmware_sim.radio.Air` is encoded by the family's simulator, decoded by the
family's production codec and handed to a real :class:`BridgeCore` (intake, fault watch,
SQLite journal), stamped with its simulated time, so rates are those of the air."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bridge.event.questions import Question
from bridge.event.rounds import RoundState, RoundStatus, Window
from bridge.event.votes import Record
from bridge.mqtt.link import MqttLink
from bridge.mqtt.topics import Topics
from bridge.press.intake import Intake
from bridge.press.journal import Journal
from bridge.press.publisher import VotePublisher
from bridge.press.role import BridgeCore
from bridge.press.watch import FaultWatch
from bridge.settings import FaultSettings
from drivers.base import Press, ReceiverStats, stamp
from drivers.registry import load_driver
from firmware_sim.receiver import SimulatedReceiver

T0 = 1_764_700_000.0  # the simulated air's second 0, on the bridge's clock
STEP_S = 0.02  # how far the air runs before the bridge answers (its acknowledgement delay)


@dataclass(slots=True)
class Heard:
    """One receiver's simulator, on the air, as a driver of ``driver`` reads it."""

    name: str
    driver: str
    sim: SimulatedReceiver
    stats: ReceiverStats


class Bridge:
    """A real BridgeCore fed from simulated receivers in simulated time."""

    def __init__(self, core: BridgeCore, journal: Journal) -> None:
        self.core = core
        self.journal = journal
        self.receivers: list[Heard] = []

    def listen(self, name: str, driver: str, sim: SimulatedReceiver) -> Heard:
        heard = Heard(name, driver, sim, ReceiverStats())
        self.receivers.append(heard)
        return heard

    def play(self, until: float) -> None:
        """Run every receiver's air to ``until`` (simulated seconds), in small steps."""
        now = min(r.sim.air.now for r in self.receivers)
        while now < until:
            now = min(now + STEP_S, until)
            for rx in self.receivers:
                self._hear(rx, now)
            self.core.watch.review(T0 + now, {rx.name: rx.stats for rx in self.receivers})

    def _hear(self, rx: Heard, until: float) -> None:
        module = load_driver(rx.driver)
        air = rx.sim.air
        for tx in air.advance(until):
            for frame in module.decode_capture(rx.sim.encode(tx)):
                event = stamp(frame, rx.name, T0 + tx.at)
                if event is None:
                    rx.stats.noise += 1
                    continue
                rx.stats.frames += 1
                if isinstance(event, Press):
                    rx.stats.presses += 1
                self.core.handle(event)
                if isinstance(event, Press) and air.host_acks and event.seq is not None:
                    air.ack(event.handset, event.seq)  # the host answers every press

    async def records(self) -> list[Record]:
        await self.journal.flush()
        return list(self.journal.records())

    def flags(self) -> dict[str, list[str]]:
        """Every flagged handset and receiver with the kinds of its flags."""
        doc = self.core.watch.document()
        return {
            name: [f["kind"] for f in flags]
            for table in (doc["handsets"], doc["receivers"])
            for name, flags in table.items()
        }


@asynccontextmanager
async def bridge(
    tmp_path: Path, options: Sequence[str] = "ABCD", **faults: object
) -> AsyncIterator[Bridge]:
    """A bridge with one open round on ``options`` from simulated second 0."""
    journal = Journal(tmp_path / "journal.sqlite3")
    journal.open()
    topics = Topics("ars")
    link = MqttLink("127.0.0.1", 1, client_id="never-connected")  # nothing is published here
    publisher = VotePublisher(link, topics, journal, bridge_id="b1")
    intake = Intake()
    core = BridgeCore(
        bridge_id="b1",
        link=link,
        topics=topics,
        journal=journal,
        intake=intake,
        publisher=publisher,
        clock=lambda: T0,
        watch=FaultWatch(FaultSettings.model_validate(faults)),
    )
    journal.on_commit = core.on_commit
    core.update_round(
        RoundState(
            round="r1",
            question=Question.single("".join(options)),
            status=RoundStatus.OPEN,
            windows=[Window(start=T0)],
            revision=1,
        )
    )
    try:
        yield Bridge(core, journal)
    finally:
        await journal.close()
