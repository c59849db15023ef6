"""Messages forged on the bus while a simulated audience votes: every one is dropped, counted
and named, and the results are what the audience voted."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from bridge.mqtt.broker import find_mosquitto
from bridge.reports.export import export_event
from firmware_sim.audience import Audience, make_handset_ids
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import Air, RfConditions
from firmware_sim.registry import load_simulator
from tests.conftest import service_settings
from tests.e2e.harness import Running, running

SPEED = 50.0
TOKEN = "host-token-of-the-test"
# Why each forgery is dropped when the broker lets it through.
DROPPED = {
    "unknown receiver",  # 50 presses on rx/evil/votes in the name of bridge1
    "not sent by this bridge",  # a huge record id in the name of bridge1, on its receiver
    "unknown bridge",  # a bridge that is not in bus.bridges (a batch, a handset table)
    "not published by its owner",  # the retained round state and results
    "request without the token",  # close over MQTT
    "malformed",  # a handset table's change message that is not one
    "too large",  # a retained message over bus.max_state_bytes
}


def _batch(bridge: str, receiver: str, first_id: int, n: int, round_id: str) -> bytes:
    presses = [
        {
            "id": first_id + i,
            "t": time.time(),
            "hs": f"{0xA00000 + i:06X}",
            "k": "E",
            "a": "E",
            "r": round_id,
            "d": "counted",
        }
        for i in range(n)
    ]
    doc = {
        "bridge": bridge,
        "receiver": receiver,
        "boot": time.time(),
        "batch": 1,
        "dup": 0,
        "presses": presses,
    }
    return json.dumps(doc).encode()


async def _forge(svc: Running, base: str, round_id: str) -> int:
    """Publish the forgeries, anonymously and as a display; how many the broker let in."""
    host, port = svc.broker
    forged_state: dict[str, Any] = {"round": round_id, "status": "closed", "revision": 1_000_000}
    forged_results = {"round": round_id, "voters": 9999, "counts": {"A": 9999}, "hidden": False}
    messages = [
        (f"{base}/rx/evil/votes", _batch("bridge1", "evil", 1, 50, round_id), False),
        (f"{base}/rx/rx1/votes", _batch("bridge1", "rx1", 10**15, 1, round_id), False),
        (f"{base}/rx/rx1/votes", _batch("intruder", "rx1", 1, 5, round_id), False),
        (f"{base}/round/{round_id}/state", json.dumps(forged_state).encode(), True),
        (f"{base}/round/{round_id}/results", json.dumps(forged_results).encode(), True),
        (f"{base}/bridge/bridge1/request/close", json.dumps({"round": round_id}).encode(), False),
        # Handsets in this bridge's name, and a change message of another that is not one.
        (f"{base}/bridge/bridge1/handset_changes", b'{"seq": 99, "handsets": {"B0B": {}}}', False),
        (f"{base}/bridge/bridge2/handset_changes", b'{"seq": 1, "handsets": {"B0B": 7}}', False),
        (f"{base}/bridge/bridge3/handsets", b'{"handsets": {"B0C": {"last": 1.0}}}', True),
        # Over bus.max_state_bytes (64 KiB here): dropped unread.
        (f"{base}/rx/rx9/availability", b'{"pad": "' + b"x" * 70_000 + b'"}', True),
    ]
    let_in = 0
    for name, login in (("anonymous", {}), ("display", svc.login("display"))):
        try:
            async with aiomqtt.Client(host, port, identifier=f"forger-{name}", **login) as forger:
                for topic, payload, retain in messages:
                    await forger.publish(topic, payload, qos=1, retain=retain)
            let_in += 1
        except aiomqtt.MqttError:
            pass  # the broker refused the client
    return let_in


@pytest.fixture(params=["embedded-mosquitto", "embedded-amqtt", "shared-anonymous"])
def bus(request: pytest.FixtureRequest) -> str:
    """The embedded broker with role ACLs (either server), and a shared broker that lets
    anyone in and publish anything (the service's own checks are all that stand)."""
    if request.param == "shared-anonymous":
        request.applymarker(pytest.mark.mosquitto)
    elif request.param == "embedded-mosquitto" and find_mosquitto() is None:
        pytest.skip("needs the mosquitto binary")
    return str(request.param)


async def test_forgeries_are_dropped_and_the_results_are_the_audiences(
    tmp_path: Path, bus: str, mosquitto_url: str
) -> None:
    shared_broker = mosquitto_url
    module = load_simulator("arsrx")
    ids = make_handset_ids(220, module.ID_FAMILY, seed=13)
    plan = Audience(ids, seed=13).plan("ABCDE", duration_s=20, change_rate=0.25)
    air = Air(RfConditions(loss=0.1), seed=5, host_acks=module.HOST_ACKS, one_way=module.ONE_WAY)
    async with PtyEndpoint() as endpoint:
        sim = module.create_simulator(endpoint, air, speed=SPEED)
        firmware = asyncio.create_task(sim.run(), name="firmware")
        settings = service_settings(
            tmp_path,
            shared_broker if bus == "shared-anonymous" else "embedded",
            receivers=[{"name": "rx1", "driver": "arsrx", "url": endpoint.url}],
            api={"token": TOKEN},
            bus={"max_state_bytes": 65536},
        )
        if bus != "shared-anonymous":
            server = bus.removeprefix("embedded-")
            broker = settings.broker.model_copy(update={"server": server})
            settings = settings.model_copy(update={"broker": broker})
        base = settings.mqtt.base
        try:
            async with running(settings) as svc:
                svc.http.headers["Authorization"] = f"Bearer {TOKEN}"
                core, guard = svc.service.core, svc.service.guard
                assert core is not None
                await svc.until(lambda: core.status["rx1"].online, "receiver online")
                r = await svc.http.post(
                    "/api/v1/rounds/vote/open", json={"title": "A vote", "timer": False}
                )
                assert r.status_code == 200, r.text
                sim.load(plan)
                let_in = await _forge(svc, base, "vote")
                if bus == "shared-anonymous":
                    assert let_in == 2
                    # Three forged batches, state, results and a request: dropped and named.
                    await svc.until(lambda: set(guard.by_reason) >= DROPPED, "forgeries dropped")
                state = (await svc.http.get("/api/v1/rounds/vote")).json()
                assert state["status"] == "open"  # the forged close request changed nothing
                await svc.until(lambda: air.done, "the audience has voted")
                await svc.until(
                    lambda: sum(core.decisions.values()) == air.heard_presses, "all journaled"
                )
                assert "closed" not in core.decisions  # no real press saw the forged state
                board = {row["handset"] for row in (await svc.http.get("/api/v1/handsets")).json()}
                assert not {"B0B", "B0C"} & board  # no forged table reached the technician
                await svc.http.post("/api/v1/rounds/vote/close")
                await svc.until(lambda: svc.service.results("vote") is not None, "results")
                results = (await svc.http.get("/api/v1/rounds/vote/results")).json()
                health = (await svc.http.get("/api/v1/health")).json()
                await svc.until(
                    lambda: (
                        svc.service.mirror.latest.get("round/vote/results", {}).get("voters")
                        == plan.voters
                    ),
                    "the real results mirrored",
                )
        finally:
            firmware.cancel()
            await asyncio.gather(firmware, return_exceptions=True)

    assert results["voters"] == plan.voters
    assert results["counts"] == plan.expected()
    assert health["bus"]["rejected"] == guard.rejected
    # The service says whether its broker lets anyone in.
    assert health["mqtt"]["anonymous_allowed"] is (bus == "shared-anonymous")
    if bus != "shared-anonymous":
        assert guard.rejected == 0  # nothing forged got as far as the service
    # What the event leaves behind holds the real results only.
    out = tmp_path / "export"
    export_event(settings.journal.path, out)
    exported = json.loads((out / "results.json").read_text())
    (doc,) = [d for d in exported["results"] if d["round"] == "vote"]
    assert doc["voters"] == plan.voters
    assert "9999" not in (out / "results.csv").read_text()
