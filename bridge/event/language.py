"""The languages an event speaks: message catalogues, and numbers, times and CSV in the
locale's format (Danish: ``51,5 %``, ``14.30``, ``;`` between CSV fields).

Catalogues are JSON files in ``bridge/event/messages/`` (``en.json``, ``da.json``), one key
per text with ``{name}`` placeholders; every key is in every catalogue (a test checks it).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal

MESSAGES = Path(__file__).resolve().parent / "messages"


class Language(enum.StrEnum):
    """A language of the pages, the report, the exports and the API's messages."""

    EN = "en"
    DA = "da"


DEFAULT = Language.EN


@functools.cache
def catalogue(language: Language) -> dict[str, str]:
    """The messages of ``language``, by key."""
    data: dict[str, str] = json.loads((MESSAGES / f"{language.value}.json").read_text("utf-8"))
    return data


def parse_language(value: str | None, default: Language = DEFAULT) -> Language:
    """The language a request or a setting names (``da``, ``da-DK,da;q=0.9``), else ``default``."""
    if not value:
        return default
    for part in value.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in Language.__members__.values():
            return Language(code)
    return default


@dataclass(frozen=True, slots=True)
class Locale:
    """One language's texts and formats."""

    language: Language

    def t(self, key: str, **values: Any) -> str:
        """The message ``key`` with its ``{placeholders}`` filled in."""
        text = catalogue(self.language).get(key) or catalogue(DEFAULT)[key]
        return text.format(**values) if values else text

    @property
    def csv_delimiter(self) -> str:
        """What a spreadsheet of this locale splits CSV fields on (Danish Excel: ``;``)."""
        return ";" if self.language is Language.DA else ","

    def number(self, value: float | int | None, digits: int = 1) -> str:
        """``value`` with ``digits`` decimals (none for whole counts) in the locale's format."""
        if value is None:
            return "–"
        whole = isinstance(value, int) or digits == 0
        pattern = "#,##0" if whole else "#,##0." + "0" * digits
        return format_decimal(value, format=pattern, locale=self.language.value)

    def decimal(self, value: float | int) -> str:
        """A number for a CSV cell: no grouping, the locale's decimal mark."""
        text = f"{value:g}" if isinstance(value, float) else str(value)
        return text.replace(".", ",") if self.language is Language.DA else text

    def percent(self, value: float | None, digits: int = 1) -> str:
        """``51.5`` as ``51.5 %`` (English) or ``51,5 %`` (Danish)."""
        return "–" if value is None else f"{self.number(float(value), digits)} %"

    def time(self, epoch: float | None, zone: str | None = None) -> str:
        """Clock time of ``epoch``: ``14:30`` (English) or ``14.30`` (Danish)."""
        if epoch is None:
            return "–"
        return format_time(_at(epoch, zone), "HH:mm" if self.language is Language.EN else "HH.mm")

    def date(self, day: dt.date) -> str:
        return format_date(day, "long", locale=self.language.value)

    def moment(self, epoch: float | None, zone: str | None = None) -> str:
        """Date and time of ``epoch`` in the locale's medium format."""
        if epoch is None:
            return "–"
        return format_datetime(_at(epoch, zone), "medium", locale=self.language.value)


def _at(epoch: float, zone: str | None) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, ZoneInfo(zone) if zone else dt.UTC)


@functools.cache
def locale(language: Language = DEFAULT) -> Locale:
    return Locale(language)
