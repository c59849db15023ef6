"""The host's desk (the api role): the agenda, the roster, the rounds and handset pairing.

It keeps them in the event store, so a restarted service picks up where it stopped (an open
round's timer included), and publishes what other roles need: the agenda on ``ars/agenda``
and, on ``ars/roster``, which handset sits in which segment and at which table (no names:
MQTT subscribers need seats, not people).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt

from bridge.clock import Clock
from bridge.desk.controller import RoundController
from bridge.desk.store import AGENDA, ROSTER, EventStore
from bridge.event.agenda import Agenda, load_agenda
from bridge.event.roster import Participant, Roster, RosterError, load_roster, roster_from_csv
from bridge.event.rounds import RoundState
from bridge.mqtt.link import MqttLink, payload_bytes
from bridge.mqtt.topics import Topics

log = logging.getLogger(__name__)


def seating_document(roster: Roster) -> dict[str, Any]:
    """What the tally and bridges need of the roster: seats by handset, people per table."""
    seats = {p.handset: [p.segment, p.table] for p in roster.participants() if p.handset}
    return {
        "revision": roster.revision,
        "seats": seats,
        "tables": roster.seated(),
        "participants": len(roster),
    }


class EventDesk:
    """Agenda, roster and round controller of the event, persisted and published."""

    def __init__(
        self,
        *,
        store: EventStore,
        link: MqttLink,
        topics: Topics,
        clock: Clock,
        on_round: Callable[[RoundState], None],
        grace_s: float,
        late_window_s: float,
        agenda_file: Path | None = None,
        roster_file: Path | None = None,
    ) -> None:
        self.store = store
        self._link = link
        self._topics = topics
        self._clock = clock
        self._agenda_file = agenda_file
        self._roster_file = roster_file
        self.roster = Roster()
        self.controller = RoundController(
            clock, on_round, grace_s=grace_s, late_window_s=late_window_s
        )
        self.roster_listeners: list[Callable[[dict[str, Any]], None]] = []
        self._listening: dict[str, tuple[float, asyncio.Future[str]]] = {}
        self._presses_seen: dict[str, int] = {}
        # A bridge in this process hands its table over directly (see bridge.service).
        link.subscribe(topics.all_bridge_handsets, self._on_handsets, own=False)
        link.subscribe(topics.all_bridge_handset_changes, self._on_handsets, own=False)

    @property
    def agenda(self) -> Agenda | None:
        return self.controller.agenda

    async def start(self) -> None:
        """Load the agenda, roster and rounds: stored ones first, else the configured files."""
        self.store.open()
        stored_agenda = self.store.document(AGENDA)
        if stored_agenda is not None:
            self.controller.agenda = Agenda.model_validate_json(stored_agenda)
        elif self._agenda_file is not None:
            await self.set_agenda(load_agenda(self._agenda_file))
        stored_roster = self.store.document(ROSTER)
        if stored_roster is not None:
            self.roster = roster_from_csv(stored_roster, "stored roster")
        elif self._roster_file is not None:
            self.roster = load_roster(self._roster_file)
            await self._roster_changed()
        self.controller.restore(self.store.rounds())
        await self._publish_agenda()
        await self._publish_roster()

    def stop(self) -> None:
        for _, fut in self._listening.values():
            fut.cancel()
        self.controller.close_timers()

    # Agenda.

    async def set_agenda(self, agenda: Agenda) -> Agenda:
        self.controller.agenda = agenda
        await self.store.save_document(AGENDA, agenda.model_dump_json())
        await self._publish_agenda()
        return agenda

    async def _publish_agenda(self) -> None:
        agenda = self.controller.agenda
        if agenda is not None:
            await self._link.publish(self._topics.agenda, agenda.model_dump_json(), retain=True)

    # Roster and pairing.

    async def set_roster(self, roster: Roster) -> None:
        self.roster = roster
        await self._roster_changed()

    async def put_participant(self, participant: Participant) -> Participant:
        self.roster.put(participant)
        await self._roster_changed()
        return participant

    async def remove_participant(self, participant_id: str) -> None:
        self.roster.remove(participant_id)
        await self._roster_changed()

    async def pair(self, participant_id: str, handset: str | None) -> Participant:
        p = self.roster.pair(participant_id, handset)
        await self._roster_changed()
        return p

    async def pair_next(self, participant_id: str, timeout_s: float) -> Participant:
        """Pair ``participant_id`` with the next unpaired handset that is pressed."""
        self.roster.get(participant_id)
        if participant_id in self._listening:
            raise RosterError(f"already waiting for a handset for {participant_id!r}")
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._listening[participant_id] = (self._clock.time(), fut)
        try:
            handset = await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise RosterError(f"no unpaired handset pressed within {timeout_s:g} s", 408) from None
        finally:
            self._listening.pop(participant_id, None)
        return await self.pair(participant_id, handset)

    def _on_handsets(self, message: aiomqtt.Message) -> None:
        """A bridge's handset table: a handset pressed anew may pair (see :meth:`heard`)."""
        try:
            self.take_handsets(json.loads(payload_bytes(message))["handsets"])
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("ignoring malformed handset table on %s: %s", message.topic, exc)

    def take_handsets(self, table: dict[str, Any]) -> None:
        """A bridge's handset table; raises ValueError, TypeError or KeyError when malformed."""
        pressed = [(h, int(v["presses"]), float(v["last"])) for h, v in table.items()]
        for handset, presses, last in pressed:
            if presses > self._presses_seen.get(handset, 0):
                self._presses_seen[handset] = presses
                self.heard(handset, last)

    def heard(self, handset: str, pressed_at: float) -> None:
        """A handset was pressed: it pairs with the participant waiting first, if any."""
        if not self._listening or self.roster.knows(handset):
            return
        participant_id, (since, fut) = next(iter(self._listening.items()))
        if pressed_at < since:
            return  # pressed before the technician asked for it
        if not fut.done():
            fut.set_result(handset)
        self._listening.pop(participant_id, None)

    async def _roster_changed(self) -> None:
        await self.store.save_document(ROSTER, self.roster.to_csv())
        await self._publish_roster()

    async def _publish_roster(self) -> None:
        doc = seating_document(self.roster)
        for listener in self.roster_listeners:
            listener(doc)
        await self._link.publish(self._topics.roster, json.dumps(doc), retain=True)
