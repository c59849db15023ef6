"""Numbers, times and the language a request names, the Danish way and the English way."""

from __future__ import annotations

import datetime as dt

from bridge.event.language import Language, locale, parse_language

AT_1430 = dt.datetime(2026, 5, 4, 14, 30, tzinfo=dt.UTC).timestamp()


def test_danish_numbers_and_times() -> None:
    da = locale(Language.DA)
    assert da.percent(51.5) == "51,5 %"
    assert da.number(1234.5) == "1.234,5"
    assert da.number(220) == "220"
    assert da.time(AT_1430, "UTC") == "14.30"
    assert da.time(AT_1430, "Europe/Copenhagen") == "16.30"
    assert da.date(dt.date(2026, 5, 4)) == "4. maj 2026"
    assert da.decimal(51.5) == "51,5"
    assert da.csv_delimiter == ";"


def test_english_numbers_and_times() -> None:
    en = locale(Language.EN)
    assert en.percent(51.5) == "51.5 %"
    assert en.time(AT_1430, "UTC") == "14:30"
    assert en.decimal(51.5) == "51.5"
    assert en.csv_delimiter == ","


def test_the_language_a_request_names() -> None:
    assert parse_language("da") is Language.DA
    assert parse_language("da-DK,da;q=0.9,en;q=0.8") is Language.DA
    assert parse_language("fr-FR,en;q=0.5") is Language.EN
    assert parse_language("fr", default=Language.DA) is Language.DA
    assert parse_language(None, default=Language.DA) is Language.DA
