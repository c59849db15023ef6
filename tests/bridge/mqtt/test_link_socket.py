"""The MQTT link's socket sends small packets at once (TCP_NODELAY), on a real broker."""

from __future__ import annotations

import asyncio
import socket

from bridge.mqtt.broker import EmbeddedBroker
from bridge.mqtt.link import MqttLink
from tests.conftest import free_port


async def test_the_link_socket_has_nagle_off() -> None:
    async with EmbeddedBroker(port=free_port()) as broker:
        link = MqttLink(broker.host, broker.port, client_id="nodelay-test")
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
