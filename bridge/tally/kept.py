"""The api role's keeping of final results: every revision as published, with the pairing
that held in the round, and the amendments that stand (after a restart too)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from bridge.desk.event_desk import EventDesk
from bridge.event.rounds import RoundState
from bridge.mqtt.link import MqttLink
from bridge.mqtt.topics import Topics
from bridge.tally.amend import ResultsArchive
from bridge.tally.engine import TallyEngine


class KeptResults:
    """Keeps the revisions of final results that pass by, and the amendments made."""

    def __init__(
        self, desk: EventDesk, link: MqttLink, topics: Topics, tally: TallyEngine | None
    ) -> None:
        self.archive = ResultsArchive(desk.store)
        self.amendments: dict[str, dict[str, Any]] = {}  # the latest amended results by round
        self._desk = desk
        self._link = link
        self._topics = topics
        self._tally = tally

    def restore(self, states: Iterable[RoundState]) -> None:
        """Take up the amendments that stood before a restart."""
        for state in states:
            latest = self.archive.latest(state.round)
            if latest is not None and "amendment" in latest:
                self.amendments[state.round] = latest
                if self._tally is not None:
                    self._tally.amended(latest)

    async def published(self, round_id: str, doc: dict[str, Any]) -> None:
        """Keep a revision of a round's final results as published, with the round's pairing.

        Exports take the kept results; hidden ones are kept from this process's tally engine
        when it runs one, else recounted from the journal.
        """
        if doc.get("hidden"):
            full = self._tally.results(round_id) if self._tally is not None else None
            if full is None:
                return
            doc = full
        state = self._desk.controller.find(round_id)
        pairings = []
        if state is not None and state.opened_at is not None:
            pairings = self._desk.pairings.during(state.opened_at, state.closed_at)
        await self.archive.keep(doc, pairings)

    async def amended(self, doc: dict[str, Any]) -> None:
        """An amendment's new revision: it is the round's results from now on, published."""
        round_id = str(doc["round"])
        self.amendments[round_id] = doc
        if self._tally is not None:
            self._tally.amended(doc)
        await self._link.publish(
            self._topics.round_results(round_id),
            json.dumps(doc, separators=(",", ":")),
            qos=1,
            retain=True,
        )
