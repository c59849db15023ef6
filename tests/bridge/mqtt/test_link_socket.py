"""The MQTT link's socket sends small packets at once (TCP_NODELAY), on a real broker."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from bridge.mqtt.access import load_credentials, user_grants
from bridge.mqtt.broker import EmbeddedBroker
from bridge.mqtt.link import MqttLink
from tests.conftest import free_port


async def test_the_link_socket_has_nagle_off(tmp_path: Path) -> None:
    grants = user_grants("nodelay")
    passwords = load_credentials(tmp_path / "credentials.toml", grants)
    async with EmbeddedBroker("127.0.0.1", free_port(), passwords=passwords, grants=grants) as b:
        link = MqttLink(
            b.host,
            b.port,
            client_id="nodelay-test",
            username="tally",
            password=passwords["tally"],
        )
        task = asyncio.create_task(link.run())
        try:
            await link.wait_connected(5.0)
            # aiomqtt keeps the paho client, which owns the socket, as ``_client``.
            client = link._client
            assert client is not None
            sock = client._client.socket()
            assert isinstance(sock, socket.socket)
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
