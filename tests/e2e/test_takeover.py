"""A second client connects with the service's own client ID mid-round: the service notices,
reconnects, says so in /health, and the results are the audience's votes."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiomqtt
import pytest

from bridge.mqtt.broker import find_mosquitto
from firmware_sim.audience import Audience, make_handset_ids
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import Air, RfConditions
from firmware_sim.registry import load_simulator
from tests.conftest import service_settings
from tests.e2e.harness import running

SPEED = 20.0


@pytest.fixture(params=["embedded-mosquitto", "embedded-amqtt", "shared-anonymous"])
def bus(request: pytest.FixtureRequest) -> str:
    if request.param == "shared-anonymous":
        request.applymarker(pytest.mark.mosquitto)
    elif request.param == "embedded-mosquitto" and find_mosquitto() is None:
        pytest.skip("needs the mosquitto binary")
    return str(request.param)


async def test_a_session_taken_over_mid_round_is_noticed_and_nothing_is_lost(
    tmp_path: Path, bus: str, mosquitto_url: str
) -> None:
    shared_broker = mosquitto_url
    module = load_simulator("arsrx")
    ids = make_handset_ids(220, module.ID_FAMILY, seed=17)
    plan = Audience(ids, seed=17).plan("ABCDE", duration_s=20, change_rate=0.25)
    air = Air(RfConditions(loss=0.1), seed=3, host_acks=module.HOST_ACKS, one_way=module.ONE_WAY)
    settings = service_settings(
        tmp_path,
        shared_broker if bus == "shared-anonymous" else "embedded",
        receivers=[{"name": "rx1", "driver": "arsrx", "url": "socket://127.0.0.1:1"}],
        mqtt={"heartbeat_s": 0.2, "reconnect_min_s": 0.05, "reconnect_max_s": 0.2},
    )
    if bus != "shared-anonymous":
        broker = settings.broker.model_copy(update={"server": bus.removeprefix("embedded-")})
        settings = settings.model_copy(update={"broker": broker})
    async with PtyEndpoint() as endpoint:
        sim = module.create_simulator(endpoint, air, speed=SPEED)
        firmware = asyncio.create_task(sim.run(), name="firmware")
        receivers = [settings.receivers[0].model_copy(update={"url": endpoint.url})]
        settings = settings.model_copy(update={"receivers": receivers})
        try:
            async with running(settings) as svc:
                core, link = svc.service.core, svc.service.link
                assert core is not None
                await svc.until(lambda: core.status["rx1"].online, "receiver online")
                r = await svc.http.post(
                    "/api/v1/rounds/vote/open", json={"title": "A vote", "timer": False}
                )
                assert r.status_code == 200, r.text
                sim.load(plan)
                await svc.until(lambda: sum(core.decisions.values()) > 50, "votes arriving")
                host, port = svc.broker
                login = svc.login("display")
                with contextlib.suppress(aiomqtt.MqttError):
                    async with aiomqtt.Client(
                        host, port, identifier=link.client_id, **login
                    ) as intruder:
                        await svc.until(lambda: link.lost >= 1, "the takeover noticed")
                        await intruder.subscribe(f"{settings.mqtt.base}/round/+/tally")
                await svc.until(lambda: link.connected.is_set(), "the service reconnected")
                await svc.until(lambda: air.done, "the audience has voted")
                await svc.until(
                    lambda: sum(core.decisions.values()) == air.heard_presses, "all journaled"
                )
                await svc.http.post("/api/v1/rounds/vote/close")
                await svc.until(lambda: svc.service.results("vote") is not None, "results")
                results = (await svc.http.get("/api/v1/rounds/vote/results")).json()
                await svc.until(
                    lambda: svc.service.heartbeat.degraded is None, "heartbeats come back"
                )
                health = (await svc.http.get("/api/v1/health")).json()
        finally:
            firmware.cancel()
            await asyncio.gather(firmware, return_exceptions=True)

    assert results["voters"] == plan.voters
    assert results["counts"] == plan.expected()
    assert health["mqtt"]["lost"] >= 1
    assert health["mqtt"]["last_lost"] is not None
    assert health["mqtt"]["connects"] >= 2
    # The broker sent the service's own will when it dropped it: not taken for a forgery.
    assert health["bus"]["rejected"] == 0
