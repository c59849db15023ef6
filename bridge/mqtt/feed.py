"""What feeds the mirror: this process's own retained messages directly, the rest from the bus.

A topic one of the process's roles publishes (its round states, tallies, results, its bridge's
state) is mirrored as it is published and never taken back from the bus: a message there that
this process did not send was written by someone else in its name. It is dropped, counted,
and the process's own message is put back on the broker. Topics of other processes are
mirrored from the bus.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt

from bridge.mqtt import handset_tables
from bridge.mqtt.guard import BusGuard, Rejected
from bridge.mqtt.link import UNDECODED, MqttLink, payload_bytes
from bridge.mqtt.mirror import PATTERNS, Mirror
from bridge.mqtt.topics import Topics

log = logging.getLogger(__name__)

Owns = Callable[[list[str]], bool]
Taken = Callable[[str, Any], Awaitable[None]]


class MirrorFeed:
    """Feeds ``mirror`` from ``link``; ``owns`` says which topics (levels below the base)
    this process publishes, ``taken`` is told of every message the mirror takes."""

    def __init__(
        self,
        link: MqttLink,
        topics: Topics,
        mirror: Mirror,
        guard: BusGuard,
        *,
        owns: Owns,
        taken: Taken | None = None,
        accept: Callable[[str, Any], bool] | None = None,
        max_bytes: int = 32 * 1_048_576,
    ) -> None:
        self._link = link
        self._topics = topics
        self._mirror = mirror
        self._guard = guard
        self._owns = owns
        self._taken = taken
        self._accept = accept  # a last say on messages from the bus (lease epochs)
        self._max_bytes = max_bytes  # a larger message from the bus is dropped unread
        for pattern in PATTERNS:
            link.subscribe(f"{topics.base}/{pattern}", self._from_bus)
        link.on_retained.append(self._own)

    async def _own(self, topic: str, data: bytes, doc: Any) -> None:
        relative = "/".join(self._topics.split(topic))
        if self._owns(relative.split("/")):
            if doc is UNDECODED:
                doc = json.loads(data) if data else None
            await self._take(relative, doc, data)

    async def _from_bus(self, message: aiomqtt.Message) -> None:
        topic = str(message.topic)
        relative = "/".join(self._topics.split(topic))
        try:
            data = payload_bytes(message)
        except TypeError:
            data = b""  # an empty retained message clears a topic
        if self._owns(relative.split("/")):
            if self._link.is_will(topic, data):
                await self._restore(topic)  # the link dropped a moment: it is back
            elif data and not self._link.sent(topic, data):
                self._guard.reject(
                    topic,
                    Rejected("not published by its owner", data[:80].decode("utf-8", "replace")),
                )
                await self._restore(topic)
            return  # mirrored when it was published
        if len(data) > self._max_bytes:
            too_large = Rejected("too large", f"{len(data)} bytes over bus.max_state_bytes")
            self._guard.reject(topic, too_large)
            return
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            self._guard.reject(topic, Rejected("malformed", "not JSON"))
            return
        kind = relative.rsplit("/", 1)[-1]
        if kind in (handset_tables.WHOLE, handset_tables.CHANGES) and (
            doc is not None or kind == handset_tables.CHANGES
        ):
            try:
                table = handset_tables.check(doc, whole=kind == handset_tables.WHOLE)
            except ValueError as exc:
                self._guard.reject(topic, Rejected("malformed", str(exc)))
                return
            copy = self._mirror.latest.get(relative.removesuffix(kind) + handset_tables.WHOLE)
            if kind == handset_tables.CHANGES and handset_tables.too_far(copy, table):
                far = Rejected("out of sequence", f"change {table['seq']} far past the table")
                self._guard.reject(topic, far)
                return
        if self._accept is not None and not self._accept(relative, doc):
            return
        await self._take(relative, doc, data or None)

    async def _take(self, relative: str, doc: Any, raw: bytes | None = None) -> None:
        self._mirror.update(relative, doc, raw)
        if self._taken is not None:
            await self._taken(relative, doc)

    async def _restore(self, topic: str) -> None:
        """Put this process's own message back on ``topic``."""
        ours = self._link.retained(topic)
        if ours is not None and self._link.connected.is_set():
            await self._link.publish(topic, ours, qos=1, retain=True)
