"""An anonymous round with 220 simulated delegates: afterwards no export, API response, MQTT
message, log line or journal row has a handset or participant ID next to an answer, while
turnout by table is right and a recount equals the live result."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import aiomqtt
import openpyxl
import pytest

from bridge.reports.export import export_event
from bridge.settings import DEFAULT_CONFIG
from firmware_sim.audience import Audience, PlannedPress, VotePlan, make_handset_ids
from firmware_sim.iskipper import create_simulator
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import Air, RfConditions
from tests.conftest import service_settings
from tests.e2e.harness import Running, running

AGENDA = DEFAULT_CONFIG.parent / "agendas" / "vestegn-summit.toml"
ROSTER = DEFAULT_CONFIG.parent / "rosters" / "vestegn-summit.csv"
SPEED = 40.0
ANSWER_FIELDS = {"a", "answer", "k", "key"}  # where a press's answer travels


def linked(value: Any, ids: set[str]) -> list[str]:
    """IDs found in the same JSON object as an answer field, anywhere in ``value``."""
    found: list[str] = []
    if isinstance(value, dict):
        if ANSWER_FIELDS & set(value):
            found += [s for s in strings(value) if s in ids]
        for v in value.values():
            found += linked(v, ids)
    elif isinstance(value, list):
        for v in value:
            found += linked(v, ids)
    return found


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def csv_linked(text: str, ids: set[str]) -> list[str]:
    """IDs in a CSV row that also carries an answer or a pressed key."""
    found = []
    for row in csv.DictReader(io.StringIO(text)):
        if ANSWER_FIELDS & {k for k, v in row.items() if v}:
            found += [v for v in row.values() if v in ids]
    return found


def files_holding(folder: Path, data: bytes) -> list[Path]:
    """The journal's files (database, WAL) in which ``data`` occurs."""
    return [p for p in folder.glob("journal.sqlite3*") if data in p.read_bytes()]


def test_the_search_finds_an_id_next_to_an_answer() -> None:
    """The checks below would see a link if there were one."""
    ids = {"428071B3", "p007"}
    assert linked({"presses": [{"hs": "428071B3", "k": "A", "a": "A"}]}, ids) == ["428071B3"]
    assert linked({"handset": "428071B3", "participant": "p007"}, ids) == []
    votes = "id,handset,participant,key,answer\n1,~h1,p007,A,A\n2,428071B3,,,\n"
    assert csv_linked(votes, ids) == ["p007"]


async def capture(svc: Running, into: list[tuple[str, bytes]]) -> None:
    """Every MQTT message under the service's topic base, retained and live."""
    host, port = svc.broker
    # As the service's own user (all its roles): the one that may read every topic it uses.
    login = svc.login("+".join(sorted(svc.service.roles)))
    async with aiomqtt.Client(host, port, identifier=f"capture-{id(into)}", **login) as client:
        await client.subscribe(f"{svc.service.topics.base}/#", qos=1)
        async for message in client.messages:
            into.append((str(message.topic), bytes(message.payload)))  # type: ignore[arg-type]


@pytest.mark.parametrize("broker", ["embedded"])
async def test_an_anonymous_round_leaves_no_answer_next_to_a_handset_or_a_participant(
    tmp_path: Path, broker: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    handsets = make_handset_ids(221, "iclicker", seed=12)
    delegates, stranger = handsets[:220], handsets[220]
    audience = Audience(delegates, seed=12)
    lines = ROSTER.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("id,"))
    rows = lines[header + 1 :]
    participants = [row.split(",")[0] for row in rows]
    table_of = {row.split(",")[0]: row.split(",")[3] for row in rows}
    holder = dict(zip(delegates, participants, strict=True))
    ids = {*handsets, *participants}
    messages: list[tuple[str, bytes]] = []
    async with PtyEndpoint() as endpoint:
        sim = create_simulator(endpoint, Air(RfConditions(loss=0.1), seed=4), speed=SPEED)
        playing = asyncio.create_task(sim.run(), name="sim")
        settings = service_settings(
            tmp_path,
            broker,
            event={"agenda": AGENDA, "roster": ROSTER, "anonymous": True},
            rounds={"late_window_s": 1.0},
            mqtt={"handsets_interval_ms": 50},
            receivers=[{"name": "rx1", "driver": "iskipper", "url": endpoint.url}],
        )
        try:
            async with running(settings) as svc:
                http = svc.http
                watcher = asyncio.create_task(capture(svc, messages), name="capture")
                await svc.until(lambda: bool(messages), "capturing MQTT")
                r = await http.put(
                    "/api/v1/participants",
                    content="\n".join(
                        [lines[header], *(row + h for row, h in zip(rows, delegates, strict=True))]
                    )
                    + "\n",
                    headers={"content-type": "text/csv"},
                )
                assert r.status_code == 200, r.text
                r = await http.post("/api/v1/rounds/infrastructure/phase", json={"phase": "voting"})
                assert r.json()["anonymous"] is True
                plan = audience.plan("ABCD", duration_s=20, change_rate=0.3)
                sim.load(plan)
                sim.load(VotePlan(("A",), 1.0, (PlannedPress(21, stranger, "A"),)))
                core = svc.service.core
                assert core is not None
                await svc.until(lambda: stranger in core.handsets, "every press read")
                await svc.until(
                    lambda: (
                        sum(core.decisions.values())
                        == sum(h.presses for h in core.handsets.values())
                    ),
                    "all journaled",
                )
                key = core.keys._keys["infrastructure"].hex()  # to look for it in the file later
                r = await http.post(
                    "/api/v1/rounds/infrastructure/phase", json={"phase": "results"}
                )
                assert r.json()["status"] == "closed"
                await svc.until(lambda: svc.service.results("infrastructure") is not None, "final")
                await svc.until(lambda: "infrastructure" not in core.keys, "key destroyed")
                responses: dict[str, Any] = {}
                for path in (
                    "/api/v1/rounds/infrastructure/results",
                    "/api/v1/rounds/infrastructure/results?policy=last",
                    "/api/v1/rounds/infrastructure/results?policy=first",
                    "/api/v1/rounds/infrastructure/tally",
                    "/api/v1/rounds/infrastructure/revisions",
                    "/api/v1/rounds/infrastructure",
                    "/api/v1/rounds",
                    "/api/v1/handsets",
                    "/api/v1/participants",
                    "/api/v1/pairings",
                    "/api/v1/audit",
                    "/api/v1/health",
                ):
                    r = await http.get(path)
                    assert r.status_code == 200, (path, r.text)
                    responses[path] = r.json()
                tables_csv = {
                    path: (await http.get(path)).text
                    for path in (
                        "/api/v1/rounds/infrastructure/votes.csv",
                        "/api/v1/rounds/infrastructure/results.csv",
                        "/api/v1/votes.csv",
                        "/api/v1/audit.csv",
                        "/api/v1/pairings.csv",
                    )
                }
                report = (await http.get("/api/v1/rounds/infrastructure/report.html")).text
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
        finally:
            playing.cancel()
            await asyncio.gather(playing, return_exceptions=True)
    out = export_event(settings.journal.path, tmp_path / "export")

    # Nothing published, served or exported has an ID next to an answer.
    batches = 0
    for topic, payload in messages:
        doc = json.loads(payload) if payload else None
        assert not linked(doc, ids), topic
        if topic.endswith("/votes"):
            batches += 1
            assert all(
                item["hs"].startswith("~h") and item["v"].startswith("~") for item in doc["presses"]
            )
    assert batches > 0
    for path, doc in responses.items():
        assert not linked(doc, ids), path
    for path, text in tables_csv.items():
        assert not csv_linked(text, ids), path
    exported = {p.name: p.read_text() for p in out.files if p.suffix != ".xlsx"}
    workbook = openpyxl.load_workbook(next(p for p in out.files if p.suffix == ".xlsx"))
    for sheet in workbook.worksheets:
        cells = io.StringIO()
        csv.writer(cells).writerows(sheet.iter_rows(values_only=True))
        assert not csv_linked(cells.getvalue(), ids), sheet.title
    for name, text in exported.items():
        if name.endswith(".csv"):
            assert not csv_linked(text, ids), name
        elif name.endswith(".json"):
            assert not linked(json.loads(text), ids), name
    for html in (report, exported["report.html"]):
        assert not any(i in html for i in ids)
    for record in caplog.records:
        assert not any(i in record.getMessage() for i in ids), record.getMessage()

    # The journal after the close: pseudonyms only, and the key is gone from the file.
    db = sqlite3.connect(settings.journal.path)
    try:
        pressed = db.execute(
            "SELECT handset, voter, key, answer FROM presses WHERE round = 'infrastructure'"
        ).fetchall()
        voted = [r[0] for r in db.execute("SELECT participant FROM participation")]
        columns = [r[1] for r in db.execute("PRAGMA table_info(participation)")]
        keys = db.execute("SELECT name FROM meta WHERE name LIKE 'round-key/%'").fetchall()
    finally:
        db.close()
    assert pressed
    assert not {h for h, _, _, _ in pressed} & ids
    assert not {v for _, v, _, _ in pressed} & ids
    assert columns == ["round", "since", "participant"]  # who voted: no answer, no time
    assert keys == []
    assert not files_holding(tmp_path, key.encode())

    # Still right: one vote per delegate, the stranger held, turnout by table, the recount.
    results = responses["/api/v1/rounds/infrastructure/results"]
    assert results["anonymous"] is True
    assert results["voters"] == plan.voters
    assert results["counts"] == plan.expected()
    assert results["held"] >= 1
    assert results["segments"] == {}
    expected_tables = Counter(table_of[holder[h]] for h in plan.answers())
    assert {t: v["voted"] for t, v in results["tables"].items() if v["voted"]} == dict(
        expected_tables
    )
    assert sorted(voted) == sorted(holder[h] for h in plan.answers())
    recount = responses["/api/v1/rounds/infrastructure/results?policy=last"]
    for part in ("voters", "counts", "tables"):
        assert recount[part] == results[part], part
    assert responses["/api/v1/rounds/infrastructure/results?policy=first"]["counts"] == (
        plan.expected("first")
    )
