"""Frozen results and amendments: every revision of a round's final results, kept for good.

When a round's results are final, the tally engine freezes them (a fixed document: counts,
segments, tables, turnout). The api role keeps each revision it sees in the event store,
with the pairing as it stood in the round, and never overwrites one. A correction is an
:class:`Amendment` (who, when, why, and optionally pairings put right): the round is
recounted from the journal under its own rules with the pairing history as amended, and
the result is the next revision; the earlier ones stay stored and exported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bridge.desk.audit import ORGANISER
from bridge.desk.event_desk import EventDesk
from bridge.desk.store import EventStore
from bridge.event.pairing import Pairing
from bridge.event.roster import RosterError
from bridge.event.rounds import RoundState
from bridge.event.votes import Record
from bridge.tally.results import RESULTS_DOC, recount_results
from bridge.tally.seating import Seating, SeatingPlan
from drivers.ids import HandsetIdError, parse_handset_id

REVISION = re.compile(r"@(\d{4,})$")
HARD_CORRECTIONS = 1000  # what a request may carry at all; [event] amendment_pairings_max


class Amendment(BaseModel):
    """A correction of a closed round's final results: by whom and why, and what is put right."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(min_length=1, max_length=80)
    reason: str = Field(min_length=1, max_length=500)
    pairings: list[Pairing] = Field(default_factory=list, max_length=HARD_CORRECTIONS)

    @model_validator(mode="after")
    def _check(self) -> Amendment:
        checked = []
        for p in self.pairings:
            if p.end is not None and p.end <= p.start:
                raise ValueError(f"pairing of {p.handset}: end must come after start")
            try:
                checked.append(p.model_copy(update={"handset": parse_handset_id(p.handset)}))
            except HandsetIdError as exc:
                raise ValueError(str(exc)) from None
        self.pairings = checked
        return self


def revision_name(round_id: str, revision: int) -> str:
    return f"{RESULTS_DOC}{round_id}@{revision:04d}"


class ResultsArchive:
    """The revisions of every round's final results in the event store."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def keep(self, doc: dict[str, Any], pairings: Sequence[Pairing] = ()) -> bool:
        """Store ``doc`` as its revision unless that revision is stored already; the latest
        revision is also ``results/{round}``. False when it was not new."""
        round_id = str(doc["round"])
        revision = int(doc.get("revision", 0))
        name = revision_name(round_id, revision)
        if self.store.document(name) is not None:
            return False
        body = json.dumps(doc, separators=(",", ":"))
        await self.store.save_document(name, body)
        pairing = [p.model_dump(exclude_defaults=True) for p in pairings]
        await self.store.save_document(f"pairing/{round_id}@{revision:04d}", json.dumps(pairing))
        if revision >= self.latest_revision(round_id):
            await self.store.save_document(RESULTS_DOC + round_id, body)
        return True

    def revisions(self, round_id: str) -> list[dict[str, Any]]:
        """Every stored revision of the round's results, oldest first."""
        out = []
        for name, body in self.store.documents(f"{RESULTS_DOC}{round_id}@"):
            if REVISION.search(name):
                out.append(json.loads(body))
        return sorted(out, key=lambda d: int(d.get("revision", 0)))

    def revision(self, round_id: str, revision: int) -> dict[str, Any] | None:
        body = self.store.document(revision_name(round_id, revision))
        return None if body is None else dict(json.loads(body))

    def latest(self, round_id: str) -> dict[str, Any] | None:
        body = self.store.document(RESULTS_DOC + round_id)
        return None if body is None else dict(json.loads(body))

    def latest_revision(self, round_id: str) -> int:
        latest = self.latest(round_id)
        return int(latest.get("revision", 0)) if latest is not None else 0

    def pairing(self, round_id: str, revision: int) -> list[dict[str, Any]]:
        """The pairings that held during the round, as kept with that revision."""
        body = self.store.document(f"pairing/{round_id}@{revision:04d}")
        return list(json.loads(body)) if body is not None else []


def amended_results(
    records: Sequence[Record],
    state: RoundState,
    *,
    previous: dict[str, Any],
    amendment: Amendment,
    at: float,
    seating: Seating,
    echo_window_s: float,
    min_segment: int,
    participants: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The next revision of ``previous``: the round recounted under its own rules, with the
    pairing history ``seating`` holds (the amendment's corrections already in it)."""
    doc = recount_results(
        records,
        state,
        echo_window_s=echo_window_s,
        seating=seating,
        heard=previous.get("turnout", {}).get("heard"),
        min_segment=min_segment,
        participants=participants,
    )
    revision = int(previous.get("revision", 0)) + 1
    doc.pop("recount", None)
    doc["revision"] = revision
    doc["ts"] = round(at, 3)
    doc["amendment"] = {
        "revision": revision,
        "amends": int(previous.get("revision", 0)),
        "by": amendment.by,
        "at": round(at, 3),
        "reason": amendment.reason,
        "pairings": [p.model_dump(exclude_defaults=True) for p in amendment.pairings],
    }
    return doc


class AmendmentError(Exception):
    """An amendment that cannot be made; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


async def amend_round(
    desk: EventDesk,
    archive: ResultsArchive,
    records: Sequence[Record],
    state: RoundState,
    amendment: Amendment,
    *,
    echo_window_s: float,
    min_segment: int,
    participants: Sequence[str] | None = None,
    pairings_max: int = 50,
) -> dict[str, Any]:
    """Make ``amendment`` to the round's final results: its pairings go into the history (for
    every later recount), the round is recounted, and the new revision is kept."""
    if len(amendment.pairings) > pairings_max:
        raise AmendmentError(
            f"an amendment puts at most {pairings_max} pairings right, got "
            f"{len(amendment.pairings)} ([event] amendment_pairings_max)",
            422,
        )
    previous = archive.latest(state.round)
    if previous is None:
        raise AmendmentError(
            f"round {state.round!r} has no final results yet; amend it once they are final"
        )
    for p in amendment.pairings:
        try:
            desk.roster.get(p.participant)
        except RosterError as exc:
            raise AmendmentError(str(exc), 422) from None
    revision = int(previous.get("revision", 0)) + 1
    await desk.add_pairings(
        [
            p.model_copy(update={"note": p.note or f"amendment {revision}"})
            for p in amendment.pairings
        ]
    )
    at = desk.clock.time()
    doc = amended_results(
        records,
        state,
        previous=previous,
        amendment=amendment,
        at=at,
        seating=SeatingPlan(desk.seating()),
        echo_window_s=echo_window_s,
        min_segment=min_segment,
        participants=participants,
    )
    opened = state.opened_at if state.opened_at is not None else at
    await archive.keep(doc, desk.pairings.during(opened, state.closed_at))
    desk.audit.record(
        ORGANISER,
        "amend",
        state.round,
        {"by": amendment.by, "reason": amendment.reason, "revision": revision},
    )
    return doc
