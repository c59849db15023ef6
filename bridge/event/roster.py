"""Participants, where they sit, and which handset each one holds.

The roster gives the tally its segments (politicians, business, organisations), its other
groupings (any further column the event declares, such as municipality or sector) and
tables, and turnout its denominator (handsets paired with participants). It is read from
CSV or .xlsx (:mod:`bridge.event.roster_files`), edited through the API, and a handset is
paired with a participant by the technician, by hand or by pressing a key.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections import Counter

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from drivers.ids import HandsetIdError, parse_handset_id

CSV_COLUMNS = ("id", "name", "segment", "table", "seat", "organisation", "handset")
# Columns a grouping may name besides the organiser's own ones.
GROUPABLE = ("segment", "table", "seat", "organisation")
MAX_ATTRIBUTES = 40  # more columns than any organiser's sheet of delegates has
MAX_ATTRIBUTE_CHARS = 200
COLUMN_NAME = r"^[^\x00-\x1f+]{1,40}$"  # no control characters; "+" joins groupings


class RosterError(ValueError):
    """A roster change or file that cannot be taken; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 409, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.problems = problems or (message,)


class Participant(BaseModel):
    """A delegate: who, in which group, at which table, holding which handset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    name: str = Field("", max_length=120)
    segment: str = Field("", max_length=60)
    table: str = Field("", max_length=20)
    seat: str = Field("", max_length=20)
    organisation: str = Field("", max_length=120)
    handset: str | None = None
    # The organiser's other columns (municipality, sector, role...), by lower-case header.
    attributes: dict[str, str] = Field(default_factory=dict, max_length=MAX_ATTRIBUTES)

    @field_validator("attributes")
    @classmethod
    def _check_attributes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if name in CSV_COLUMNS or not re.match(COLUMN_NAME, name) or name != name.casefold():
                raise ValueError(f"{name!r} is not a column name for an attribute")
            if len(text) > MAX_ATTRIBUTE_CHARS:
                raise ValueError(f"{name}: at most {MAX_ATTRIBUTE_CHARS} characters")
        return value

    def group(self, grouping: str) -> str:
        """The participant's value for a grouping: a column, or columns joined by ``+``."""
        parts = []
        for column in grouping.split("+"):
            value = (
                str(getattr(self, column))
                if column in GROUPABLE
                else self.attributes.get(column, "")
            )
            if not value:
                return ""  # not in the group at all rather than in a partial one
            parts.append(value)
        return " / ".join(parts)

    @field_validator("handset", mode="before")
    @classmethod
    def _normalise(cls, value: object) -> object:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return parse_handset_id(value)
            except HandsetIdError as exc:
                raise ValueError(str(exc)) from None
        return value


class Roster:
    """The participants of the event, indexed by handset."""

    def __init__(self, participants: list[Participant] | None = None) -> None:
        self._people: dict[str, Participant] = {}
        self._by_handset: dict[str, str] = {}
        self.revision = 0
        self.token = secrets.token_hex(4)  # this roster's, with revision: which version it is
        for p in participants or []:
            self.put(p)

    # Queries (the tally's seating).

    def __len__(self) -> int:
        return len(self._people)

    def participants(self) -> list[Participant]:
        return list(self._people.values())

    def get(self, participant_id: str) -> Participant:
        p = self._people.get(participant_id)
        if p is None:
            raise RosterError(f"participant {participant_id!r} is not on the roster", 404)
        return p

    def holder(self, handset: str) -> Participant | None:
        pid = self._by_handset.get(handset)
        return self._people[pid] if pid is not None else None

    def seat_of(self, handset: str) -> tuple[str, str] | None:
        """``(segment, table)`` of the participant holding ``handset``, if any."""
        p = self.holder(handset)
        return (p.segment, p.table) if p is not None else None

    @property
    def paired(self) -> int:
        return len(self._by_handset)

    def seated(self) -> dict[str, int]:
        """Participants per table."""
        return dict(Counter(p.table for p in self._people.values() if p.table))

    def knows(self, handset: str) -> bool:
        return handset in self._by_handset

    # Changes.

    def put(self, participant: Participant) -> Participant:
        """Add or replace a participant; their handset must not be another's."""
        if participant.handset is not None:
            other = self._by_handset.get(participant.handset)
            if other is not None and other != participant.id:
                raise RosterError(
                    f"handset {participant.handset} is paired with {other!r}; unpair it first"
                )
        old = self._people.get(participant.id)
        if old is not None and old.handset is not None:
            del self._by_handset[old.handset]
        self._people[participant.id] = participant
        if participant.handset is not None:
            self._by_handset[participant.handset] = participant.id
        self.revision += 1
        return participant

    def remove(self, participant_id: str) -> None:
        p = self.get(participant_id)
        if p.handset is not None:
            del self._by_handset[p.handset]
        del self._people[participant_id]
        self.revision += 1

    def pair(self, participant_id: str, handset: str | None) -> Participant:
        """Give a participant a handset (None takes it away)."""
        fields = {**self.get(participant_id).model_dump(), "handset": handset}
        try:
            participant = Participant.model_validate(fields)
        except ValidationError as exc:
            raise RosterError(exc.errors()[0]["msg"], 422) from None
        return self.put(participant)

    def unpaired(self) -> list[Participant]:
        return [p for p in self._people.values() if p.handset is None]

    def attribute_columns(self) -> list[str]:
        """The organiser's other columns, in the order they first appear."""
        return list(dict.fromkeys(k for p in self._people.values() for k in p.attributes))

    # Files.

    def to_csv(self) -> str:
        """The roster as comma-separated UTF-8, the organiser's other columns after ours."""
        out = io.StringIO()
        writer = csv.DictWriter(out, [*CSV_COLUMNS, *self.attribute_columns()], lineterminator="\n")
        writer.writeheader()
        for p in self._people.values():
            fields = p.model_dump(exclude={"attributes"})
            writer.writerow({**fields, **p.attributes, "handset": p.handset or ""})
        return out.getvalue()
