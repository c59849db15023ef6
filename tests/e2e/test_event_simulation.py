"""The whole example summit on a controlled clock: every theme voted, everything exported,
and the exported results equal a recount of the exported presses done here, independently."""

from __future__ import annotations

import csv
import io
import json
import tomllib
from collections import defaultdict
from pathlib import Path

import openpyxl
import pytest

from arsbridge.simulation import AGENDA, EventPlan, simulate_event
from tests.conftest import service_settings


def recount_votes_csv(votes: list[dict[str, str]], agenda: dict) -> dict[str, dict[str, float]]:
    """Last countable answer per handset and round, scored by the agenda's question kinds."""
    themes = {t["id"]: t for t in agenda["themes"]}
    last: dict[str, dict[str, str]] = defaultdict(dict)
    for row in sorted(votes, key=lambda r: int(r["id"])):
        if row["decision"] in ("counted", "changed"):
            last[row["round"]][row["handset"]] = row["answer"]
    counts: dict[str, dict[str, float]] = {}
    for round_id, answers in last.items():
        base, _, attempt = round_id.rpartition("-")
        theme = themes[base] if attempt.isdigit() and base in themes else themes[round_id]
        kind = theme.get("kind", "single")
        n = len(theme.get("options", ["Yes", "No", "Abstain"]))
        keys = "12345"[:n] if kind == "rating" else "ABCDEFGHIJ"[:n]
        tally = dict.fromkeys(keys, 0.0)
        for answer in answers.values():
            for place, key in enumerate(answer):
                tally[key] += theme["weights"][place] if kind == "ranking" else 1
        counts[round_id] = {**tally, "voters": len(answers)}
    return counts


@pytest.mark.mosquitto
async def test_the_simulated_summit_exports_results_that_its_presses_bear_out(
    tmp_path: Path, mosquitto_url: str
) -> None:
    lines: list[str] = []
    settings = service_settings(tmp_path, mosquitto_url)
    done = await simulate_event(settings, tmp_path / "out", EventPlan(seed=5), lines.append)

    agenda = tomllib.loads(AGENDA.read_text())
    ids = [t["id"] for t in agenda["themes"]]
    assert done.rounds == [*ids[:5], "labour-market-2", *ids[5:]]
    assert {p.name for p in done.files} == {
        "results.csv",
        "groups.csv",
        "results.xlsx",
        "votes.csv",
        "pairings.csv",
        "audit.csv",
        "results.json",
        "report.html",
    }
    with (done.folder / "votes.csv").open(encoding="utf-8-sig") as fh:
        votes = list(csv.DictReader(fh))
    with (done.folder / "results.csv").open(encoding="utf-8-sig") as fh:
        results = list(csv.DictReader(fh))
    assert len(votes) == done.presses
    assert {v["decision"] for v in votes} >= {"counted", "changed", "duplicate"}
    assert all(v["participant"] for v in votes if v["decision"] == "counted")

    exported: dict[str, dict[str, float]] = defaultdict(dict)
    for row in results:
        exported[row["round"]][row["option"]] = float(row["count"])
        exported[row["round"]]["voters"] = int(row["voters"])
    assert exported == recount_votes_csv(votes, agenda)
    assert all(r["voters"] > 180 for r in exported.values())  # most of the 220 voted

    # The workbook: a summary sheet, then one sheet per round with the same figures.
    book = openpyxl.load_workbook(done.folder / "results.xlsx", read_only=True)
    assert book.sheetnames == ["Summary", *done.rounds]
    summary = [row for row in book["Summary"].iter_rows(values_only=True) if row and row[0]]
    assert {row[0]: row[4] for row in summary[2:]} == {
        r: int(v["voters"]) for r, v in exported.items()
    }
    for round_id in done.rounds:
        rows = list(book[round_id].iter_rows(values_only=True))
        assert rows[0][:2] == ("round", "theme")
        assert {row[5]: row[7] for row in rows[1:]} == {
            k: v for k, v in exported[round_id].items() if k != "voters"
        }
    book.close()

    doc = json.loads((done.folder / "results.json").read_text())
    assert [r["round"] for r in doc["results"]] == done.rounds
    first = doc["results"][0]
    assert first["turnout"]["paired"] == 220
    assert set(first["segments"]) == {"politicians", "business", "organisations"}
    assert len(first["tables"]) == 32
    report = (done.folder / "report.html").read_text()
    for round_id in done.rounds:
        assert round_id in report
    assert any("labour-market-2" in line for line in lines)


@pytest.mark.mosquitto
def test_export_command_recounts_a_round_from_the_journal(
    tmp_path: Path, mosquitto_url: str
) -> None:
    import asyncio
    import os
    import subprocess
    import sys

    settings = service_settings(tmp_path, mosquitto_url)
    done = asyncio.run(
        simulate_event(settings, tmp_path / "out", EventPlan(seed=8), lambda _: None)
    )
    journal = done.folder / "journal.sqlite3"

    def export(*args: str) -> list[dict[str, str]]:
        out = tmp_path / "again"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "arsbridge.cli",
                "export",
                "--journal",
                str(journal),
                "--out",
                str(out),
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
            env=os.environ,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        with (out / "results.csv").open(encoding="utf-8-sig") as fh:
            return list(csv.DictReader(fh))

    with (done.folder / "results.csv").open(encoding="utf-8-sig") as fh:
        live = [r for r in csv.DictReader(fh) if r["round"] == "infrastructure"]
    assert export("--round", "infrastructure") == live
    first = export("--round", "infrastructure", "--policy", "first")
    assert [r["voters"] for r in first] == [r["voters"] for r in live]
    assert sum(int(r["count"]) for r in first) == sum(int(r["count"]) for r in live)
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "arsbridge.cli",
            "export",
            "--journal",
            str(journal),
            "--out",
            str(tmp_path / "x"),
            "--round",
            "nope",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert missing.returncode == 2
    assert "nope" in missing.stderr

    # In Danish: a CSV that Danish Excel splits on ';' with a decimal comma, a Danish report.
    danish = tmp_path / "dansk"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "arsbridge.cli",
            "export",
            "--journal",
            str(journal),
            "--out",
            str(danish),
            "--round",
            "infrastructure",
            "--language",
            "da",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    text = (danish / "results.csv").read_text(encoding="utf-8")
    assert text.startswith("\ufeffrunde;tema;forsøg;titel;type;svar;tekst;antal;procent;")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert [r["antal"] for r in rows] == [r["count"] for r in live]
    assert [r["procent"] for r in rows] == [
        f"{float(r['percent']):g}".replace(".", ",") for r in live
    ]
    report = (danish / "report.html").read_text(encoding="utf-8")
    assert '<html lang="da">' in report
    assert "Resultatrapport: én side pr. tema" in report
