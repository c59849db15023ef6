"""In one process the tally takes the bridge's records and handset changes directly and the
mirror takes the tally's snapshots directly: nothing of its own is decoded off the bus,
which still carries all of it for other processes."""

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


async def test_one_process_counts_without_decoding_its_own_messages(
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
            async with aiomqtt.Client(host, port, identifier=f"observer-{base}") as observer:
                await observer.subscribe(f"{base}/rx/rx1/votes", qos=1)
                r = await svc.http.post("/api/v1/rounds/q/open", json={"timer": False})
                assert r.status_code == 200
                await endpoint.send(b"".join(encode_capture(h, "B") for h in handsets))
                on_bus = 0
                async with asyncio.timeout(WAIT_S):
                    async for message in observer.messages:
                        if not message.topic.matches(f"{base}/rx/rx1/votes"):
                            continue  # amqtt also replays other retained topics
                        on_bus += len(json.loads(message.payload)["presses"])  # type: ignore[arg-type]
                        if on_bus == len(handsets):
                            break

            def shown() -> int:
                doc = service.mirror.latest.get("round/q/tally") or {}
                return int(doc.get("voters", 0))

            await svc.until(lambda: shown() == len(handsets), "the mirror shows every voter")
            # The handset table reached the tally directly (and is not streamed to browsers).
            await svc.until(lambda: tally.heard >= set(handsets), "the tally heard them all")
            assert not any(topic.endswith("/handsets") for topic in service.mirror.latest)
            # Every batch went over the bus, and the tally decoded none of them.
            assert publisher.batches >= 1
            assert tally.batches == 0
            assert tally.bad_batches == 0
