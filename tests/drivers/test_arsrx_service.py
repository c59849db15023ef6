"""ARS-RX through the running service: the bridge journals each press and answers it over
the protocol, so handsets stop retransmitting only because the service acknowledged them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from drivers.arsrx.spec import RxState
from firmware_sim.arsrx import ArsRxSimulator
from firmware_sim.audience import Audience, PlannedPress, VotePlan, make_handset_ids
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import AckReason, Air, RfConditions
from tests.conftest import service_settings
from tests.e2e.harness import running

SPEED = 10.0  # simulated seconds per wall-clock second
ROUND = "ars-1"


async def test_the_service_answers_every_press_and_counts_the_intended_tally(
    tmp_path: Path,
) -> None:
    handsets = make_handset_ids(220, "arsrx", seed=21)
    plan = Audience(handsets, seed=22).plan("ABCDE", duration_s=20.0, change_rate=0.25)
    late = handsets[0]
    async with PtyEndpoint() as endpoint:
        air = Air(RfConditions(loss=0.15), seed=23, host_acks=True)
        sim = ArsRxSimulator(endpoint, air, speed=SPEED)
        playing = asyncio.create_task(sim.run(), name="sim-arsrx")
        receiver = {"name": "rx1", "driver": "arsrx", "url": endpoint.url, "channel": "41"}
        settings = service_settings(tmp_path, receivers=[receiver])
        try:
            async with running(settings) as svc:
                await svc.until(lambda: sim.state is RxState.IDLE, "handshake done")
                r = await svc.http.post(
                    f"/api/v1/rounds/{ROUND}/open", json={"title": "Ring road?", "timer": False}
                )
                assert r.status_code == 200, r.text
                await svc.until(lambda: sim.state is RxState.POLLING, "POLL_OPEN sent")
                sim.load(plan)
                await svc.until(
                    lambda: (
                        air.done
                        and all(air.outcome(h)[-1:] == [AckReason.ACCEPTED] for h in plan.answers())
                    ),
                    "every press made, and every voter's last one answered ACCEPTED",
                )
                r = await svc.http.post(f"/api/v1/rounds/{ROUND}/close")
                assert r.json()["status"] == "closed"
                await svc.until(lambda: sim.state is RxState.IDLE, "POLL_CLOSE sent")
                await svc.until(lambda: svc.service.results(ROUND) is not None, "results")
                results = (await svc.http.get(f"/api/v1/rounds/{ROUND}/results")).json()
                answered = len(air.outcome(late))
                sim.load(VotePlan(("B",), 1.0, (PlannedPress(0.5, late, "B"),)))
                await svc.until(
                    lambda: len(air.outcome(late)) > answered, "the late press answered"
                )
                stats = svc.service.core.receivers["rx1"].stats if svc.service.core else None
        finally:
            playing.cancel()
            await asyncio.gather(playing, return_exceptions=True)

    assert results["counts"] == plan.expected()
    assert results["voters"] == plan.voters
    assert air.outcome(late)[-1] is AckReason.CLOSED  # after the close, the handset shows it
    assert air.sent > len(plan.presses)  # loss made handsets send again
    assert stats is not None
    assert stats.presses > len(plan.presses)  # retransmissions reached the service
