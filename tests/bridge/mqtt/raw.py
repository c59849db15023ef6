"""A bare MQTT 3.1.1 client over a socket, for what a library client will not do on purpose:
fall silent without closing, or take a message and never acknowledge it."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

WAIT_S = 10.0


def _str(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: bytes
    qos: int
    dup: bool
    retain: bool
    packet_id: int | None


class RawClient:
    """One connection; every method waits at most :data:`WAIT_S`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        client_id: str,
        *,
        login: tuple[str, str] | None = None,
        clean: bool = True,
        keepalive: int = 60,
        will: tuple[str, bytes] | None = None,
    ) -> RawClient:
        """Connected and accepted; raises ConnectionRefusedError with the CONNACK code."""
        reader, writer = await asyncio.open_connection(host, port)
        flags = (0x02 if clean else 0) | (0x04 | 0x08 if will else 0)
        payload = _str(client_id)
        if will:
            payload += _str(will[0]) + struct.pack("!H", len(will[1])) + will[1]
        if login:
            flags |= 0xC0
            payload += _str(login[0]) + _str(login[1])
        body = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + payload
        client = cls(reader, writer)
        await client._send(0x10, body)
        kind, data = await client._packet()
        if kind != 0x20 or data[1] != 0:
            writer.close()
            raise ConnectionRefusedError(f"CONNACK {data.hex()}")
        return client

    async def subscribe(self, topic: str, qos: int = 1, packet_id: int = 1) -> int:
        """The granted QoS (0x80: refused)."""
        await self._send(0x82, struct.pack("!H", packet_id) + _str(topic) + bytes([qos]))
        kind, data = await self._packet()
        assert kind == 0x90, hex(kind)
        return data[2]

    async def next_publish(self) -> Publish:
        while True:
            kind, data = await self._packet()
            if kind & 0xF0 != 0x30:
                continue
            qos = (kind >> 1) & 3
            (n,) = struct.unpack("!H", data[:2])
            topic, rest = data[2 : 2 + n].decode(), data[2 + n :]
            packet_id = None
            if qos:
                (packet_id,) = struct.unpack("!H", rest[:2])
                rest = rest[2:]
            return Publish(topic, rest, qos, bool(kind & 0x08), bool(kind & 0x01), packet_id)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, packet_id: int = 1
    ) -> None:
        """Publish; at QoS 1 wait for the broker's PUBACK."""
        body = _str(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload
        await self._send(0x30 | qos << 1 | int(retain), body)
        while qos:
            kind, data = await self._packet()
            if kind == 0x40 and data == struct.pack("!H", packet_id):
                return

    async def puback(self, packet_id: int) -> None:
        await self._send(0x40, struct.pack("!H", packet_id))

    async def closed_by_broker(self) -> bool:
        """Wait until the broker closes the connection (True) or :data:`WAIT_S` passes."""
        try:
            async with asyncio.timeout(WAIT_S):
                while await self._reader.read(4096):
                    pass
        except TimeoutError:
            return False
        return True

    def drop(self) -> None:
        """Close the socket without DISCONNECT: to the broker, the client vanished."""
        self._writer.transport.abort()

    async def _send(self, kind: int, body: bytes) -> None:
        self._writer.write(bytes([kind]) + _length(len(body)) + body)
        await self._writer.drain()

    async def _packet(self) -> tuple[int, bytes]:
        async with asyncio.timeout(WAIT_S):
            kind = (await self._reader.readexactly(1))[0]
            n, shift = 0, 0
            while True:
                byte = (await self._reader.readexactly(1))[0]
                n |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            return kind, await self._reader.readexactly(n)
