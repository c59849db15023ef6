"""A theme round run the way the host runs it, through the API of a running service, with a
simulated audience of paired delegates pressing keypads on a simulated receiver (pty)."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest

from bridge.settings import DEFAULT_CONFIG
from firmware_sim.audience import Audience, PlannedPress, VotePlan, make_handset_ids
from firmware_sim.iskipper import create_simulator
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import Air, RfConditions
from tests.conftest import service_settings
from tests.e2e.harness import running

AGENDA = DEFAULT_CONFIG.parent / "agendas" / "vestegn-summit.toml"
ROSTER = DEFAULT_CONFIG.parent / "rosters" / "vestegn-summit.csv"
SPEED = 40.0


@pytest.mark.parametrize("broker", ["embedded"])
async def test_a_theme_round_from_presentation_to_exported_results(
    tmp_path: Path, broker: str
) -> None:
    handsets = make_handset_ids(221, "iclicker", seed=11)
    delegates, stranger = handsets[:220], handsets[220]
    audience = Audience(delegates, seed=11)
    async with PtyEndpoint() as endpoint:
        sim = create_simulator(endpoint, Air(RfConditions(loss=0.1), seed=3), speed=SPEED)
        playing = asyncio.create_task(sim.run(), name="sim")
        settings = service_settings(
            tmp_path,
            broker,
            event={"agenda": AGENDA, "roster": ROSTER},
            mqtt={"handsets_interval_ms": 50},
            receivers=[{"name": "rx1", "driver": "iskipper", "url": endpoint.url}],
        )
        try:
            async with running(settings) as svc:
                http = svc.http
                agenda = (await http.get("/api/v1/agenda")).json()
                assert agenda["themes"][0]["id"] == "infrastructure"

                # The technician pairs handsets: most from a CSV, one by pressing a key.
                roster = (await http.get("/api/v1/participants.csv")).text.splitlines()
                rows = [roster[0]] + [
                    line + h if i < 219 else line
                    for i, (line, h) in enumerate(zip(roster[1:], delegates, strict=True))
                ]
                r = await http.put(
                    "/api/v1/participants",
                    content="\n".join(rows) + "\n",
                    headers={"content-type": "text/csv"},
                )
                assert r.status_code == 200, r.text
                waiting = asyncio.create_task(
                    http.post("/api/v1/pairing/next", json={"participant": "p220", "timeout_s": 20})
                )
                await asyncio.sleep(0.2)  # the technician asks, then the delegate presses
                sim.load(_one_press(delegates[219]))
                paired = await waiting
                assert paired.status_code == 200, paired.text
                assert paired.json()["handset"] == delegates[219]

                # The host runs the theme.
                for phase in ("presentation", "discussion"):
                    r = await http.post(
                        "/api/v1/rounds/infrastructure/phase", json={"phase": phase}
                    )
                    assert r.json()["phase"] == phase
                r = await http.post("/api/v1/rounds/infrastructure/phase", json={"phase": "voting"})
                voting = r.json()
                assert voting["status"] == "open"
                assert voting["deadline"] - voting["windows"][0]["start"] == 180
                plan = audience.plan("ABCD", duration_s=20, change_rate=0.3)
                sim.load(plan)
                sim.load(_one_press(stranger, offset=21))
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
                r = await http.post(
                    "/api/v1/rounds/infrastructure/phase", json={"phase": "results"}
                )
                assert r.json()["status"] == "closed"
                await svc.until(
                    lambda: svc.service.results("infrastructure") is not None, "results published"
                )
                results = (await http.get("/api/v1/rounds/infrastructure/results")).json()
                results_csv = (await http.get("/api/v1/rounds/infrastructure/results.csv")).text
                votes_csv = (await http.get("/api/v1/rounds/infrastructure/votes.csv")).text
                first = (
                    await http.get(
                        "/api/v1/rounds/infrastructure/results", params={"policy": "first"}
                    )
                ).json()
                report = (await http.get("/api/v1/report.html")).text
                round_report = await http.get("/api/v1/rounds/infrastructure/report.html")
                revote = (await http.post("/api/v1/rounds/infrastructure/revote")).json()
                handset_table = (await http.get("/api/v1/handsets")).json()
        finally:
            playing.cancel()
            await asyncio.gather(playing, return_exceptions=True)

    assert results["final"] is True
    # The stranger's handset is paired with nobody: its press is held, not counted.
    assert results["voters"] == plan.voters
    assert results["held"] == 1
    expected = plan.expected()
    assert results["counts"] == expected
    assert results["turnout"]["paired"] == 220
    assert results["turnout"]["voters"] == plan.voters
    assert set(results["segments"]) == {"politicians", "business", "organisations"}
    assert sum(s["voters"] for s in results["segments"].values()) == plan.voters
    assert len(results["tables"]) == 32
    assert results_csv.startswith("\ufeff")  # UTF-8 with a BOM, for spreadsheets
    rows = list(csv.DictReader(io.StringIO(results_csv.removeprefix("\ufeff"))))
    assert {r["option"]: int(r["count"]) for r in rows} == expected
    assert rows[0]["label"].startswith("An outer ring road")
    votes = list(csv.DictReader(io.StringIO(votes_csv.removeprefix("\ufeff"))))
    assert {v["decision"] for v in votes} >= {"counted", "changed"}
    assert sum(v["decision"] in ("counted", "changed") for v in votes) == plan.voters + plan.changes
    held = [v["decision"] for v in votes if v["handset"] == stranger]
    assert held[0] == "unknown_handset"
    assert set(held[1:]) <= {"duplicate"}
    assert next(v for v in votes if v["handset"] == delegates[0])["participant"] == "p001"
    assert first["counts"] == plan.expected("first")
    assert first["voters"] == plan.voters  # the recount holds the stranger's press too
    assert "Infrastructure and mobility" in report
    assert "Not voted" in report  # the seven themes still to come
    assert round_report.headers["content-type"].startswith("text/html")
    assert "Not voted" not in round_report.text
    assert revote["round"] == "infrastructure-2"
    assert revote["attempt"] == 2
    assert next(h for h in handset_table if h["handset"] == delegates[0])["participant"] == "p001"
    unpaired = next(h for h in handset_table if h["handset"] == stranger)
    assert unpaired["participant"] is None
    assert unpaired["held"] >= 1  # shown to the technician, who can pair it


def _one_press(handset: str, offset: float = 0.0) -> VotePlan:
    return VotePlan(("A",), 1.0, (PlannedPress(offset, handset, "A"),))
