"""Faults through the running service: a jamming handset while an ARS-RX receiver reports a
carrier error, a receiver hearing damaged frames, and a paired handset never heard, as the
technician sees them in /api/v1/handsets, /api/v1/receivers, /health, /metrics and MQTT."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drivers.arsrx.spec import ErrorCode, RxState
from firmware_sim.arsrx import ArsRxSimulator
from firmware_sim.audience import Audience, make_handset_ids
from firmware_sim.iskipper import create_simulator as iskipper_simulator
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import Air, RfConditions
from tests.conftest import service_settings
from tests.e2e.harness import running

SPEED = 10.0


async def test_a_jammer_during_a_carrier_error_is_flagged_everywhere(
    tmp_path: Path, broker: str
) -> None:
    handsets = make_handset_ids(12, "arsrx", seed=31)
    jammer, silent = handsets[0], handsets[11]
    roster = "id,table,handset\n" + "".join(
        f"p{i},{i // 6 + 1},{h}\n" for i, h in enumerate(handsets)
    )
    async with PtyEndpoint() as endpoint:
        air = Air(RfConditions(loss=0.05), seed=32, host_acks=True)
        sim = ArsRxSimulator(endpoint, air, speed=SPEED)
        playing = asyncio.create_task(sim.run(), name="sim-arsrx")
        receiver = {"name": "rx1", "driver": "arsrx", "url": endpoint.url}
        settings = service_settings(
            tmp_path,
            broker,
            receivers=[receiver],
            mqtt={"handsets_interval_ms": 50, "handsets_whole_interval_ms": 50},
        )
        try:
            async with running(settings) as svc:
                http = svc.http
                r = await http.put(
                    "/api/v1/participants", content=roster, headers={"content-type": "text/csv"}
                )
                assert r.status_code == 200, r.text
                await svc.until(lambda: sim.state is RxState.IDLE, "handshake done")
                core = svc.service.core
                assert core is not None
                air.jam(jammer, "C", at=air.now + 0.2)
                sim.load(Audience(handsets[1:11], seed=33).plan("ABCD", duration_s=4))
                await svc.until(
                    lambda: jammer in core.handsets and core.handsets[jammer].presses >= 10,
                    "the jammer heard",
                )
                await endpoint.send(sim.report_error(ErrorCode.CARRIER, "ch 41 busy"))
                await svc.until(
                    lambda: (
                        {f["kind"] for f in core.watch.flags_of(jammer)} == {"stuck", "jamming"}
                    ),
                    "the jammer flagged jamming, and stuck once it has sent over 20 frames",
                )
                jamming = (await http.get("/api/v1/handsets", params={"flag": "jamming"})).json()
                board = (await http.get("/api/v1/handsets")).json()
                by_text = (await http.get("/api/v1/handsets", params={"q": "P11"})).json()
                elsewhere = await http.get("/api/v1/handsets", params={"receiver": "rx9"})
                bogus = await http.get("/api/v1/handsets", params={"flag": "haunted"})
                receivers = (await http.get("/api/v1/receivers")).json()
                health = (await http.get("/api/v1/health")).json()
                metrics = (await http.get("/metrics")).text
                published = await svc.retained(
                    f"{settings.mqtt.base}/bridge/{settings.bridge_id}/handsets",
                    lambda doc: len(doc.get("handsets", {}).get(jammer, {}).get("flags", [])) == 2,
                    role="api",  # the host's user reads the handset tables
                )
        finally:
            playing.cancel()
            await asyncio.gather(playing, return_exceptions=True)

    assert [row["handset"] for row in jamming] == [jammer]
    kinds = {f["kind"] for f in jamming[0]["flags"]}
    assert kinds == {"stuck", "jamming"}
    # Flagged handsets come first: the jammer and the paired handset never heard.
    assert {board[0]["handset"], board[1]["handset"]} == {jammer, silent}
    assert not board[2]["flags"]
    assert [row["handset"] for row in by_text] == [silent]
    assert elsewhere.json() == []
    assert bogus.status_code == 422
    assert "flag must be one of" in bogus.json()["detail"]
    silent_row = next(row for row in board if row["handset"] == silent)
    assert silent_row["flags"][0]["kind"] == "silent"
    assert silent_row["participant"] == "p11"
    assert receivers["rx1"]["last_error"] == "CARRIER: ch 41 busy"
    assert [f["kind"] for f in receivers["rx1"]["flags"]] == ["errors"]
    assert health["flags"]["receivers"]["rx1"][0]["reason"] == "CARRIER: ch 41 busy"
    assert health["receivers"]["rx1"]["stats"]["errors"] == 1
    assert 'arsbridge_flags{kind="jamming",scope="handset"} 1.0' in metrics
    assert 'arsbridge_flags{kind="errors",scope="receiver"} 1.0' in metrics
    assert {f["kind"] for f in published["handsets"][jammer]["flags"]} == {"stuck", "jamming"}
    assert published["receivers"]["rx1"][0]["kind"] == "errors"


@pytest.mark.parametrize("broker", ["embedded"])
async def test_a_receiver_with_a_backlog_is_flagged(tmp_path: Path, broker: str) -> None:
    async with PtyEndpoint() as endpoint:
        air = Air(RfConditions(), seed=37, host_acks=True)
        sim = ArsRxSimulator(endpoint, air, speed=SPEED, status_period_s=0.05)
        playing = asyncio.create_task(sim.run(), name="sim-arsrx")
        receiver = {"name": "rx1", "driver": "arsrx", "url": endpoint.url}
        settings = service_settings(
            tmp_path,
            broker,
            receivers=[receiver],
            mqtt={"handsets_interval_ms": 50, "handsets_whole_interval_ms": 50},
        )
        try:
            async with running(settings) as svc:
                core = svc.service.core
                assert core is not None
                await svc.until(lambda: sim.state is RxState.IDLE, "handshake done")
                await svc.until(
                    lambda: "rx_queue_depth" in core.receivers["rx1"].stats.extra, "a STATUS read"
                )
                assert "rx1" not in core.watch.receivers
                sim.queue_depth = 40  # the host link stalls; events pile up in the receiver
                await svc.until(lambda: "rx1" in core.watch.receivers, "the receiver flagged")
                flags = (await http_get(svc, "/api/v1/receivers"))["rx1"]["flags"]
        finally:
            playing.cancel()
            await asyncio.gather(playing, return_exceptions=True)
    assert flags == [{**flags[0], "kind": "backlog", "reason": "40 events queued for the host"}]


@pytest.mark.parametrize("broker", ["embedded"])
async def test_damaged_frames_flag_the_receiver_and_idle_chatter_does_not(
    tmp_path: Path, broker: str
) -> None:
    handsets = make_handset_ids(20, "iclicker", seed=34)
    async with PtyEndpoint() as endpoint:
        air = Air(RfConditions(loss=0.1), seed=35)
        sim = iskipper_simulator(endpoint, air, speed=SPEED)  # a debug line per capture
        playing = asyncio.create_task(sim.run(), name="sim-iskipper")
        receiver = {"name": "rx1", "driver": "iskipper", "url": endpoint.url}
        settings = service_settings(
            tmp_path,
            broker,
            receivers=[receiver],
            mqtt={"handsets_interval_ms": 50, "handsets_whole_interval_ms": 50},
        )
        try:
            async with running(settings) as svc:
                core = svc.service.core
                assert core is not None
                sim.load(Audience(handsets, seed=36).plan("ABCD", duration_s=3))
                await svc.until(lambda: len(core.handsets) >= 15, "the audience heard")
                healthy = (await http_get(svc, "/api/v1/receivers"))["rx1"]
                # Interference: captures whose check byte is wrong.
                await endpoint.send(b"Captured: A (42, 80, 71, B4)\r\n" * 30)
                await svc.until(lambda: "rx1" in core.watch.receivers, "the receiver flagged")
                damaged = (await http_get(svc, "/api/v1/receivers"))["rx1"]
        finally:
            playing.cancel()
            await asyncio.gather(playing, return_exceptions=True)

    assert healthy["counters"]["chatter"] > healthy["counters"]["frames"] / 2  # idle lines
    assert healthy["counters"]["damaged"] == 0
    assert healthy["flags"] == []
    assert damaged["counters"]["damaged"] == 30
    assert [f["kind"] for f in damaged["flags"]] == ["bad_frames"]


async def http_get(svc: object, path: str) -> dict[str, dict[str, object]]:
    from tests.e2e.harness import Running

    assert isinstance(svc, Running)
    body: dict[str, dict[str, object]] = (await svc.http.get(path)).json()
    return body
