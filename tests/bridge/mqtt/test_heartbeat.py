"""Heartbeats through the broker, on the controlled clock: a link whose beats stop coming back
is degraded and reconnected, and is well again once they return."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.clock import ManualClock
from bridge.mqtt.access import load_credentials, user_grants
from bridge.mqtt.broker import EmbeddedBroker
from bridge.mqtt.heartbeat import Heartbeat
from bridge.mqtt.link import MqttLink
from tests.conftest import free_port

WAIT_S = 10.0


async def until(condition: object, what: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110 - polling state
            await asyncio.sleep(0.01)
    assert condition(), what  # type: ignore[operator]


@pytest.fixture
async def link(tmp_path: Path) -> AsyncIterator[MqttLink]:
    grants = user_grants("hb")
    passwords = load_credentials(tmp_path / "credentials.toml", grants)
    async with EmbeddedBroker("127.0.0.1", free_port(), passwords=passwords, grants=grants) as b:
        mqtt = MqttLink(
            b.host,
            b.port,
            client_id="hb-link",
            username="tally",
            password=passwords["tally"],
            reconnect_min_s=0.05,
            reconnect_max_s=0.1,
        )
        task = asyncio.create_task(mqtt.run(), name="link")
        try:
            await mqtt.wait_connected(WAIT_S)
            yield mqtt
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_beats_come_back_on_a_live_link(link: MqttLink) -> None:
    clock = ManualClock()
    beat = Heartbeat(link, "hb/link/hb-link", interval_s=5, misses=3, clock=clock)
    # Subscribed after the link connected: reconnect once so the beat topic is subscribed.
    link.restart("subscribe the heartbeat")
    await until(lambda: link.connects == 2, "reconnected")
    beat.start()
    for n in range(1, 4):
        clock.advance(5)
        await until(lambda n=n: beat.heard == n, f"beat {n} came back")  # type: ignore[misc]
    assert beat.degraded is None
    assert beat.restarts == 0
    beat.stop()


async def test_a_link_that_stops_delivering_is_degraded_and_reconnected(link: MqttLink) -> None:
    clock = ManualClock()
    # Beats on a topic this user may not read: they never come back, as when a broker
    # dropped the session's subscriptions.
    beat = Heartbeat(link, "hb/rx/x/availability", interval_s=5, misses=3, clock=clock)
    beat.start()
    for _ in range(3):
        clock.advance(5)
    await until(lambda: beat.sent == 3, "three beats sent")
    assert beat.degraded is None
    clock.advance(5)  # the fourth interval finds three missing
    assert beat.degraded == "3 heartbeats through the broker did not come back"
    assert beat.restarts == 1
    await until(lambda: link.connects == 2, "the link reconnected")
    assert link.lost == 1
    assert link.last_lost is not None
    assert "heartbeats" in link.last_lost[1]
    beat.stop()
