"""The MQTT link through a broker restart: nothing published is lost, retained state returns.

A private Mosquitto on a free port is started and stopped by the test, so the shared broker
on 1883 is never disturbed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from bridge.mqtt.link import BrokerUnreachable, MqttLink
from tests.conftest import free_port

pytestmark = pytest.mark.mosquitto


class PrivateMosquitto:
    """A Mosquitto process of the test's own; ``persist`` keeps sessions across restarts."""

    def __init__(self, tmp_path: Path, *, persist: bool = False) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.exe = exe
        self.port = free_port()
        self.conf = tmp_path / "mosquitto.conf"
        store = (
            f"persistence true\npersistence_location {tmp_path}/\n"
            if persist
            else "persistence false\n"
        )
        # Run as root, mosquitto would switch to its own user, which cannot write tmp_path.
        user = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{store}{user}")
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            self.exe,
            "-c",
            str(self.conf),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(100):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    async def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 10)
            self.proc = None


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
    broker = PrivateMosquitto(tmp_path)  # without persistence the broker forgets retained
    await broker.start()
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
            await broker.stop()
            await broker.start()
            while link.connects < 2:  # noqa: ASYNC110 - the link exposes a counter only
                await asyncio.sleep(0.02)
            watcher = await watch(broker.port, "t/state")
            message = await first(watcher)
            await watcher.__aexit__(None, None, None)
    finally:
        await broker.stop()
    assert message.payload == b"online"
    assert message.retain


async def test_a_publish_waits_out_a_broker_restart_and_is_delivered(tmp_path: Path) -> None:
    broker = PrivateMosquitto(tmp_path, persist=True)
    await broker.start()
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
            await broker.stop()
            sent = asyncio.create_task(link.publish("t/votes", b"batch-1", qos=1))
            await asyncio.sleep(0.3)
            assert not sent.done(), "a publish must wait for the broker, not fail"
            await broker.start()
            await asyncio.wait_for(sent, 10)
        watcher = await watch(broker.port, "t/votes", persistent=True)
        message = await first(watcher)
        await watcher.__aexit__(None, None, None)
    finally:
        await broker.stop()
    assert message.payload == b"batch-1"
