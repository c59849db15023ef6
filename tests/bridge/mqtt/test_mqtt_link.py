"""The MQTT link through a broker restart: nothing published is lost, retained state returns.

A Mosquitto of the test's own on a free port is started and stopped by the test, so the
broker that the other tests share is never disturbed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from bridge.mqtt.link import BrokerUnreachable, MqttLink
from tests.brokers import Mosquitto
from tests.conftest import free_port

pytestmark = pytest.mark.mosquitto


@contextlib.asynccontextmanager
async def running(link: MqttLink) -> AsyncIterator[MqttLink]:
    task = asyncio.create_task(link.run(), name="link")
    try:
        yield link
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def watch(port: int, topic: str, *, persistent: bool = False) -> aiomqtt.Client:
    client = aiomqtt.Client("127.0.0.1", port, identifier="watcher", clean_session=not persistent)
    await client.__aenter__()
    await client.subscribe(topic, qos=1)
    return client


async def first(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(10):
        async for message in client.messages:
            return message
    raise AssertionError("no message")


async def test_unreachable_broker_is_reported_with_the_setting_to_fix() -> None:
    link = MqttLink("127.0.0.1", free_port(), client_id="t", reconnect_min_s=0.05)
    async with running(link):
        with pytest.raises(BrokerUnreachable, match="ARS_MQTT_URL"):
            await link.wait_connected(0.3)


async def test_retained_state_returns_after_a_broker_restart(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)  # without persistence the broker forgets retained
    await broker.start_async()
    link = MqttLink(
        "127.0.0.1",
        broker.port,
        client_id="bridge-under-test",
        reconnect_min_s=0.05,
        reconnect_max_s=0.2,
        timeout_s=2,
    )
    try:
        async with running(link):
            await link.wait_connected(5)
            await link.publish("t/state", b"online", retain=True)
            await broker.stop_async()
            await broker.start_async()
            while link.connects < 2:  # noqa: ASYNC110 - the link exposes a counter only
                await asyncio.sleep(0.02)
            watcher = await watch(broker.port, "t/state")
            message = await first(watcher)
            await watcher.__aexit__(None, None, None)
    finally:
        await broker.stop_async()
    assert message.payload == b"online"
    assert message.retain


async def test_a_publish_waits_out_a_broker_restart_and_is_delivered(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, persist=True)
    await broker.start_async()
    link = MqttLink(
        "127.0.0.1",
        broker.port,
        client_id="bridge-under-test",
        reconnect_min_s=0.05,
        reconnect_max_s=0.2,
        timeout_s=2,
    )
    try:
        watcher = await watch(broker.port, "t/votes", persistent=True)
        await watcher.__aexit__(None, None, None)  # offline; the broker queues for it
        async with running(link):
            await link.wait_connected(5)
            await broker.stop_async()
            sent = asyncio.create_task(link.publish("t/votes", b"batch-1", qos=1))
            await asyncio.sleep(0.3)
            assert not sent.done(), "a publish must wait for the broker, not fail"
            await broker.start_async()
            await asyncio.wait_for(sent, 10)
        watcher = await watch(broker.port, "t/votes", persistent=True)
        message = await first(watcher)
        await watcher.__aexit__(None, None, None)
    finally:
        await broker.stop_async()
    assert message.payload == b"batch-1"


async def test_a_subscriber_can_leave_this_links_own_messages_out(mosquitto_url: str) -> None:
    """``own=False``: the broker's copies of what the link published itself are not handed
    to that handler (it was given them directly); others' messages are, and so are the link's
    own to a handler that asked for them."""
    port = int(mosquitto_url.rsplit(":", 1)[1])
    topic = f"own-{free_port()}/t"
    every: list[bytes] = []
    others: list[bytes] = []
    link = MqttLink("127.0.0.1", port, client_id=f"own-{free_port()}")
    link.subscribe(topic, lambda m: every.append(bytes(m.payload)))  # type: ignore[arg-type]
    link.subscribe(topic, lambda m: others.append(bytes(m.payload)), own=False)  # type: ignore[arg-type]
    async with running(link):
        await link.wait_connected(10)
        await link.publish(topic, b"mine", qos=1)
        async with aiomqtt.Client("127.0.0.1", port, identifier=f"other-{free_port()}") as c:
            await c.publish(topic, b"theirs", qos=1)
        async with asyncio.timeout(10):
            while len(every) < 2:  # noqa: ASYNC110 - messages arrive through the broker
                await asyncio.sleep(0.01)
    assert sorted(every) == [b"mine", b"theirs"]
    assert others == [b"theirs"]
