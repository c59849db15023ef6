"""How the printed report writes numbers, percentages, clock times and its own texts, in
English or Danish (51.5% or 51,5 %; 14:30 or 14.30)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from bridge.event.language import Language, Locale, locale


def weighting(weights: Sequence[float], lang: Locale | None = None) -> str:
    """A ranking's points per place in words: "1st choice 10 points, 2nd 9, 3rd 8"."""
    lang = lang or locale()
    if lang.language is Language.DA:
        later = "".join(f", {i + 2}. {number(w, lang)}" for i, w in enumerate(weights[1:]))
        return f"1. prioritet {number(weights[0], lang)} point{later}"
    later = "".join(f", {_ordinal(i + 2)} {number(w)}" for i, w in enumerate(weights[1:]))
    return f"1st choice {number(weights[0])} points{later}"


def clock(t: float | None, tz: dt.tzinfo, lang: Locale | None = None) -> str:
    """Wall-clock time of a timestamp in the report's zone (14:30:05, Danish 14.30.05);
    empty when there is none."""
    if t is None:
        return ""
    sep = "." if lang is not None and lang.language is Language.DA else ":"
    return dt.datetime.fromtimestamp(t, tz).strftime(f"%H{sep}%M{sep}%S")


def translate(lang: Locale, text: str, **values: Any) -> str:
    """The report's text ``text`` (its English wording is its key) in ``lang``."""
    return lang.t(f"report.{text}", **values)


def percent(value: float | None, lang: Locale | None = None, digits: int = 1) -> str:
    """51.5% in English, 51,5 % in Danish."""
    if value is None:
        return "—"
    if lang is not None and lang.language is Language.DA:
        return lang.percent(float(value), digits)
    return f"{float(value):.{digits}f}%"


def number(value: float, lang: Locale | None = None) -> str:
    value = float(value)
    text = str(int(value)) if value.is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang is not None and lang.language is Language.DA else text


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def hhmm(t: dt.time | None, lang: Locale | None = None) -> str:
    """14:30, or 14.30 in Danish."""
    if t is None:
        return ""
    return t.strftime("%H.%M" if lang is not None and lang.language is Language.DA else "%H:%M")


def ends(t: dt.time | None, minutes: float, lang: Locale | None = None) -> str:
    if t is None:
        return ""
    end = (dt.datetime.combine(dt.date(2000, 1, 1), t) + dt.timedelta(minutes=minutes)).time()
    return hhmm(end, lang)
