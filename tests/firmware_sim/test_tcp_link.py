"""The TCP end of a simulated receiver: a host that vanishes is dropped, never spun on."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct

import pytest

from firmware_sim.link import TcpEndpoint

CHUNKS = [f"Captured: A (42, 80, 71, {n:02X})\n".encode() for n in range(40)]


async def _connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("socket://").rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close like a killed process with unread data: a TCP reset, not a polite FIN."""
    sock: socket.socket = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@pytest.mark.parametrize("goes", ["reset", "closed"])
async def test_sends_after_the_host_went_wait_for_the_next_host(
    goes: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="asyncio")
    endpoint = await TcpEndpoint.start()
    async with endpoint:
        reader, writer = await _connect(endpoint.url)
        await endpoint.send(CHUNKS[0])
        assert await reader.readexactly(len(CHUNKS[0])) == CHUNKS[0]
        if goes == "reset":
            _reset(writer)
        else:
            writer.close()
            await writer.wait_closed()
        sending = asyncio.create_task(_send_all(endpoint, CHUNKS[1:]))
        # Whatever was written before the endpoint noticed is lost with that host (as on
        # a serial line); from then on the sender waits instead of writing into nothing.
        async with asyncio.timeout(10):
            while endpoint._writer is not None:  # noqa: ASYNC110 - the endpoint's own state
                await asyncio.sleep(0.01)
        reader, writer = await _connect(endpoint.url)
        async with asyncio.timeout(10):
            await sending
            got = await reader.readuntil(CHUNKS[-1])
        # The new host hears a tail of the chunks, in order, up to the last one.
        assert got.endswith(b"".join(CHUNKS[-3:]))
        assert b"".join(CHUNKS[1:]).endswith(got)
        writer.close()
        await writer.wait_closed()
    assert not [r for r in caplog.records if "socket.send() raised exception" in r.getMessage()]


async def _send_all(endpoint: TcpEndpoint, chunks: list[bytes]) -> None:
    for chunk in chunks:
        await endpoint.send(chunk)


async def test_closing_with_a_host_connected_ends_its_connection_cleanly() -> None:
    endpoint = await TcpEndpoint.start()
    reader, writer = await _connect(endpoint.url)
    await endpoint.wait_connected()
    await endpoint.close()
    async with asyncio.timeout(10):
        assert await reader.read() == b""  # the host sees the port go away
    writer.close()
    await writer.wait_closed()
