"""The event's agenda: its themes, each a block of phases ending in a vote on one question.

Loaded from TOML (``config/agendas/*.toml``) and editable through the API. A theme's first
round takes the theme's ID as its round ID; a re-vote of the theme is ``{theme}-2``, and so on.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import tomllib
import zoneinfo
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bridge.event.questions import LETTERS, Kind, Option, Question
from bridge.event.roster import COLUMN_NAME
from bridge.event.rounds import DEFAULT_PHASES, PhaseName, PhasePlan, Visibility
from bridge.event.votes import Policy

ID_PATTERN = r"^[A-Za-z0-9_.-]{1,48}$"
MAX_GROUPINGS = 12  # each is a table on every theme's page of the report


class AgendaError(ValueError):
    """An agenda that cannot be used; the message names the file and the field."""


class Theme(BaseModel):
    """One theme: a presentation, a discussion at the tables, a vote, the results."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1, max_length=120)
    starts: dt.time | None = None
    speaker: str = ""
    question: Question
    policy: Policy = Policy.LAST
    visibility: Visibility = Visibility.LIVE
    paired_only: bool = False  # count only handsets paired with a participant
    anonymous: bool | None = None  # None: the event's [event] anonymous
    phases: tuple[PhasePlan, ...] = DEFAULT_PHASES

    @model_validator(mode="after")
    def _check_phases(self) -> Theme:
        names = [p.name for p in self.phases]
        if names != sorted(set(names), key=list(PhaseName).index):
            raise ValueError(f"phases must be distinct and in the order {list(PhaseName)}")
        if PhaseName.VOTING not in names:
            raise ValueError("a theme needs a voting phase")
        return self

    @property
    def minutes(self) -> float:
        return sum(p.minutes for p in self.phases)

    def round_fields(self) -> dict[str, Any]:
        """What a round of this theme starts with."""
        return {
            "theme": self.id,
            "title": self.title,
            "question": self.question,
            "policy": self.policy,
            "visibility": self.visibility,
            "paired_only": self.paired_only,
            "phases": self.phases,
        } | ({} if self.anonymous is None else {"anonymous": self.anonymous})


class Break(BaseModel):
    """A pause in the programme (coffee, dinner): shown on the agenda, no vote."""

    model_config = ConfigDict(extra="forbid")

    title: str
    starts: dt.time
    minutes: float = Field(gt=0)


class Agenda(BaseModel):
    """The whole event."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    example: bool = False  # an illustrative agenda, not a real event's
    note: str = ""
    venue: str = ""
    date: dt.date | None = None
    timezone: str | None = None  # IANA name, e.g. Europe/Copenhagen: where the times apply
    block_minutes: float = Field(25, gt=0)
    # Roster columns whose groups get results of their own besides the segment's, such as
    # "municipality" and "sector"; "municipality+sector" splits by both at once.
    groupings: list[str] = Field(default_factory=list, max_length=MAX_GROUPINGS)
    themes: list[Theme] = []
    breaks: list[Break] = []

    @field_validator("groupings")
    @classmethod
    def _check_groupings(cls, value: list[str]) -> list[str]:
        out = [g.strip().casefold() for g in value]
        for g in out:
            if not all(re.match(COLUMN_NAME, part.strip()) for part in g.split("+")):
                raise ValueError(f"{g!r} is not a roster column (or columns joined by '+')")
        if len(set(out)) != len(out):
            raise ValueError(f"groupings must be distinct, got {out}")
        return ["+".join(part.strip() for part in g.split("+")) for g in out]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r} (use an IANA name such as Europe/Copenhagen)"
                ) from None
        return value

    @property
    def tz(self) -> dt.tzinfo | None:
        return zoneinfo.ZoneInfo(self.timezone) if self.timezone else None

    @model_validator(mode="after")
    def _check(self) -> Agenda:
        ids = [t.id for t in self.themes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"theme IDs must be distinct, got {ids}")
        for theme in self.themes:
            if abs(theme.minutes - self.block_minutes) > 1e-9:
                raise ValueError(
                    f"theme {theme.id!r}: its phases make {theme.minutes:g} "
                    f"minutes, the block is {self.block_minutes:g}"
                )
        timed = sorted(
            [(_minutes(t.starts), t.minutes, t.title) for t in self.themes if t.starts]
            + [(_minutes(b.starts), b.minutes, b.title) for b in self.breaks]
        )
        for (start, length, title), (after, _, next_title) in itertools.pairwise(timed):
            if start + length > after + 1e-9:
                raise ValueError(f"{title!r} runs into {next_title!r}")
        return self

    def theme(self, theme_id: str) -> Theme | None:
        return next((t for t in self.themes if t.id == theme_id), None)

    def theme_of_round(self, round_id: str) -> Theme | None:
        """The theme a round belongs to: ``infra`` and its re-votes ``infra-2``, ``infra-3``."""
        theme = self.theme(round_id)
        if theme is None and "-" in round_id:
            base, _, attempt = round_id.rpartition("-")
            if attempt.isdigit():
                theme = self.theme(base)
        return theme


def _minutes(t: dt.time) -> float:
    return t.hour * 60 + t.minute + t.second / 60


def load_agenda(path: Path) -> Agenda:
    """Read an agenda from TOML; raises :class:`AgendaError` naming the file and the field."""
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise AgendaError(f"agenda {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AgendaError(f"agenda {path} is not valid TOML: {exc}") from None
    try:
        return agenda_from_toml(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise AgendaError(f"agenda {path}: {problems}") from None


def agenda_from_toml(raw: dict[str, Any]) -> Agenda:
    """The agenda from its TOML form, where a theme's question is written compactly:
    ``question = "text"``, ``kind``, ``options = ["label", ...]``, ``max_choices``,
    ``weights``, and ``phases = {presentation = 10, ...}``."""
    event = dict(raw.get("event", {}))
    themes = [_theme(t) for t in raw.get("themes", [])]
    return Agenda.model_validate({**event, "themes": themes, "breaks": raw.get("breaks", [])})


def _theme(raw: dict[str, Any]) -> dict[str, Any]:
    theme = dict(raw)
    text = theme.pop("question", "")
    if isinstance(text, dict):  # already the full form
        theme["question"] = text
        return theme
    kind = Kind(theme.pop("kind", Kind.SINGLE))
    labels = list(theme.pop("options", []))
    if kind is Kind.YESNO:
        labels = labels or ["Yes", "No", "Abstain"]
    keys = "1234567890"[: len(labels)] if kind is Kind.RATING else LETTERS[: len(labels)]
    question: dict[str, Any] = {
        "kind": kind,
        "text": text,
        "options": [Option(key=k, label=label) for k, label in zip(keys, labels, strict=False)],
    }
    if "max_choices" in theme:
        question["max_choices"] = theme.pop("max_choices")
    if "weights" in theme:
        question["weights"] = tuple(theme.pop("weights"))
    theme["question"] = question
    phases = theme.pop("phases", None)
    if isinstance(phases, dict):
        theme["phases"] = [{"name": name, "minutes": m} for name, m in phases.items()]
    elif phases is not None:
        theme["phases"] = phases
    return theme
