"""A small MQTT 3.1.1 broker for tests that refuses chosen subscriptions (SUBACK 0x80) on a
connection it otherwise serves, as NATS does while its JetStream cluster is short of a node:
each QoS 1 subscription there is a JetStream consumer, and one that cannot be made within 4 s
is refused.

It keeps retained messages, delivers what is published to every matching subscription of
every client (at QoS 0), answers pings and nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import Counter
from types import TracebackType

from paho.mqtt.client import topic_matches_sub

REFUSED = 0x80


def _str(data: bytes) -> tuple[str, bytes]:
    (n,) = struct.unpack("!H", data[:2])
    return data[2 : 2 + n].decode(), data[2 + n :]


def _packet(kind: int, body: bytes) -> bytes:
    out = bytearray([kind])
    n = len(body)
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out) + body


def _publish(topic: str, payload: bytes, retain: bool) -> bytes:
    name = topic.encode()
    return _packet(0x30 | int(retain), struct.pack("!H", len(name)) + name + payload)


class RefusingBroker:
    """``refuse[filter]`` is how many more times a subscription to ``filter`` is refused."""

    def __init__(self) -> None:
        self.refuse: Counter[str] = Counter()
        self.asked: Counter[str] = Counter()  # subscriptions asked for, by filter
        self.retained: dict[str, bytes] = {}
        self.port = 0
        self._server: asyncio.Server | None = None
        self._clients: dict[asyncio.StreamWriter, set[str]] = {}

    async def __aenter__(self) -> RefusingBroker:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._clients):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        subscriptions: set[str] = set()
        self._clients[writer] = subscriptions
        try:
            while True:
                kind, body = await self._read(reader)
                if kind == 0x10:  # CONNECT
                    writer.write(_packet(0x20, b"\x00\x00"))
                elif kind == 0x82:  # SUBSCRIBE
                    self._subscribe(writer, subscriptions, body)
                elif kind == 0xA2:  # UNSUBSCRIBE
                    writer.write(_packet(0xB0, body[:2]))
                elif kind & 0xF0 == 0x30:  # PUBLISH
                    self._publish(writer, kind, body)
                elif kind == 0xC0:  # PINGREQ
                    writer.write(_packet(0xD0, b""))
                elif kind == 0xE0:  # DISCONNECT
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._clients.pop(writer, None)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _subscribe(self, writer: asyncio.StreamWriter, subs: set[str], body: bytes) -> None:
        packet_id, rest = body[:2], body[2:]
        codes = bytearray()
        granted = []
        while rest:
            name, rest = _str(rest)
            rest = rest[1:]  # the QoS asked for
            self.asked[name] += 1
            if self.refuse[name] > 0:
                self.refuse[name] -= 1
                codes.append(REFUSED)
                continue
            codes.append(1)
            subs.add(name)
            granted.append(name)
        writer.write(_packet(0x90, packet_id + bytes(codes)))
        for name in granted:
            for topic, payload in self.retained.items():
                if topic_matches_sub(name, topic):
                    writer.write(_publish(topic, payload, True))

    def _publish(self, writer: asyncio.StreamWriter, kind: int, body: bytes) -> None:
        topic, rest = _str(body)
        if kind & 0x06:  # QoS 1: a packet id, acknowledged
            writer.write(_packet(0x40, rest[:2]))
            rest = rest[2:]
        if kind & 0x01:
            self.retained[topic] = rest
        for client, subs in self._clients.items():
            if any(topic_matches_sub(name, topic) for name in subs):
                client.write(_publish(topic, rest, False))

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        kind = (await reader.readexactly(1))[0]
        n, shift = 0, 0
        while True:
            byte = (await reader.readexactly(1))[0]
            n |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return kind, await reader.readexactly(n)
