"""Results by two groupings at once: an organiser's .xlsx roster with municipality and sector,
an agenda that declares both, a round voted on a simulated receiver, and the results by
each grouping, small groups suppressed, from the API, the report and the exports."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter
from pathlib import Path

import pytest
from openpyxl import Workbook

from bridge.reports.export import export_event
from bridge.settings import DEFAULT_CONFIG
from firmware_sim.audience import Audience, make_handset_ids
from firmware_sim.iskipper import create_simulator
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import Air, RfConditions
from tests.conftest import service_settings
from tests.e2e.harness import running

AGENDA = DEFAULT_CONFIG.parent / "agendas" / "vestegn-summit.toml"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MUNICIPALITIES = ("Albertslund", "Glostrup", "Brøndby", "Ishøj", "Vallensbæk")
SECTORS = ("public", "industry", "retail", "services")


def _roster_xlsx(handsets: list[str]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["ID", "Name", "Segment", "Table", "Seat", "Handset", "Municipality", "Sector"])
    for i, handset in enumerate(handsets):
        # Høje-Taastrup sends three delegates: a group too small to show on its own.
        town = "Høje-Taastrup" if i < 3 else MUNICIPALITIES[i % len(MUNICIPALITIES)]
        sheet.append(
            [
                *(f"p{i + 1:03d}", f"Delegate {i}", "business", i // 7 + 1, i % 7 + 1),
                *(handset, town, SECTORS[(i // 5) % len(SECTORS)]),
            ]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("broker", ["embedded"])
async def test_results_by_municipality_and_sector_from_api_report_and_exports(
    tmp_path: Path, broker: str
) -> None:
    delegates = make_handset_ids(220, "iclicker", seed=16)
    town = {
        h: ("Høje-Taastrup" if i < 3 else MUNICIPALITIES[i % 5]) for i, h in enumerate(delegates)
    }
    sector = {h: SECTORS[(i // 5) % 4] for i, h in enumerate(delegates)}
    async with PtyEndpoint() as endpoint:
        sim = create_simulator(endpoint, Air(RfConditions(loss=0.1), seed=5), speed=40.0)
        playing = asyncio.create_task(sim.run(), name="sim")
        settings = service_settings(
            tmp_path,
            broker,
            event={"agenda": AGENDA},
            receivers=[{"name": "rx1", "driver": "iskipper", "url": endpoint.url}],
        )
        try:
            async with running(settings) as svc:
                http = svc.http
                agenda = (await http.get("/api/v1/agenda")).json()
                r = await http.put(
                    "/api/v1/agenda", json={**agenda, "groupings": ["Municipality", "sector"]}
                )
                assert r.json()["groupings"] == ["municipality", "sector"]
                r = await http.put(
                    "/api/v1/participants",
                    content=_roster_xlsx(delegates),
                    headers={"content-type": XLSX},
                )
                assert r.status_code == 200, r.text
                assert r.json()[0]["attributes"] == {
                    "municipality": "Høje-Taastrup",
                    "sector": "public",
                }
                await svc.until(
                    lambda: svc.service.seats is not None and svc.service.seats.paired == 220,
                    "the roster reached the tally",
                )
                r = await http.post("/api/v1/rounds/infrastructure/open")
                assert r.json()["status"] == "open", r.text
                plan = Audience(delegates, seed=16).plan("ABCD", duration_s=20, change_rate=0.3)
                sim.load(plan)
                core = svc.service.core
                assert core is not None
                answers = plan.answers()
                await svc.until(
                    lambda: all(core.handsets.get(h) for h in answers), "every voter heard"
                )
                await svc.until(
                    lambda: (
                        (svc.service.tally_snapshot("infrastructure") or {}).get("voters")
                        == len(answers)
                    ),
                    "every vote counted",
                )
                await http.post("/api/v1/rounds/infrastructure/close")
                await svc.until(
                    lambda: svc.service.results("infrastructure") is not None, "results published"
                )
                results = (await http.get("/api/v1/rounds/infrastructure/results")).json()
                kept = (await http.get("/api/v1/participants.csv")).text.splitlines()
                groups_csv = (await http.get("/api/v1/rounds/infrastructure/groups.csv")).text
                report = (await http.get("/api/v1/rounds/infrastructure/report.html")).text
        finally:
            playing.cancel()
            await asyncio.gather(playing, return_exceptions=True)

    def expected(group_of: dict[str, str]) -> dict[str, dict[str, int]]:
        out: dict[str, Counter[str]] = {}
        for handset, answer in answers.items():
            out.setdefault(group_of[handset], Counter())[answer] += 1
        return {g: {k: c[k] for k in "ABCD"} for g, c in out.items()}

    # The organiser's columns are kept, after arsbridge's own.
    assert kept[0] == "id,name,segment,table,seat,organisation,handset,municipality,sector"
    assert kept[1].endswith(f",{delegates[0]},Høje-Taastrup,public")
    by_town, by_sector = expected(town), expected(sector)
    groups = results["groups"]
    assert set(groups) == {"municipality", "sector"}
    assert groups["municipality"]["Høje-Taastrup"] == {"suppressed": True}
    # Complementary suppression: the smallest other municipality goes too, so that
    # Høje-Taastrup's votes cannot be had by subtracting the others from the totals.
    voters_in = Counter(town[h] for h in answers)
    partner = min(MUNICIPALITIES, key=lambda m: (voters_in[m], m))
    assert groups["municipality"][partner] == {"suppressed": True}
    for name in MUNICIPALITIES:
        if name != partner:
            assert groups["municipality"][name]["counts"] == by_town[name]
    for name in SECTORS:
        assert groups["sector"][name]["counts"] == by_sector[name]
    assert results["segments"]["business"]["voters"] == len(answers)

    rows = list(csv.DictReader(io.StringIO(groups_csv)))
    suppressed = [r for r in rows if r["suppressed"] == "yes"]
    assert sorted((r["grouping"], r["group"], r["count"]) for r in suppressed) == sorted(
        [("municipality", "Høje-Taastrup", ""), ("municipality", partner, "")]
    )
    shown = next(m for m in MUNICIPALITIES if m != partner)
    figures = {r["option"]: int(r["count"]) for r in rows if r["group"] == shown}
    assert figures == by_town[shown]
    assert 'data-grouping="municipality"' in report
    assert 'data-grouping="sector"' in report
    assert "Results by municipality" in report

    exported = export_event(settings.journal.path, tmp_path / "out")
    assert (tmp_path / "out" / "groups.csv").read_bytes().decode("utf-8") == groups_csv
    assert exported.rounds[0] == "infrastructure"
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert 'data-grouping="sector"' in html
