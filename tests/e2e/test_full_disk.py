"""A journal whose disk fills mid-round, then gets space again: nothing is acknowledged that is
not durable, the service says it is failing, and once space returns every press counts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from drivers.arsrx.spec import RxState
from firmware_sim.arsrx import ArsRxSimulator
from firmware_sim.audience import Audience, make_handset_ids
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import AckReason, Air, RfConditions
from tests.conftest import service_settings
from tests.disks import fill, small_disk
from tests.e2e.harness import running

SPEED = 10.0  # simulated seconds per wall-clock second
ROUND = "full-disk"


async def test_a_full_journal_disk_mid_round_loses_nothing(tmp_path: Path) -> None:
    handsets = make_handset_ids(220, "arsrx", seed=31)
    plan = Audience(handsets, seed=32).plan("ABCDE", duration_s=20.0, change_rate=0.25)
    with small_disk(tmp_path / "disk", 16) as disk:
        async with PtyEndpoint() as endpoint:
            # Handsets keep trying for a minute, as long as the disk stays full here.
            air = Air(RfConditions(loss=0.1, give_up_s=60.0), seed=33, host_acks=True)
            sim = ArsRxSimulator(endpoint, air, speed=SPEED)
            playing = asyncio.create_task(sim.run(), name="sim-arsrx")
            receiver = {"name": "rx1", "driver": "arsrx", "url": endpoint.url}
            settings = service_settings(
                tmp_path,
                receivers=[receiver],
                journal={"path": disk / "journal.sqlite3", "retry_ms": 50, "min_free_mb": 1},
            )
            try:
                async with running(settings) as svc:
                    core, journal = svc.service.core, svc.service.journal
                    assert core is not None
                    assert journal is not None
                    await svc.until(lambda: sim.state is RxState.IDLE, "handshake done")
                    r = await svc.http.post(
                        f"/api/v1/rounds/{ROUND}/open", json={"title": "A vote", "timer": False}
                    )
                    assert r.status_code == 200, r.text
                    await svc.until(lambda: sim.state is RxState.POLLING, "poll open")
                    sim.load(plan)
                    await svc.until(lambda: journal.commits > 5, "the first presses journaled")

                    ballast = fill(disk)
                    await svc.until(lambda: journal.health.failed, "the journal failing")
                    health = (await svc.http.get("/api/v1/health")).json()
                    assert health["status"] == "critical"
                    assert health["journal"]["state"] == "failed"
                    state = await svc.retained(
                        f"{settings.mqtt.base}/bridge/{settings.bridge_id}/state",
                        lambda doc: doc.get("journal") == "failed",
                        role="integration",  # the users that read bridges' states
                    )
                    assert state["state"] == "online"
                    await svc.until(lambda: journal.pending > 0, "presses held")
                    acknowledged = sum(core.decisions.values())
                    first_held = journal.pending
                    await svc.until(
                        lambda: journal.pending > first_held + 20, "more presses while full"
                    )
                    held = journal.pending
                    assert sum(core.decisions.values()) == acknowledged, "nothing acknowledged"

                    ballast.unlink()
                    await svc.until(lambda: not journal.health.failed, "the journal writing again")
                    await svc.until(
                        lambda: (
                            air.done
                            and all(
                                air.outcome(h)[-1:] == [AckReason.ACCEPTED] for h in plan.answers()
                            )
                        ),
                        "every voter's last press answered ACCEPTED",
                    )
                    health = (await svc.http.get("/api/v1/health")).json()
                    assert health["journal"]["state"] in {"ok", "low_space"}
                    await svc.http.post(f"/api/v1/rounds/{ROUND}/close")
                    await svc.until(lambda: svc.service.results(ROUND) is not None, "results")
                    results = (await svc.http.get(f"/api/v1/rounds/{ROUND}/results")).json()
                    decisions = dict(core.decisions)
                    failures = journal.failures
                    publisher = svc.service.publisher
                    assert publisher is not None
                    published, resent = publisher.sent, publisher.resends
            finally:
                playing.cancel()
                await asyncio.gather(playing, return_exceptions=True)

    print(
        f"journaled {sum(decisions.values())}, published {published}, resent {resent} times, "
        f"held while full {held}, failed writes "
        f"{failures}, duplicates {decisions.get('duplicate', 0)}, counted "
        f"{decisions.get('counted', 0)} + changed {decisions.get('changed', 0)}"
    )
    assert failures > 0
    assert results["voters"] == plan.voters
    assert results["counts"] == plan.expected()
