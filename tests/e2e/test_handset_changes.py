"""Handset tables as changes: a bridge publishes the handsets heard since its last message on
``.../handsets/changes`` and its whole table, retained, only now and then; a service merges
another bridge's tables and changes into ``GET /api/v1/handsets``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt

from drivers.iskipper.codec import encode_capture
from firmware_sim.audience import make_handset_ids
from firmware_sim.link import PtyEndpoint
from tests.conftest import service_settings
from tests.e2e.harness import WAIT_S, running


async def test_changes_carry_only_what_was_heard_since(tmp_path: Path, broker: str) -> None:
    first, later = make_handset_ids(20, "iclicker", seed=9)[::2][:2], []
    later = make_handset_ids(20, "iclicker", seed=9)[1::2][:1]
    async with PtyEndpoint() as endpoint:
        settings = service_settings(
            tmp_path,
            broker,
            receivers=[{"name": "rx1", "driver": "iskipper", "url": endpoint.url}],
            mqtt={"handsets_interval_ms": 50, "handsets_full_interval_ms": 600_000},
        )
        base, bridge = settings.mqtt.base, settings.bridge_id
        async with running(settings) as svc:
            core = svc.service.core
            assert core is not None
            await svc.until(lambda: core.status["rx1"].online, "receiver online")
            host, port = svc.broker
            seen: list[tuple[str, dict[str, Any]]] = []
            async with aiomqtt.Client(host, port, identifier=f"watch-{base}") as watcher:
                await watcher.subscribe(f"{base}/bridge/{bridge}/handsets", qos=1)
                await watcher.subscribe(f"{base}/bridge/{bridge}/handsets/changes", qos=1)

                async def watch() -> None:
                    async for message in watcher.messages:
                        if not str(message.topic).startswith(f"{base}/bridge/{bridge}/handsets"):
                            continue  # amqtt also replays other retained topics
                        doc = json.loads(message.payload)  # type: ignore[arg-type]
                        seen.append((str(message.topic).rsplit("/", 1)[-1], doc["handsets"]))

                task = asyncio.create_task(watch())
                try:
                    await endpoint.send(b"".join(encode_capture(h, "A") for h in first))
                    await svc.until(lambda: set(core.handsets) >= set(first), "first heard")
                    # The retained whole table (the session's first) has them, or a change does.
                    await svc.until(
                        lambda: set(first) <= {h for _, t in seen for h in t}, "first published"
                    )
                    mark = len(seen)
                    await endpoint.send(encode_capture(later[0], "B"))
                    await svc.until(
                        lambda: any(later[0] in t for _, t in seen[mark:]), "the change"
                    )
                finally:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
    kinds = [kind for kind, _ in seen]
    assert kinds[0] == "handsets"  # the whole table first, retained
    change = next(t for kind, t in seen[mark:] if later[0] in t)
    assert set(change) == {later[0]}  # only what was heard since
    assert change[later[0]]["presses"] == 1


async def test_another_bridges_table_and_changes_are_merged(tmp_path: Path, broker: str) -> None:
    settings = service_settings(tmp_path, broker)
    base = settings.mqtt.base
    a, b, c = make_handset_ids(6, "iclicker", seed=3)[::2]
    row = {"rx": "rxB", "last": 1.0, "presses": 1, "rssi": None, "bat": None}
    async with running(settings) as svc:
        host, port = svc.broker
        async with aiomqtt.Client(host, port, identifier=f"bridge2-{base}") as other:
            table = {"bridge": "bridge2", "t": 1.0, "handsets": {a: row, b: row}}
            await other.publish(f"{base}/bridge/bridge2/handsets", json.dumps(table), 1, True)
            changed = {"bridge": "bridge2", "t": 2.0, "handsets": {b: {**row, "presses": 2}}}
            await other.publish(f"{base}/bridge/bridge2/handsets/changes", json.dumps(changed), 1)
            added = {"bridge": "bridge2", "t": 3.0, "handsets": {c: row}}
            await other.publish(f"{base}/bridge/bridge2/handsets/changes", json.dumps(added), 1)
            await other.publish(f"{base}/bridge/bridge2/handsets/changes", b"[1, 2]", 1)

            async def rows() -> dict[str, Any]:
                body = (await svc.http.get("/api/v1/handsets")).json()
                return {r["handset"]: r for r in body}

            async with asyncio.timeout(WAIT_S):
                while set(await rows()) != {a, b, c}:  # noqa: ASYNC110 - polling HTTP
                    await asyncio.sleep(0.02)
            assert (await rows())[b]["presses"] == 2
