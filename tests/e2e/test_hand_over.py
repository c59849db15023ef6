"""In one process the tally takes the bridge's records as the journal commits them and the
mirror takes the tally's snapshots as they are published; the bus still carries the vote
batches, as acknowledged cycles, for other processes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiomqtt

from drivers.iskipper.codec import encode_capture
from firmware_sim.audience import make_handset_ids
from firmware_sim.link import PtyEndpoint
from tests.conftest import service_settings
from tests.e2e.harness import WAIT_S, running


async def test_one_process_counts_at_commit_and_the_bus_carries_the_batches(
    tmp_path: Path, broker: str
) -> None:
    handsets = make_handset_ids(40, "iclicker", seed=5)[::2]  # no two alternate forms
    async with PtyEndpoint() as endpoint:
        settings = service_settings(
            tmp_path,
            broker,
            receivers=[{"name": "rx1", "driver": "iskipper", "url": endpoint.url}],
            mqtt={"handsets_interval_ms": 50},
        )
        async with running(settings) as svc:
            service = svc.service
            core, tally, publisher = service.core, service.tally, service.publisher
            assert core is not None
            assert tally is not None
            assert publisher is not None
            await svc.until(lambda: core.status["rx1"].online, "receiver online")
            host, port = svc.broker
            base = settings.mqtt.base
            login = svc.login("tally")
            async with aiomqtt.Client(
                host, port, identifier=f"observer-{base}", **login
            ) as observer:
                await observer.subscribe(f"{base}/rx/rx1/votes", qos=1)
                r = await svc.http.post(
                    "/api/v1/rounds/q/open", json={"title": "Q", "timer": False}
                )
                assert r.status_code == 200
                await endpoint.send(b"".join(encode_capture(h, "B") for h in handsets))
                on_bus = 0
                async with asyncio.timeout(WAIT_S):
                    async for message in observer.messages:
                        if not message.topic.matches(f"{base}/rx/rx1/votes"):
                            continue
                        batch = json.loads(message.payload)  # type: ignore[arg-type]
                        lo, hi = batch["cover"]
                        assert 1 <= batch["part"] <= batch["parts"]
                        assert all(lo < p["id"] <= hi for p in batch["presses"])
                        on_bus += len(batch["presses"])
                        if on_bus >= len(handsets):
                            break

            def shown() -> int:
                doc = service.mirror.latest.get("round/q/tally") or {}
                return int(doc.get("voters", 0))

            await svc.until(lambda: shown() == len(handsets), "the mirror shows every voter")
            await svc.until(lambda: tally.heard >= set(handsets), "the tally heard them all")
            # Counted once, however the records came (at commit, and echoed off the bus).
            assert tally.tallies["q"].snapshot()["voters"] == len(handsets)
            assert tally.bad_batches == 0
            await svc.delivered()
