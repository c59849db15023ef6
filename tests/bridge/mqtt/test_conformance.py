"""The MQTT 3.1.1 behaviours arsbridge relies on, held against every broker it runs on: the
embedded one as managed Mosquitto and as amqtt, and a Mosquitto of the site's own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.mqtt.access import load_credentials, user_grants
from bridge.mqtt.broker import EmbeddedBroker, find_mosquitto
from tests.bridge.mqtt.raw import RawClient
from tests.conftest import free_port


@dataclass(frozen=True, slots=True)
class Bus:
    host: str
    port: int
    base: str
    login: tuple[str, str] | None  # a user that may publish and read {base}/round/+/tally
    server: str

    async def client(self, name: str, **options: object) -> RawClient:
        return await RawClient.connect(
            self.host,
            self.port,
            f"{name}-{self.base}",
            login=self.login,
            **options,  # type: ignore[arg-type]
        )

    def topic(self, round_id: str) -> str:
        return f"{self.base}/round/{round_id}/tally"


@pytest.fixture(
    params=[
        pytest.param(
            "mosquitto",
            marks=pytest.mark.skipif(find_mosquitto() is None, reason="needs mosquitto"),
        ),
        "amqtt",
        pytest.param("shared", marks=pytest.mark.mosquitto),
    ]
)
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bus]:
    base = f"conf{uuid.uuid4().hex[:8]}"
    if request.param == "shared":
        url = str(request.getfixturevalue("mosquitto_url"))
        host, port = url.removeprefix("mqtt://").split(":")
        yield Bus(host, int(port), base, None, "shared")
        return
    grants = user_grants(base)
    passwords = load_credentials(tmp_path / "credentials.toml", grants)
    async with EmbeddedBroker(
        "127.0.0.1", free_port(), passwords=passwords, grants=grants, server=request.param
    ) as broker:
        yield Bus(broker.host, broker.port, base, ("tally", passwords["tally"]), broker.server)


async def test_retained_only_for_the_clients_own_subscriptions(bus: Bus) -> None:
    holder = await bus.client("holder")
    assert await holder.subscribe(bus.topic("one")) == 1  # a subscription of another client
    retainer = await bus.client("retainer")
    await retainer.publish(bus.topic("one"), b"one", retain=True, packet_id=1)
    await retainer.publish(bus.topic("two"), b"two", retain=True, packet_id=2)
    late = await bus.client("late")
    assert await late.subscribe(bus.topic("two")) == 1
    message = await late.next_publish()
    assert (message.topic, message.payload, message.retain) == (bus.topic("two"), b"two", True)
    for c in (holder, retainer, late):
        c.drop()


async def test_the_will_is_sent_when_keepalive_lapses(bus: Bus) -> None:
    watcher = await bus.client("watcher")
    await watcher.subscribe(bus.topic("will"))
    silent = await bus.client("silent", keepalive=1, will=(bus.topic("will"), b"gone"))
    # No PINGREQ from here on and the socket stays open: only the keepalive can end it.
    message = await watcher.next_publish()
    assert (message.topic, message.payload) == (bus.topic("will"), b"gone")
    assert await silent.closed_by_broker()
    watcher.drop()


async def test_qos1_is_queued_for_an_offline_persistent_session(bus: Bus) -> None:
    sub = await bus.client("sub", clean=False)
    await sub.subscribe(bus.topic("queued"), qos=1)
    sub.drop()
    pub = await bus.client("pub")
    await pub.publish(bus.topic("queued"), b"batch-1", packet_id=7)
    sub = await bus.client("sub", clean=False)
    message = await sub.next_publish()
    assert (message.payload, message.qos) == (b"batch-1", 1)
    assert message.packet_id is not None
    await sub.puback(message.packet_id)
    sub.drop()
    pub.drop()


async def test_unacknowledged_qos1_is_sent_again_on_reconnect(bus: Bus) -> None:
    sub = await bus.client("sub", clean=False)
    await sub.subscribe(bus.topic("redeliver"), qos=1)
    pub = await bus.client("pub")
    await pub.publish(bus.topic("redeliver"), b"batch-2", packet_id=8)
    first = await sub.next_publish()
    assert first.payload == b"batch-2"
    sub.drop()  # taken, never acknowledged
    sub = await bus.client("sub", clean=False)
    again = await sub.next_publish()
    assert (again.payload, again.qos, again.dup) == (b"batch-2", 1, True)
    assert again.packet_id is not None
    await sub.puback(again.packet_id)
    sub.drop()
    pub.drop()
