"""Exports for spreadsheets: CSV with a BOM, the locale's separator, decimal mark, headers
and labels; the workbook with a summary sheet and a sheet per round."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl

from bridge.event.language import Language, locale
from bridge.event.questions import Question
from bridge.event.votes import Decision, Record
from bridge.reports.tables import results_csv, votes_csv
from bridge.reports.workbook import results_workbook


def document(round_id: str, title: str) -> dict[str, Any]:
    question = Question.single("ABC", labels=["Letbane", "Ringvej", "Cykelstier"])
    return {
        "round": round_id,
        "theme": round_id,
        "attempt": 1,
        "title": title,
        "question": question.to_public(),
        "counts": {"A": 103, "B": 80, "C": 17},
        "percent": {"A": 51.5, "B": 40.0, "C": 8.5},
        "summary": {"leading": ["A"]},
        "voters": 200,
        "policy": "last",
        "status": "closed",
    }


def rows_of(text: str, delimiter: str) -> list[list[str]]:
    assert text.startswith("\ufeff"), "UTF-8 with a byte-order mark"
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=delimiter))


def test_danish_csv_opens_in_danish_excel() -> None:
    text = results_csv([document("infra", "Trafik og mobilitet")], locale(Language.DA))
    header, first, *_ = rows_of(text, ";")
    assert header[:3] == ["runde", "tema", "forsøg"]
    assert "procent" in header
    row = dict(zip(header, first, strict=True))
    assert row["tekst"] == "Letbane"
    assert row["procent"] == "51,5"  # the Danish decimal mark
    assert row["type"] == "ét valg"
    assert row["status"] == "lukket"


def test_english_csv_keeps_its_columns_and_codes() -> None:
    text = results_csv([document("infra", "Traffic")], locale(Language.EN))
    header, first, *_ = rows_of(text, ",")
    row = dict(zip(header, first, strict=True))
    assert header[:3] == ["round", "theme", "attempt"]
    assert (row["percent"], row["kind"], row["status"]) == ("51.5", "single", "closed")


def test_danish_votes_csv_names_the_decision_in_danish() -> None:
    rec = Record(1, 1_780_000_000.0, "rx1", "428071B3", "A", Decision.LATE, "infra", "A")
    header, first = rows_of(votes_csv([rec], lang=locale(Language.DA)), ";")
    assert dict(zip(header, first, strict=True))["afgørelse"] == "for sent"


def test_the_workbook_has_a_summary_and_a_sheet_per_round() -> None:
    docs = [document("infra", "Trafik"), document("infra-2", "Trafik, omvalg")]
    body = results_workbook(docs, "Vestegnens erhvervstopmøde", locale(Language.DA))
    book = openpyxl.load_workbook(io.BytesIO(body))
    assert book.sheetnames == ["Oversigt", "infra", "infra-2"]
    summary = list(book["Oversigt"].iter_rows(values_only=True))
    assert summary[0][:2] == ("Arrangement", "Vestegnens erhvervstopmøde")
    assert summary[3] == ("infra", "Trafik", "ét valg", "lukket", 200, "Letbane")
    rows = list(book["infra-2"].iter_rows(values_only=True))
    assert rows[0][:3] == ("runde", "tema", "forsøg")
    assert [(r[5], r[7], r[8]) for r in rows[1:]] == [
        ("A", 103, 51.5),
        ("B", 80, 40.0),
        ("C", 17, 8.5),
    ]
    assert book["infra"].cell(2, 9).number_format == "0.0"
