"""A real distributed MQTT broker for tests: three NATS servers clustered with JetStream, each
with its own MQTT listener on loopback, started and stopped by the test (Debian's
``nats-server``)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import pytest

from tests.conftest import free_port

READY_S = 30.0  # a cluster elects its JetStream leader and serves MQTT within this


def nats_server() -> str:
    for candidate in ("nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"):
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail("nats-server is not installed (Debian package nats-server; make test installs it)")


@dataclass
class Node:
    name: str
    client_port: int
    cluster_port: int
    mqtt_port: int
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt_port}"


@dataclass
class NatsCluster:
    root: Path
    nodes: list[Node] = field(default_factory=list)

    def url(self, *indexes: int) -> str:
        """A broker URL naming these nodes, the first one tried first."""
        return "mqtt://" + ",".join(f"127.0.0.1:{self.nodes[i].mqtt_port}" for i in indexes)

    def start(self, i: int) -> None:
        node = self.nodes[i]
        node.proc = subprocess.Popen(
            [nats_server(), "-c", str(node.config)],
            stdout=subprocess.DEVNULL,
            stderr=node.log.open("ab"),
        )

    def kill(self, i: int) -> None:
        node = self.nodes[i]
        if node.proc is not None and node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait(10)
        node.proc = None

    def stop(self) -> None:
        for i in range(len(self.nodes)):
            self.kill(i)

    async def ready(self, *indexes: int) -> None:
        """Wait until a retained message published on one node is read on every other."""
        indexes = indexes or tuple(range(len(self.nodes)))
        async with asyncio.timeout(READY_S):
            while True:
                with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                    await self._round_trip(indexes)
                    return
                await asyncio.sleep(0.25)

    async def _round_trip(self, indexes: tuple[int, ...]) -> None:
        first = self.nodes[indexes[0]]
        async with aiomqtt.Client("127.0.0.1", first.mqtt_port, identifier="ready-pub") as pub:
            await pub.publish("arstest-ready/probe", b"1", qos=1, retain=True, timeout=2)
        for i in indexes:
            node = self.nodes[i]
            async with aiomqtt.Client("127.0.0.1", node.mqtt_port, identifier=f"ready-{i}") as c:
                await c.subscribe("arstest-ready/probe", qos=1)
                async with asyncio.timeout(2):
                    async for _ in c.messages:
                        break


@contextlib.asynccontextmanager
async def nats_cluster(root: Path, size: int = 3) -> AsyncIterator[NatsCluster]:
    """``size`` clustered NATS servers with JetStream and MQTT, stopped afterwards."""
    cluster = NatsCluster(root)
    ports = [(free_port(), free_port(), free_port()) for _ in range(size)]
    routes = ", ".join(f"nats-route://127.0.0.1:{cluster_port}" for _, cluster_port, _ in ports)
    for i, (client_port, cluster_port, mqtt_port) in enumerate(ports):
        name = f"n{i + 1}"
        store = root / name
        store.mkdir(parents=True, exist_ok=True)
        config = root / f"{name}.conf"
        config.write_text(
            f"server_name: {name}\n"
            f"listen: 127.0.0.1:{client_port}\n"
            f'jetstream {{ store_dir: "{store}" }}\n'
            f"cluster {{ name: arstest, listen: 127.0.0.1:{cluster_port}, routes: [{routes}] }}\n"
            # Sessions, retained messages and each QoS 1 subscription's consumer on three
            # replicas, so that losing one node loses no subscription.
            f"mqtt {{ listen: 127.0.0.1:{mqtt_port}, stream_replicas: 3, "
            "consumer_replicas: 3, consumer_memory_storage: true }\n"
        )
        cluster.nodes.append(
            Node(name, client_port, cluster_port, mqtt_port, config, root / f"{name}.log")
        )
    try:
        for i in range(size):
            cluster.start(i)
        await cluster.ready()
        yield cluster
    finally:
        cluster.stop()
