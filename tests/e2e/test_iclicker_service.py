"""An i>clicker base on (emulated) USB under the running service: 500 remotes, and a base
unplugged and plugged back in mid-round, with the availability topic telling the truth."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import aiomqtt
import pytest

from bridge.press.role import BridgeCore
from drivers.iclicker import IClickerReceiver, Pacing
from drivers.iclicker.codec import Generation
from firmware_sim.audience import Audience, make_handset_ids
from firmware_sim.iclicker_base import EmulatedBase
from firmware_sim.iclicker_usb import EmulatedUsbBackend
from firmware_sim.radio import Air, RfConditions
from tests.conftest import service_settings
from tests.e2e.harness import Running, running

FAST = Pacing(
    config_gap_s=0,
    ack_timeout_s=2.0,
    lcd_gap_s=0,
    lcd_refresh_s=0.005,
    pull_interval_s=0.005,
    read_timeout_ms=5,
)
SPEED = 30.0  # the 60-second round plays in two seconds


async def watch_availability(svc: Running, into: list[str]) -> None:
    host, port = svc.broker
    topic = svc.service.topics.rx_availability("rx1")
    login = svc.login("integration")
    async with aiomqtt.Client(host, port, identifier="availability-watch", **login) as client:
        await client.subscribe(topic, qos=1)
        async for message in client.messages:
            state = json.loads(message.payload)["state"]  # type: ignore[arg-type]
            if not into or into[-1] != state:
                into.append(state)


def presses(core: BridgeCore) -> int:
    return sum(h.presses for h in core.handsets.values())


@pytest.mark.parametrize("generation", [Generation.V2, Generation.V1])
async def test_an_unplugged_base_comes_back_and_nothing_it_reported_is_lost(
    tmp_path: Path,
    broker: str,
    generation: Generation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bridge.press.role")
    backend = EmulatedUsbBackend()
    base = EmulatedBase(
        generation, air=Air(RfConditions(loss=0.05), seed=3, host_acks=True), speed=SPEED, seed=3
    )
    device = backend.plug(base)
    plan = Audience(make_handset_ids(500, "iclicker", seed=1), seed=2).plan(
        "ABCDE", duration_s=60.0, change_rate=0.3
    )
    base.load(plan)
    rx = IClickerReceiver("rx1", f"usb:1-{device.port}", backend=backend, pacing=FAST)
    settings = service_settings(tmp_path, broker)
    states: list[str] = []
    async with running(settings, receivers=[rx]) as svc:
        core = svc.service.core
        journal = svc.service.journal
        assert core is not None
        assert journal is not None
        watcher = asyncio.create_task(watch_availability(svc, states))
        try:
            await svc.until(lambda: core.status["rx1"].online, "base online")
            await svc.until(lambda: states[-1:] == ["online"], "availability online")
            before = len(states) - 1  # a watcher may see the retained "offline" of the start
            r = await svc.http.post(
                "/api/v1/rounds/summit/open", json={"title": "Summit", "timer": False}
            )
            assert r.status_code == 200
            await svc.until(lambda: presses(core) >= 150, "votes arriving")
            device.unplug()
            reported = list(base.delivered)  # what the host had read from the base
            await svc.until(lambda: not core.status["rx1"].online, "base offline")
            await svc.until(lambda: states[-1] == "offline", "availability offline")
            device.replug()
            await svc.until(lambda: core.status["rx1"].online, "base back")
            await svc.until(lambda: states[-1] == "online", "availability online again")
            await svc.until(lambda: base.drained, "the round played out")
            await svc.until(lambda: sum(core.decisions.values()) == presses(core), "journaled")
            await svc.delivered()
            await svc.http.post("/api/v1/rounds/summit/close")
            await svc.until(lambda: svc.service.results("summit") is not None, "results")
            results = (await svc.http.get("/api/v1/rounds/summit/results")).json()
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        await journal.flush()
        records = list(journal.records(round_id="summit"))

    assert states[before:] == ["online", "offline", "online"]
    # The technician reads in the log that the base went and that it came back.
    said = [r.getMessage() for r in caplog.records if r.name == "bridge.press.role"]
    assert any(m.startswith("receiver rx1: ") and "retrying" in m for m in said), said
    assert any(m.startswith("receiver rx1: back online after ") for m in said), said
    assert len(reported) >= 150
    assert {(r.handset, r.key) for r in reported} <= {(r.handset, r.key) for r in records}
    # After the replug, too, everything the base handed out reached the journal. (Remotes
    # pressed while the base was gone gave up unacknowledged, as real ones do.)
    assert {(r.handset, r.key) for r in base.delivered} <= {(r.handset, r.key) for r in records}
    final = {r.handset: r.answer for r in records if r.decision.value in ("counted", "changed")}
    # The newest response of each handset the host read: not simply the last one it read, as
    # a base re-sends earlier responses (and the driver rightly drops one older than a
    # response it passed).
    assert len(base.delivered_numbers) == len(base.delivered)
    assert 0 not in base.delivered_numbers  # every one the base handed out, it had logged
    newest: dict[str, tuple[int, str]] = {}
    for r, number in zip(base.delivered, base.delivered_numbers, strict=True):
        if number > newest.get(r.handset, (0, ""))[0]:
            newest[r.handset] = (number, r.key)
    last_delivered = {h: key for h, (_, key) in newest.items()}
    wrong = {
        h for h in final.keys() | last_delivered.keys() if final.get(h) != last_delivered.get(h)
    }
    assert final == last_delivered, {
        h: {
            "journal": [(r.id, r.key, r.decision.value) for r in records if r.handset == h],
            "delivered": [
                (r.key, r.index, n)
                for r, n in zip(base.delivered, base.delivered_numbers, strict=True)
                if r.handset == h
            ],
            "reported before the unplug": [r.key for r in reported if r.handset == h],
            "lost with the power": [r.key for r in base.lost_at_power_off if r.handset == h],
        }
        for h in sorted(wrong)
    }
    assert results["voters"] == len(final)
    assert results["counts"] == {k: sum(a == k for a in final.values()) for k in "ABCDE"}
    # What the base still held when its power went (a v1 base's unread votes; a v2 base's
    # reports the host had not read yet) is lost with it, as with a real base: only a
    # response the host read counts, and every one it read is in the journal (above).
