"""One MQTT connection per process role, kept up for as long as the service runs.

:class:`MqttLink` wraps aiomqtt with what a live event needs: it reconnects with capped
backoff, resubscribes, republishes every retained message it has published (brokers without
persistence lose them on restart), and makes :meth:`MqttLink.publish` wait for the link
instead of failing while the broker is away, so QoS 1 batches are delivered late, not lost.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiomqtt

from bridge.settings import ConfigError, Settings

log = logging.getLogger(__name__)

RETRY_PAUSE_S = 0.05  # between two attempts of one publish while the link recovers
# Small MQTT packets go out at once: without TCP_NODELAY, Nagle's algorithm holds a publish
# until the previous one is acknowledged, which against the peer's delayed ACK adds ~40 ms.
SOCKET_OPTIONS = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)

Handler = Callable[[aiomqtt.Message], Awaitable[None] | None]


class BrokerUnreachable(Exception):
    """The broker did not accept a connection within the configured time."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int


def parse_broker_url(url: str) -> BrokerAddress:
    """``mqtt://host:port`` (or ``tcp://``) as a host and port; 1883 when no port is given."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ValueError(f"broker URL {url!r} must look like mqtt://host:1883")
    return BrokerAddress(parts.hostname, parts.port or 1883)


class MqttLink:
    """A self-healing MQTT client: subscriptions, retained cache, last will, backoff."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str,
        will: tuple[str, bytes] | None = None,
        username: str | None = None,
        password: str | None = None,
        keepalive_s: int = 30,
        timeout_s: float = 10.0,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        echoes_max: int = 1000,
    ) -> None:
        self.host, self.port = host, port
        self.client_id = client_id
        self._will = aiomqtt.Will(will[0], will[1], qos=1, retain=True) if will else None
        self._auth = (username, password)
        self._keepalive = keepalive_s
        self._timeout = timeout_s
        self._backoff = (reconnect_min_s, reconnect_max_s)
        self._handlers: list[tuple[str, Handler, bool]] = []
        # Payloads this link published on topics that a handler wants without its own
        # messages, in the order the broker will echo them back; cleared on reconnect.
        self._echoes: dict[str, deque[bytes]] = {}
        self._echoes_max = echoes_max
        self._skips_own: dict[str, bool] = {}
        self._retained: dict[str, tuple[bytes, int]] = {}
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.connects = 0
        self.published = 0

    def subscribe(self, pattern: str, handler: Handler, *, own: bool = True) -> None:
        """Deliver messages matching ``pattern`` to ``handler``; register before :meth:`run`.

        ``own=False``: not the messages this link published itself (the process has them
        already), recognised by their payload, so the handler never decodes them.
        """
        self._handlers.append((pattern, handler, own))
        self._skips_own.clear()

    async def wait_connected(self, within_s: float) -> None:
        """Wait for the first connection; raises :class:`BrokerUnreachable` after ``within_s``."""
        try:
            await asyncio.wait_for(self.connected.wait(), within_s)
        except TimeoutError:
            raise BrokerUnreachable(
                f"MQTT broker {self.host}:{self.port} did not answer within {within_s:g} s; "
                "check [mqtt] url (ARS_MQTT_URL) and that the broker runs"
            ) from None

    async def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish, waiting for the link (and retrying after a reconnect) as long as it takes."""
        data = payload.encode() if isinstance(payload, str) else payload
        if retain:
            self._retained[topic] = (data, qos)
        while True:
            await self.connected.wait()
            client = self._client
            if client is None:
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            echoes = (
                self._echoes.setdefault(topic, deque(maxlen=self._echoes_max))
                if self._skips(topic)
                else None
            )
            if echoes is not None:
                echoes.append(data)  # before sending: the echo may overtake the PUBACK
            try:
                await client.publish(topic, data, qos=qos, retain=retain, timeout=self._timeout)
            except aiomqtt.MqttError as exc:
                if echoes is not None and data in echoes:
                    echoes.remove(data)
                # The run loop notices a lost connection and clears ``connected``; until then
                # (or on a slow but live link) the publish is retried. A retried batch may
                # arrive twice; subscribers drop it by record id.
                log.warning("publish to %s failed (%s); retrying", topic, exc)
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            self.published += 1
            return

    async def run(self) -> None:
        """Connect, dispatch messages and reconnect forever (until cancelled)."""
        delay = self._backoff[0]
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    identifier=self.client_id,
                    will=self._will,
                    username=self._auth[0],
                    password=self._auth[1],
                    keepalive=self._keepalive,
                    timeout=self._timeout,
                    clean_session=True,
                    socket_options=SOCKET_OPTIONS,
                ) as client:
                    self._client = client
                    self._echoes.clear()  # what was sent before is not echoed on this session
                    for pattern in dict.fromkeys(p for p, _, _ in self._handlers):
                        await client.subscribe(pattern, qos=1)
                    for topic, (data, qos) in list(self._retained.items()):
                        await client.publish(topic, data, qos=qos, retain=True)
                    self.connects += 1
                    self.connected.set()
                    delay = self._backoff[0]
                    log.info("MQTT connected to %s:%d as %s", self.host, self.port, self.client_id)
                    async for message in client.messages:
                        await self._dispatch(message)
            except aiomqtt.MqttError as exc:
                # Before the first connection, wait_connected() reports the failure once.
                level = logging.WARNING if self.connected.is_set() else logging.DEBUG
                log.log(
                    level,
                    "MQTT %s:%d: %s; reconnecting in %.1f s",
                    self.host,
                    self.port,
                    exc,
                    delay,
                )
            finally:
                self.connected.clear()
                self._client = None
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, self._backoff[1])

    def _skips(self, topic: str) -> bool:
        """Whether a handler that does not want its own messages listens on ``topic``."""
        skips = self._skips_own.get(topic)
        if skips is None:
            t = aiomqtt.Topic(topic)
            skips = any(not own and t.matches(p) for p, _, own in self._handlers)
            self._skips_own[topic] = skips
        return skips

    def _is_own(self, message: aiomqtt.Message) -> bool:
        echoes = self._echoes.get(message.topic.value)
        if not echoes or not isinstance(message.payload, bytes) or message.payload not in echoes:
            return False
        # The broker keeps one publisher's order per topic: anything before this payload
        # will not come back any more.
        while echoes.popleft() != message.payload:
            pass
        return True

    async def _dispatch(self, message: aiomqtt.Message) -> None:
        own = self._is_own(message) if self._echoes else False
        for pattern, handler, wants_own in self._handlers:
            if own and not wants_own:
                continue
            if message.topic.matches(pattern):
                try:
                    result = handler(message)
                    if result is not None:
                        await result
                except Exception:
                    log.exception("handler for %s failed on %s", pattern, message.topic)


def payload_bytes(message: aiomqtt.Message) -> bytes:
    """A message's payload as bytes; raises TypeError for an empty or non-text payload."""
    payload = message.payload
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    raise TypeError("empty or non-text payload")


def link_from_settings(
    settings: Settings, client_id: str, will: tuple[str, bytes] | None = None
) -> MqttLink:
    """The link ``[mqtt]`` describes (``url = "embedded"``: the ``[broker]`` on loopback)."""
    m = settings.mqtt
    if m.url == "embedded":
        host, port = settings.broker.host, settings.broker.port
    else:
        try:
            address = parse_broker_url(m.url)
        except ValueError as exc:
            raise ConfigError(f"mqtt.url (ARS_MQTT_URL): {exc}") from None
        host, port = address.host, address.port
    return MqttLink(
        host,
        port,
        client_id=client_id,
        will=will,
        username=m.username,
        password=m.password,
        keepalive_s=m.keepalive_s,
        timeout_s=m.publish_timeout_s,
        reconnect_min_s=m.reconnect_min_s,
        reconnect_max_s=m.reconnect_max_s,
        echoes_max=m.echoes_max,
    )
