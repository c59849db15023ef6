"""Each serial receiver family, fed by its simulator over a real pty with RF loss and
retransmits, through the running service: the tally is what the simulated audience meant."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bridge.press.role import BridgeCore
from firmware_sim.audience import Audience, make_handset_ids
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import Air, RfConditions
from firmware_sim.registry import load_simulator
from tests.conftest import service_settings
from tests.e2e.harness import running

FAMILIES = ["iskipper", "turning", "beyondq", "arsrx"]
SPEED = 50.0


@pytest.mark.parametrize("family", FAMILIES)
async def test_a_simulated_audience_through_the_service(tmp_path: Path, family: str) -> None:
    module = load_simulator(family)
    ids = make_handset_ids(220, module.ID_FAMILY, seed=21)
    plan = Audience(ids, seed=21).plan("ABCDE", duration_s=30, change_rate=0.25, ping_rate=0.1)
    air = Air(
        # Handsets keep trying for a simulated minute: at 50 times real speed, the default
        # 8 s is 160 ms of a loaded machine, shorter than a slow acknowledgement.
        RfConditions(loss=0.15, give_up_s=60.0),
        seed=4,
        host_acks=module.HOST_ACKS,
        one_way=module.ONE_WAY,
        record=True,
    )
    async with PtyEndpoint() as endpoint:
        sim = module.create_simulator(endpoint, air, speed=SPEED)
        # The firmware runs from power-on: a two-way receiver answers the host's handshake
        # before any handset is heard.
        firmware = asyncio.create_task(sim.run(), name="firmware")
        settings = service_settings(
            tmp_path, "embedded", receivers=[{"name": "rx1", "driver": family, "url": endpoint.url}]
        )
        try:
            async with running(settings) as svc:
                core = svc.service.core
                assert core is not None
                await svc.until(lambda: core.status["rx1"].online, "receiver online")
                r = await svc.http.post(
                    "/api/v1/rounds/vote/open", json={"title": "Vote", "timer": False}
                )
                assert r.status_code == 200, r.text
                sim.load(plan)
                await svc.until(
                    lambda: air.done and presses(core) == air.heard_presses,
                    "every press heard was read",
                )
                await svc.until(
                    lambda: sum(core.decisions.values()) == air.heard_presses,
                    "every press journaled",
                )
                await svc.http.post("/api/v1/rounds/vote/close")
                await svc.until(lambda: svc.service.results("vote") is not None, "results")
                results = (await svc.http.get("/api/v1/rounds/vote/results")).json()
        finally:
            firmware.cancel()
            await asyncio.gather(firmware, return_exceptions=True)

    assert air.lost > 0, "the air lost packets"
    assert air.heard_presses > len(plan.presses), "handsets retransmitted"
    assert core.decisions["duplicate"] > 0
    if module.ONE_WAY:
        # Nothing tells a one-way handset that its press was lost: the service can count
        # only what the receiver heard, the last key heard from each handset.
        assert air.log is not None
        heard = {tx.handset: tx.key for tx in air.log if tx.key}
        assert results["voters"] == len(heard)
        assert results["counts"] == {k: sum(v == k for v in heard.values()) for k in "ABCDE"}
    else:
        assert results["voters"] == plan.voters
        assert results["counts"] == plan.expected()


def presses(core: BridgeCore) -> int:
    return sum(h.presses for h in core.handsets.values())
