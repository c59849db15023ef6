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


async def test_a_handler_can_leave_out_the_links_own_messages() -> None:
    async with EmbeddedBroker(port=free_port()) as broker:
        own_link = MqttLink(broker.host, broker.port, client_id="own-test")
        other = MqttLink(broker.host, broker.port, client_id="other-test")
        everything: list[bytes] = []
        others_only: list[bytes] = []
        own_link.subscribe("t/+/x", lambda m: everything.append(m.payload))  # type: ignore[arg-type]
        own_link.subscribe("t/+/x", lambda m: others_only.append(m.payload), own=False)  # type: ignore[arg-type]
        tasks = [asyncio.create_task(own_link.run()), asyncio.create_task(other.run())]
        try:
            await own_link.wait_connected(5.0)
            await other.wait_connected(5.0)
            await own_link.publish("t/1/x", b"mine 1", retain=True)
            await other.publish("t/1/x", b"theirs")
            await own_link.publish("t/1/x", b"mine 2")
            await other.publish("t/2/x", b"mine 2")  # the same bytes, from someone else
            async with asyncio.timeout(5.0):
                while len(everything) < 4:  # noqa: ASYNC110 - handlers only append
                    await asyncio.sleep(0.005)
            # The broker may interleave two publishers; what each handler got is what counts.
            assert sorted(everything) == [b"mine 1", b"mine 2", b"mine 2", b"theirs"]
            assert sorted(others_only) == [b"mine 2", b"theirs"]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
