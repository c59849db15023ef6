"""Rosters as organisers save them: Danish Excel's semicolon CSV with a BOM, .xlsx, and
broken rows reported with their line and column while nothing is imported."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from bridge.event.roster import Roster, RosterError
from bridge.event.roster_files import read_roster, roster_from_csv

# As Excel (Danish locale) saves "CSV UTF-8": a BOM, semicolons, CRLF, a trailing empty column.
DANISH_CSV = (
    "\ufeffID;Navn;Segment;Table;Seat;Organisation;Handset;Municipality;Sector;\r\n"
    "p1;Søren Ærø;politicians;1;1;Albertslund Kommune;428071B3;Albertslund;public;\r\n"
    'p2;"Hansen; Åse";business;1;2;Firma A/S;;Glostrup;industry;\r\n'
    "p3;Bo Ibsen;business;2;1;;;Glostrup;;\r\n"
)


def test_a_semicolon_csv_with_bom_keeps_every_column() -> None:
    roster = read_roster(DANISH_CSV.encode("utf-8"), "summit.csv")
    assert [p.id for p in roster.participants()] == ["p1", "p2", "p3"]
    first = roster.get("p1")
    assert (first.segment, first.table, first.handset) == ("politicians", "1", "428071B3")
    # Columns arsbridge does not know are kept, by their lower-case header, not dropped.
    assert first.attributes == {
        "navn": "Søren Ærø",
        "municipality": "Albertslund",
        "sector": "public",
    }
    assert roster.get("p2").attributes["navn"] == "Hansen; Åse"
    assert roster.get("p3").attributes == {"navn": "Bo Ibsen", "municipality": "Glostrup"}
    assert roster.attribute_columns() == ["navn", "municipality", "sector"]
    # The stored form (comma CSV) reads back the same.
    again = roster_from_csv(roster.to_csv(), "stored")
    assert again.participants() == roster.participants()
    assert first.group("municipality+sector") == "Albertslund / public"
    assert roster.get("p3").group("municipality+sector") == ""  # no sector: in no group


def test_without_bom_and_with_commas_too() -> None:
    text = DANISH_CSV.removeprefix("\ufeff").replace(";", ",").replace('"Hansen, Åse"', "x")
    roster = read_roster(text.encode("utf-8"))
    assert len(roster) == 3
    assert roster.get("p1").attributes["municipality"] == "Albertslund"


def test_every_broken_row_is_named_with_line_and_column_and_nothing_is_taken() -> None:
    broken = (
        DANISH_CSV
        + "p4;Ib;business;2;2;;428071B4;Ishøj;industry;\r\n"  # wrong check byte
        + "p1;Again;business;2;3;;;Ishøj;industry;\r\n"  # the id of line 2
        + "p5;Al;business;2;4;;428071B3;Ishøj;industry;\r\n"  # p1's handset
    )
    with pytest.raises(RosterError) as caught:
        read_roster(broken.encode("utf-8"), "summit.csv")
    assert caught.value.status == 422
    assert caught.value.problems[0].startswith("summit.csv line 5, column G (handset): ")
    assert "B3" in caught.value.problems[0]
    assert caught.value.problems[1] == (
        "summit.csv line 6, column A (id): 'p1' is on an earlier line too"
    )
    assert caught.value.problems[2].startswith("summit.csv line 7, column G (handset): ")
    assert "paired with 'p1'" in caught.value.problems[2]
    assert len(caught.value.problems) == 3


def test_text_that_is_not_utf8_is_refused_with_the_line() -> None:
    latin1 = DANISH_CSV.removeprefix("\ufeff").encode("cp1252")
    with pytest.raises(RosterError, match=r"summit.csv line 2: not UTF-8 \(byte 0xF8\)"):
        read_roster(latin1, "summit.csv")


def test_header_problems_are_one_line_each() -> None:
    with pytest.raises(RosterError, match=r"line 1: the header needs an 'id' column"):
        roster_from_csv("name|segment\nAnn|business\n")
    with pytest.raises(RosterError, match=r"line 1, column C: a second column named 'id'"):
        roster_from_csv("id;name;ID\np1;Ann;p2\n")
    with pytest.raises(RosterError, match=r"line 2, column C: beyond the header"):
        roster_from_csv("id;name\np1;Ann;stray\n")
    with pytest.raises(RosterError, match="more than 2 participants") as big:
        roster_from_csv("id\np1\np2\np3\n", max_rows=2)
    assert big.value.status == 413


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


XLSX_ROWS: list[list[object]] = [
    ["id", "name", "segment", "table", "seat", "handset", "Municipality", "Sector", "Role"],
    ["p1", "Søren", "politicians", 1, 1, "428071B3", "Albertslund", "public", "mayor"],
    ["p2", "Åse", "business", 1, 2, None, "Glostrup", "industry", None],
    ["p3", "Bo", "business", 12.0, 3, None, "Glostrup", "retail", None],
]


def test_an_xlsx_made_here_reads_like_the_csv() -> None:
    roster = read_roster(_xlsx(XLSX_ROWS), "summit.xlsx")
    assert len(roster) == 3
    assert roster.get("p1").attributes == {
        "municipality": "Albertslund",
        "sector": "public",
        "role": "mayor",
    }
    assert roster.get("p3").table == "12"  # a number typed in a cell, not "12.0"
    assert roster.seat_of("428071B3") == ("politicians", "1")


def test_a_broken_xlsx_row_names_its_cell_and_nothing_is_taken() -> None:
    rows = [*XLSX_ROWS, ["p4", "Ib", "business", 2, 1, "XYZ", "Ishøj", "retail", None]]
    with pytest.raises(RosterError) as caught:
        read_roster(_xlsx(rows), "summit.xlsx")
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("summit.xlsx line 5, column F (handset): ")
    with pytest.raises(RosterError, match=r"not a readable \.xlsx"):
        read_roster(b"PK\x03\x04 not really a zip", "summit.xlsx")


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(RosterError, match="empty"):
        read_roster(b"\xef\xbb\xbf\r\n", "summit.csv")
    assert len(Roster()) == 0
