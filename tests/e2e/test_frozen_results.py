"""Final results are frozen: roster and pairing edits after the close leave them byte for byte
as they were; a correction is an amendment that makes revision 2 and keeps revision 1.

Run through the API of a running service, with handsets pressing keys on a simulated
iSkipper receiver (pty).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

from bridge.reports.export import export_event
from bridge.service import Service
from firmware_sim.audience import PlannedPress, VotePlan, make_handset_ids
from firmware_sim.iskipper import create_simulator
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import Air, RfConditions
from tests.conftest import service_settings
from tests.e2e.harness import Running, running

SPEED = 20.0
ROSTER = "id,name,segment,table,seat,organisation,handset\n"


def roster_csv(rows: list[tuple[str, str, str, str]]) -> str:
    return ROSTER + "".join(f"{p},,{s},{t},,,{h}\n" for p, s, t, h in rows)


def plan(presses: list[tuple[str, str]]) -> VotePlan:
    return VotePlan(
        ("A", "B"),
        2.0,
        tuple(PlannedPress(0.05 * i, h, k) for i, (h, k) in enumerate(presses)),
    )


async def journaled(svc: Running, handsets: list[str]) -> None:
    core = svc.service.core
    assert core is not None
    await svc.until(lambda: all(h in core.handsets for h in handsets), "every handset heard")
    await svc.until(
        lambda: sum(core.decisions.values()) == sum(h.presses for h in core.handsets.values()),
        "every press journaled",
    )


async def test_closed_results_stay_frozen_and_an_amendment_makes_revision_2(
    tmp_path: Path, broker: str
) -> None:
    h = make_handset_ids(10, "iclicker", seed=5)
    first_roster = [
        ("p1", "politicians", "1", h[0]),
        ("p2", "politicians", "1", h[1]),
        ("p3", "politicians", "1", h[2]),
        ("p4", "business", "2", h[3]),
        ("p5", "business", "2", h[4]),
        ("p6", "business", "2", h[5]),
        ("p7", "business", "2", ""),  # her handset h[6] was missed at registration
    ]
    async with PtyEndpoint() as endpoint:
        sim = create_simulator(endpoint, Air(RfConditions(loss=0.0), seed=3), speed=SPEED)
        playing = asyncio.create_task(sim.run(), name="sim")
        settings = service_settings(
            tmp_path,
            broker,
            event={"min_segment": 2},
            mqtt={"handsets_interval_ms": 50},
            receivers=[{"name": "rx1", "driver": "iskipper", "url": endpoint.url}],
        )
        try:
            async with running(settings) as svc:
                http = svc.http
                r = await http.put(
                    "/api/v1/participants",
                    content=roster_csv(first_roster),
                    headers={"content-type": "text/csv"},
                )
                assert r.status_code == 200, r.text
                question = {"kind": "single", "options": [{"key": "A"}, {"key": "B"}]}
                r = await http.post(
                    "/api/v1/rounds/q/open", json={"timer": False, "question": question}
                )
                assert r.status_code == 200, r.text
                keys = ["A", "A", "B", "B", "A", "B", "A"]  # p1..p6, and h[6] nobody holds
                sim.load(plan(list(zip(h[:7], keys, strict=True))))
                await journaled(svc, h[:7])
                # p6's keypad fails: a loaner, on which p6 changes to A.
                r = await http.post(
                    "/api/v1/pairing", json={"participant": "p6", "handset": h[7], "loaner": True}
                )
                assert r.status_code == 200, r.text
                sim.load(plan([(h[7], "A"), (h[5], "A")]))  # the old keypad is nobody's now
                await journaled(svc, h[:8])
                r = await http.post("/api/v1/rounds/q/close")
                assert r.status_code == 200, r.text
                await svc.until(lambda: svc.service.results("q") is not None, "results final")
                first = await http.get("/api/v1/rounds/q/results")
                doc = first.json()

                # After the close: the roster is uploaded again with other segments (and h[6]
                # paired to p7), and p1 gets another handset.
                relabelled = [(p, "organisations", "9", hs) for p, _, _, hs in first_roster]
                relabelled[6] = ("p7", "organisations", "9", h[6])
                r = await http.put(
                    "/api/v1/participants",
                    content=roster_csv(relabelled),
                    headers={"content-type": "text/csv"},
                )
                assert r.status_code == 200, r.text
                r = await http.post("/api/v1/pairing", json={"participant": "p1", "handset": h[9]})
                assert r.status_code == 200, r.text
                await asyncio.sleep(0)
                again = await http.get("/api/v1/rounds/q/results")
                csv_after = (await http.get("/api/v1/rounds/q/results.csv")).text
                votes_after = (await http.get("/api/v1/rounds/q/votes.csv")).text

                # The organiser corrects it: p7 held h[6] all through the round.
                opened, closed = doc["opened_at"], doc["closed_at"]
                bad = await http.post(
                    "/api/v1/rounds/q/amendments", json={"by": "chief technician"}
                )
                assert bad.status_code == 422
                unknown = await http.post(
                    "/api/v1/rounds/q/amendments",
                    json={
                        "by": "chief technician",
                        "reason": "typo",
                        "pairings": [{"handset": h[6], "participant": "p99", "start": opened}],
                    },
                )
                assert unknown.status_code == 422
                assert "p99" in unknown.json()["detail"]
                correction = {"handset": h[6], "participant": "p7", "start": opened}
                too_many = await http.post(
                    "/api/v1/rounds/q/amendments",
                    json={"by": "x", "reason": "y", "pairings": [correction] * 51},
                )
                assert too_many.status_code == 422
                assert "amendment_pairings_max" in too_many.json()["detail"]
                amendment = {
                    "by": "chief technician",
                    "reason": "p7 held her keypad all along; it was not paired at registration",
                    "pairings": [
                        {"handset": h[6], "participant": "p7", "start": opened - 1, "end": closed}
                    ],
                }
                amended = await http.post("/api/v1/rounds/q/amendments", json=amendment)
                assert amended.status_code == 201, amended.text
                latest = (await http.get("/api/v1/rounds/q/results")).json()
                revisions = (await http.get("/api/v1/rounds/q/revisions")).json()
                one = (await http.get("/api/v1/rounds/q/revisions/1")).json()
                retained = await svc.retained(
                    svc.service.topics.round_results("q"),
                    lambda d: d.get("round") == "q" and d["revision"] == 2,
                )
                trail = (await http.get("/api/v1/audit")).json()
                report = (await http.get("/api/v1/rounds/q/report.html")).text
                service: Service = svc.service
                assert service.kept is not None
                kept_pairing = service.kept.archive.pairing("q", 1)
        finally:
            playing.cancel()
            await asyncio.gather(playing, return_exceptions=True)

    # Live: one vote per person (p6's latest answer, on the loaner), h[6] held.
    assert doc["revision"] == 1
    assert doc["voters"] == 6
    assert doc["counts"] == {"A": 4, "B": 2}
    assert doc["held"] == 2  # h[6] before the amendment, and p6's old keypad after the swap
    assert set(doc["segments"]) == {"politicians", "business"}
    # Frozen: byte for byte the same after the roster upload and the re-pairing.
    assert again.content == first.content
    assert {r["revision"] for r in csv.DictReader(io.StringIO(csv_after))} == {"1"}
    votes = list(csv.DictReader(io.StringIO(votes_after)))
    # The swapped keypad's presses still name p6 (who held it then), the loaner's too.
    assert {v["participant"] for v in votes if v["handset"] in (h[5], h[7])} <= {"p6", ""}
    assert next(v for v in votes if v["handset"] == h[5])["participant"] == "p6"
    assert next(v for v in votes if v["handset"] == h[7])["participant"] == "p6"
    assert {p["handset"] for p in kept_pairing if p["participant"] == "p6"} == {h[5], h[7]}

    # Amended: revision 2, p7's vote counted, segments from the roster as it now stands.
    body = amended.json()
    assert body["revision"] == 2
    assert body["amendment"]["by"] == "chief technician"
    assert body["amendment"]["amends"] == 1
    assert body["voters"] == 7
    assert body["counts"] == {"A": 5, "B": 2}
    assert latest == body
    assert retained["revision"] == 2
    assert [d["revision"] for d in revisions] == [1, 2]
    assert one == doc

    # The audit trail has every action with its role; the report's appendix tells how the
    # result was produced.
    assert [(e["role"], e["action"]) for e in trail] == [
        ("technician", "roster upload"),
        ("host", "create"),
        ("host", "open"),
        ("technician", "pair"),
        ("host", "close"),
        ("technician", "roster upload"),
        ("technician", "pair"),
        ("organiser", "pairing corrected"),
        ("organiser", "amend"),
    ]
    assert trail[3]["params"] == {"participant": "p6", "handset": h[7], "loaner": True}
    assert trail[-1]["params"]["by"] == "chief technician"
    assert trail[-1]["round"] == "q"
    decisions = {v["decision"] for v in votes}
    assert 'id="appendix"' in report
    for decision in decisions:
        n = sum(v["decision"] == decision for v in votes)
        assert f'data-decision="{decision}" data-count="{n}"' in report
    assert "amended by chief technician" in report

    # After a restart the amendment still stands, on MQTT too. Only a broker that starts
    # empty (the embedded one) shows that the restarted service published it again; a
    # Mosquitto still holds the retained revision 2 from before.
    if broker == "embedded":
        async with running(settings.model_copy(update={"receivers": []})) as svc:
            tally = svc.service.tally
            assert tally is not None
            await svc.until(lambda: tally.results("q") is not None, "results final again")
            restarted = tally.results("q")
            republished = await svc.retained(
                svc.service.topics.round_results("q"), lambda d: d.get("round") == "q"
            )
        # The same document, but for the lease epoch of the tally that now publishes it.
        assert restarted is not None
        assert {k: v for k, v in restarted.items() if k != "epoch"} == {
            k: v for k, v in body.items() if k != "epoch"
        }
        assert republished["revision"] == 2, republished

    # Both revisions are exported.
    out = export_event(settings.journal.path, tmp_path / "export")
    exported = json.loads((out.folder / "results.json").read_text())
    assert exported["results"][0]["revision"] == 2
    assert [d["revision"] for d in exported["revisions"]["q"]] == [1, 2]
    assert exported["revisions"]["q"][0] == doc
    rows = list(csv.DictReader(io.StringIO((out.folder / "results.csv").read_text())))
    assert {r["revision"] for r in rows} == {"2"}
    audit = list(csv.DictReader(io.StringIO((out.folder / "audit.csv").read_text())))
    assert [a["action"] for a in audit] == [e["action"] for e in trail]
    assert "amended by chief technician" in (out.folder / "report.html").read_text()
    history = list(csv.DictReader(io.StringIO((out.folder / "pairings.csv").read_text())))
    assert any(r["handset"] == h[7] and r["loaner"] == "yes" for r in history)
    assert any(r["note"] == "amendment 2" for r in history)
