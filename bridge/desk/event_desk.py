"""The host's desk (the api role): the agenda, the roster, the rounds and handset pairing.

It keeps them in the event store, so a restarted service picks up where it stopped (an open
round's timer included), and publishes what other roles need: the agenda on ``ars/agenda``
and, on ``ars/roster``, the pairing history and which participant sits in which segment and
at which table (no names: MQTT subscribers need seats, not people). Every roster or pairing
change is stamped on the desk's clock in the pairing history (:mod:`bridge.event.pairing`)
and handed to the roles of this process before anything is awaited, so no press is decided
between the change and its stamp.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bridge.clock import Clock
from bridge.desk.audit import HOST, ORGANISER, TECHNICIAN, AuditTrail
from bridge.desk.controller import RoundController
from bridge.desk.store import AGENDA, PAIRINGS, ROSTER, EventStore
from bridge.event.agenda import Agenda, load_agenda
from bridge.event.pairing import Pairing, PairingLedger
from bridge.event.roster import Participant, Roster, RosterError
from bridge.event.roster_files import load_roster, roster_from_csv
from bridge.event.rounds import RoundState
from bridge.event.votes import Unpaired
from bridge.mqtt.link import MqttLink
from bridge.mqtt.topics import Topics

log = logging.getLogger(__name__)


def seating_document(
    roster: Roster, ledger: PairingLedger | None = None, groupings: Sequence[str] = ()
) -> dict[str, Any]:
    """What the tally and bridges need of the roster: seats by handset and by participant,
    people per table, each participant's group in every grouping the event declares, and
    the pairing history (without one: the roster's pairings now)."""
    if ledger is None:
        ledger = PairingLedger()
        ledger.follow(held_handsets(roster), 0.0, participants=len(roster))
    seats = {p.handset: [p.segment, p.table] for p in roster.participants() if p.handset}
    groups = {
        g: {p.id: value for p in roster.participants() if (value := p.group(g))} for g in groupings
    }
    return {
        "revision": roster.revision,
        "seats": seats,
        "people": {p.id: [p.segment, p.table] for p in roster.participants()},
        "tables": roster.seated(),
        "participants": len(roster),
        "groups": groups,
        **ledger.to_doc(),
    }


def held_handsets(roster: Roster) -> dict[str, str]:
    """Handset -> participant, as the roster pairs them now."""
    return {p.handset: p.id for p in roster.participants() if p.handset}


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
        on_round_deleted: Callable[[str], None] | None = None,
        grace_s: float,
        late_window_s: float,
        unpaired: Unpaired = Unpaired.HOLD,
        anonymous: bool = False,
        audit_params_max: int = 4000,
        agenda_file: Path | None = None,
        roster_file: Path | None = None,
    ) -> None:
        self.store = store
        self._link = link
        self._topics = topics
        self.clock = clock
        self._agenda_file = agenda_file
        self._roster_file = roster_file
        self.roster = Roster()
        self.pairings = PairingLedger()
        self._loaners: set[str] = set()
        self.controller = RoundController(
            clock,
            on_round,
            grace_s=grace_s,
            late_window_s=late_window_s,
            on_delete=on_round_deleted,
            unpaired=unpaired,
            anonymous=anonymous,
        )
        self.audit = AuditTrail(store, clock.time, params_max=audit_params_max)
        self.controller.on_action = self.audit.record
        self.roster_listeners: list[Callable[[dict[str, Any]], None]] = []
        self._listening: dict[str, tuple[float, asyncio.Future[str]]] = {}
        self._presses_seen: dict[str, int] = {}

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
        stored_pairings = self.store.document(PAIRINGS)
        if stored_roster is not None:
            self.roster = roster_from_csv(stored_roster, "stored roster")
            if stored_pairings is not None:
                self.pairings = PairingLedger.from_doc(json.loads(stored_pairings))
            else:  # a journal kept before pairings had a history: paired all along
                self._follow(at=0.0)
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
        before = self.controller.agenda
        self.audit.record(HOST, "agenda", None, {"themes": [t.id for t in agenda.themes]})
        self.controller.agenda = agenda
        await self.store.save_document(AGENDA, agenda.model_dump_json())
        await self._publish_agenda()
        if (before.groupings if before else []) != agenda.groupings:
            await self._publish_roster()  # the tally splits results by the new groupings
        return agenda

    async def _publish_agenda(self) -> None:
        agenda = self.controller.agenda
        if agenda is not None:
            await self._link.publish(self._topics.agenda, agenda.model_dump_json(), retain=True)

    # Roster and pairing.

    async def set_roster(self, roster: Roster) -> None:
        before = {p.id: p for p in self.roster.participants()}
        after = {p.id: p for p in roster.participants()}
        self.audit.record(
            TECHNICIAN,
            "roster upload",
            None,
            {
                "participants": len(roster),
                "added": sorted(after.keys() - before.keys()),
                "removed": sorted(before.keys() - after.keys()),
                "changed": sorted(i for i in after.keys() & before.keys() if after[i] != before[i]),
            },
        )
        self.roster = roster
        await self._roster_changed()

    async def put_participant(self, participant: Participant) -> Participant:
        self.roster.put(participant)
        self.audit.record(TECHNICIAN, "participant", None, participant.model_dump(exclude={"name"}))
        await self._roster_changed()
        return participant

    async def remove_participant(self, participant_id: str) -> None:
        self.roster.remove(participant_id)
        self.audit.record(TECHNICIAN, "remove participant", None, {"participant": participant_id})
        await self._roster_changed()

    async def pair(
        self, participant_id: str, handset: str | None, *, loaner: bool = False
    ) -> Participant:
        """Give a participant a handset (None takes it away); the pairing it replaces ends now.

        ``loaner`` marks a spare handset handed out for a while; ending it (pairing the
        participant's own handset again, or None) is recorded like any other change.
        """
        p = self.roster.pair(participant_id, handset)
        if handset is not None and loaner and p.handset is not None:
            self._loaners.add(p.handset)
        self.audit.record(
            TECHNICIAN,
            "pair" if handset is not None else "unpair",
            None,
            {"participant": participant_id, "handset": p.handset, "loaner": loaner},
        )
        await self._roster_changed()
        return p

    async def pair_next(self, participant_id: str, timeout_s: float) -> Participant:
        """Pair ``participant_id`` with the next unpaired handset that is pressed."""
        self.roster.get(participant_id)
        if participant_id in self._listening:
            raise RosterError(f"already waiting for a handset for {participant_id!r}")
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._listening[participant_id] = (self.clock.time(), fut)
        try:
            handset = await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise RosterError(f"no unpaired handset pressed within {timeout_s:g} s", 408) from None
        finally:
            self._listening.pop(participant_id, None)
        return await self.pair(participant_id, handset)

    def take_table(self, doc: dict[str, Any]) -> None:
        """A bridge's handset table or change message, as the mirror takes it (checked, from
        a bridge in ``bus.bridges``, newer than its copy)."""
        entries = doc["handsets"].items()
        pressed = [(h, int(v["presses"]), float(v["last"])) for h, v in entries if v is not None]
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

    async def add_pairings(self, pairings: list[Pairing]) -> None:
        """Put pairings of the past right (an amendment): they go into the history as given
        and take precedence over what it held for their times."""
        for p in pairings:
            self.pairings.add(p)
            self.audit.record(ORGANISER, "pairing corrected", None, p.model_dump())
        await self._roster_changed()

    def _follow(self, at: float | None = None) -> None:
        """Stamp the roster's pairings into the history (now, unless ``at`` is given)."""
        t = self.clock.time() if at is None else at
        self.pairings.follow(
            held_handsets(self.roster),
            t,
            participants=len(self.roster),
            loaners=self._loaners,
        )
        self._loaners.clear()

    def seating(self) -> dict[str, Any]:
        """The roster as the tally and bridges see it, with the agenda's groupings."""
        agenda = self.controller.agenda
        groupings = agenda.groupings if agenda is not None else ()
        return seating_document(self.roster, self.pairings, groupings)

    async def _roster_changed(self) -> None:
        # History and the roles of this process first, with nothing awaited in between.
        self._follow()
        doc = self.seating()
        for listener in self.roster_listeners:
            listener(doc)
        await self.store.save_document(ROSTER, self.roster.to_csv())
        await self.store.save_document(PAIRINGS, json.dumps(self.pairings.to_doc()))
        await self._link.publish(self._topics.roster, json.dumps(doc), retain=True)

    async def _publish_roster(self) -> None:
        doc = self.seating()
        for listener in self.roster_listeners:
            listener(doc)
        await self._link.publish(self._topics.roster, json.dumps(doc), retain=True)
