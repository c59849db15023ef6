"""One MQTT connection per process role, kept up for as long as the service runs.

:class:`MqttLink` wraps aiomqtt with what a live event needs: it reconnects with capped
backoff, resubscribes, republishes every retained message it has published (brokers without
persistence lose them on restart), and makes :meth:`MqttLink.publish` wait for the link
instead of failing while the broker is away, so QoS 1 batches are delivered late, not lost.

A broker may refuse a subscription (SUBACK 0x80) on a connection it otherwise serves: an ACL
that denies the topic, or NATS, whose QoS 1 subscriptions are JetStream consumers that it
fails to create within 4 s while its cluster is short of a node. Each refused subscription
is named in the log and in :attr:`MqttLink.missing`, and asked for again on the same
connection, at growing intervals, until the broker grants it; a connection that still lacks
one after ``resubscribe_give_up_s`` is dropped for the next node.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

from bridge.settings import ConfigError, Settings

log = logging.getLogger(__name__)

RETRY_PAUSE_S = 0.05  # between two attempts of one publish while the link recovers
# Small MQTT packets go out at once: without TCP_NODELAY, Nagle's algorithm holds a publish
# until the previous one is acknowledged, which against the peer's delayed ACK adds ~40 ms.
SOCKET_OPTIONS = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)

Handler = Callable[[aiomqtt.Message], Awaitable[None] | None]
# Told of each retained publish: its topic, its bytes, and the document they encode when the
# publisher handed it over (else UNDECODED: the hook decodes the bytes if it needs them).
RetainedHook = Callable[[str, bytes, Any], Awaitable[None]]
UNDECODED: Any = object()


class BrokerUnreachable(Exception):
    """The broker did not accept a connection within the configured time."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = False


def parse_broker_url(url: str) -> BrokerAddress:
    """``mqtt://host:port`` (or ``tcp://``; 1883 by default) or ``mqtts://host:port`` (TLS,
    8883 by default) as a host, port and whether to use TLS; of a cluster's
    ``mqtt://host1:port1,host2:port2``, the first."""
    return parse_broker_urls(url)[0]


def parse_broker_urls(url: str) -> list[BrokerAddress]:
    """Every node of ``mqtt://host1:port1,host2:port2,...`` (one node: ``mqtt://host:port``)."""
    scheme, sep, rest = url.partition("://")
    nodes = rest.split("/", 1)[0].split(",") if sep else []
    tls = scheme == "mqtts"
    addresses = []
    for node in nodes:
        parts = urlsplit(f"{scheme}://{node}")
        if parts.scheme not in ("mqtt", "tcp", "mqtts") or not parts.hostname:
            raise ValueError(
                f"broker URL {url!r} must look like mqtt://host:1883 or mqtts://host:8883"
            )
        addresses.append(BrokerAddress(parts.hostname, parts.port or (8883 if tls else 1883), tls))
    if not addresses:
        raise ValueError(f"broker URL {url!r} must look like mqtt://host:1883 or mqtts://host:8883")
    return addresses


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
        alternates: tuple[BrokerAddress, ...] = (),
        echo_memory: int = 10000,
        tls: aiomqtt.TLSParameters | None = None,
        resubscribe_min_s: float = 0.5,
        resubscribe_max_s: float = 5.0,
        resubscribe_give_up_s: float = 120.0,
    ) -> None:
        self.host, self.port = host, port
        # The nodes of a cluster: a lost or refused connection moves on to the next one.
        self._nodes = (BrokerAddress(host, port), *alternates)
        self._node = 0
        self.client_id = client_id
        self._will = aiomqtt.Will(will[0], will[1], qos=1, retain=True) if will else None
        self._auth = (username, password)
        self._tls = tls
        self._keepalive = keepalive_s
        self._timeout = timeout_s
        self._backoff = (reconnect_min_s, reconnect_max_s)
        self._resubscribe = (resubscribe_min_s, resubscribe_max_s)
        self._give_up_s = resubscribe_give_up_s
        self._handlers: list[tuple[str, Handler, bool]] = []  # (pattern, handler, own)
        self._retained: dict[str, tuple[bytes, int]] = {}
        # Digests of what this link published lately: its own echoes from the broker are told
        # from messages someone else wrote in its name.
        self._sent: OrderedDict[bytes, None] = OrderedDict()
        self._echo_memory = echo_memory
        self.on_retained: list[RetainedHook] = []  # told of each retained publish, before it
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.connects = 0
        self.published = 0
        self.lost = 0  # connections that ended other than by stopping the service
        self.last_lost: tuple[float, str] | None = None  # when (epoch s) and why
        # Subscriptions the broker refused on this connection (pattern: since when, epoch s);
        # they are asked for again until granted, and nothing arrives on them meanwhile.
        self.missing: dict[str, float] = {}
        self.refused = 0  # subscriptions refused by the broker (or unanswered), in all
        self._restart = asyncio.Event()

    def subscribe(self, pattern: str, handler: Handler, *, own: bool = True) -> None:
        """Deliver messages matching ``pattern`` to ``handler``; register before :meth:`run`.

        ``own=False``: not the copies the broker sends back of what this link published (a
        handler in this process that was given them directly)."""
        self._handlers.append((pattern, handler, own))

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
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 1,
        retain: bool = False,
        doc: Any = UNDECODED,
    ) -> None:
        """Publish, waiting for the link (and retrying after a reconnect) as long as it takes.

        ``doc`` is the document ``payload`` encodes, where the caller has it: this process's
        own hooks take it as it is instead of decoding the payload again."""
        data = payload.encode() if isinstance(payload, str) else payload
        if retain:
            self._retained[topic] = (data, qos)
        self._remember(topic, data)
        if retain:
            for hook in self.on_retained:
                await hook(topic, data, doc)
        while True:
            await self.connected.wait()
            client = self._client
            if client is None:
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            try:
                await client.publish(topic, data, qos=qos, retain=retain, timeout=self._timeout)
            except aiomqtt.MqttError as exc:
                # The run loop notices a lost connection and clears ``connected``; until then
                # (or on a slow but live link) the publish is retried. A retried batch may
                # arrive twice; subscribers drop it by record id.
                log.warning("publish to %s failed (%s); retrying", topic, exc)
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            self.published += 1
            return

    async def accepts_anonymous(self) -> bool:
        """Whether the broker lets a client in without credentials (tried once, briefly)."""
        try:
            async with aiomqtt.Client(
                self.host,
                self.port,
                identifier=f"{self.client_id}-probe",
                timeout=self._timeout,
                tls_params=self._tls,
                clean_session=True,
            ):
                return True
        except aiomqtt.MqttError:
            return False

    def is_will(self, topic: str, data: bytes) -> bool:
        """True when ``data`` on ``topic`` is this link's last will (the broker sent it)."""
        return self._will is not None and (self._will.topic, self._will.payload) == (topic, data)

    def sent(self, topic: str, data: bytes) -> bool:
        """True when this link published ``data`` on ``topic`` lately (its own echo)."""
        return _digest(topic, data) in self._sent

    def retained(self, topic: str) -> bytes | None:
        """What this link last published retained on ``topic``, if anything."""
        held = self._retained.get(topic)
        return held[0] if held is not None else None

    def _remember(self, topic: str, data: bytes) -> None:
        key = _digest(topic, data)
        self._sent[key] = None
        self._sent.move_to_end(key)
        while len(self._sent) > self._echo_memory:
            self._sent.popitem(last=False)

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
                    tls_params=self._tls,
                    socket_options=SOCKET_OPTIONS,
                ) as client:
                    self._client = client
                    for pattern in self.patterns():
                        if not await self._subscribe(client, pattern):
                            self.missing.setdefault(pattern, time.time())
                    for topic, (data, qos) in list(self._retained.items()):
                        await client.publish(topic, data, qos=qos, retain=True)
                    self.connects += 1
                    self.connected.set()
                    delay = self._backoff[0]
                    log.info("MQTT connected to %s:%d as %s", self.host, self.port, self.client_id)
                    await self._serve(client)
            except aiomqtt.MqttError as exc:
                if self.connected.is_set():
                    self._note_lost(str(exc))
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
                self.missing.clear()  # a new connection subscribes to everything again
            if len(self._nodes) > 1:
                self._node = (self._node + 1) % len(self._nodes)
                self.host, self.port = self._nodes[self._node].host, self._nodes[self._node].port
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, self._backoff[1])

    def patterns(self) -> list[str]:
        """The patterns subscribed to, each once, in the order they were registered."""
        return list(dict.fromkeys(pattern for pattern, _, _ in self._handlers))

    async def _subscribe(self, client: aiomqtt.Client, pattern: str) -> bool:
        """Subscribe to ``pattern`` at QoS 1; False when the broker refused it or did not
        answer in time (a lost connection raises)."""
        try:
            async with asyncio.timeout(self._timeout):
                granted = await client.subscribe(pattern, qos=1, timeout=math.inf)
        except TimeoutError:
            why = f"no answer within {self._timeout:g} s"
        else:
            # MQTT 3.1.1 grants a QoS (0-2) per filter, 0x80 refuses; paho gives reason codes.
            codes = [code if isinstance(code, int) else code.value for code in granted]
            if codes and all(code < 0x80 for code in codes):
                if pattern in self.missing:
                    del self.missing[pattern]
                    log.info(
                        "MQTT %s:%d granted the subscription to %s", self.host, self.port, pattern
                    )
                return True
            why = f"refused ({', '.join(f'0x{code:02x}' for code in codes)})"
        self.refused += 1
        level = logging.DEBUG if pattern in self.missing else logging.WARNING
        log.log(
            level,
            "MQTT %s:%d: subscription to %s %s; nothing arrives on it until the broker grants "
            "it, asking again",
            self.host,
            self.port,
            pattern,
            why,
        )
        return False

    async def _resubscribe_refused(self, client: aiomqtt.Client) -> None:
        """Ask again for the subscriptions the broker refused on this connection, at growing
        intervals, until it grants them all; restart the link (the next node) when one is
        still refused after ``resubscribe_give_up_s``."""
        if not self.missing:
            return
        delay = self._resubscribe[0]
        while self.missing:
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, self._resubscribe[1])
            for pattern in list(self.missing):
                try:
                    await self._subscribe(client, pattern)
                except aiomqtt.MqttError:
                    return  # the connection is lost: the run loop reconnects
            if self.missing and time.time() - min(self.missing.values()) >= self._give_up_s:
                self.restart(
                    f"the broker refused the subscription to {', '.join(sorted(self.missing))} "
                    f"for {self._give_up_s:g} s"
                )
                return
        log.info("MQTT %s:%d: every subscription granted", self.host, self.port)

    def restart(self, reason: str) -> None:
        """Drop the connection and make a new one (a link that stopped delivering)."""
        if self.connected.is_set():
            self._note_lost(reason)
            self._restart.set()

    def _note_lost(self, reason: str) -> None:
        self.lost += 1
        self.last_lost = (time.time(), reason)

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Dispatch messages until the connection fails (raises) or :meth:`restart`."""
        self._restart.clear()
        reader = asyncio.create_task(self._read(client), name="mqtt-read")
        restart = asyncio.create_task(self._restart.wait(), name="mqtt-restart")
        repair = asyncio.create_task(self._resubscribe_refused(client), name="mqtt-resubscribe")
        try:
            await asyncio.wait({reader, restart}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, restart, repair):
                task.cancel()
            await asyncio.gather(reader, restart, repair, return_exceptions=True)
        if reader.done() and not reader.cancelled() and (exc := reader.exception()):
            raise exc
        log.warning("MQTT link to %s:%d restarted: %s", self.host, self.port, self.last_lost)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            await self._dispatch(message)

    async def _dispatch(self, message: aiomqtt.Message) -> None:
        echo: bool | None = None  # whether this link sent the message: found out once, if asked
        for pattern, handler, own in self._handlers:
            if message.topic.matches(pattern):
                if not own:
                    if echo is None:
                        try:
                            echo = self.sent(str(message.topic), payload_bytes(message))
                        except TypeError:
                            echo = False  # an empty payload: nothing this link sends
                    if echo:
                        continue
                try:
                    result = handler(message)
                    if result is not None:
                        await result
                except Exception:
                    log.exception("handler for %s failed on %s", pattern, message.topic)


def _digest(topic: str, data: bytes) -> bytes:
    return hashlib.blake2b(topic.encode() + b"\0" + data, digest_size=16).digest()


def payload_bytes(message: aiomqtt.Message) -> bytes:
    """A message's payload as bytes; raises TypeError for an empty or non-text payload."""
    payload = message.payload
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    raise TypeError("empty or non-text payload")


def link_from_settings(
    settings: Settings,
    client_id: str,
    will: tuple[str, bytes] | None = None,
    *,
    login: tuple[str, str] | None = None,
) -> MqttLink:
    """The link ``[mqtt]`` describes (``url = "embedded"``: the ``[broker]`` on loopback);
    ``login`` (user, password) takes the place of ``[mqtt] username`` and ``password``."""
    m = settings.mqtt
    alternates: tuple[BrokerAddress, ...] = ()
    username, password = login if login is not None else (m.username, m.password)
    tls = None
    if m.url == "embedded":
        host, port = settings.broker.host, settings.broker.port
    else:
        try:
            nodes = parse_broker_urls(m.url)
        except ValueError as exc:
            raise ConfigError(f"mqtt.url (ARS_MQTT_URL): {exc}") from None
        host, port, alternates = nodes[0].host, nodes[0].port, tuple(nodes[1:])
        if nodes[0].tls:
            tls = _tls(settings)
    return MqttLink(
        host,
        port,
        client_id=client_id,
        will=will,
        username=username,
        password=password,
        keepalive_s=m.keepalive_s,
        timeout_s=m.publish_timeout_s,
        reconnect_min_s=m.reconnect_min_s,
        reconnect_max_s=m.reconnect_max_s,
        alternates=alternates,
        echo_memory=settings.bus.echo_memory,
        tls=tls,
        resubscribe_min_s=m.resubscribe_min_s,
        resubscribe_max_s=m.resubscribe_max_s,
        resubscribe_give_up_s=m.resubscribe_give_up_s,
    )


def _tls(settings: Settings) -> aiomqtt.TLSParameters:
    """TLS for an ``mqtts://`` broker: its CA, and this client's certificate and key."""
    m = settings.mqtt
    for name, path in (("tls_ca", m.tls_ca), ("tls_cert", m.tls_cert), ("tls_key", m.tls_key)):
        if path is not None and not path.is_file():
            raise ConfigError(f"mqtt.{name} (ARS_MQTT_{name.upper()}): {path} does not exist")
    if (m.tls_cert is None) != (m.tls_key is None):
        raise ConfigError("mqtt.tls_cert and mqtt.tls_key go together: set both or neither")
    return aiomqtt.TLSParameters(
        ca_certs=str(m.tls_ca) if m.tls_ca else None,
        certfile=str(m.tls_cert) if m.tls_cert else None,
        keyfile=str(m.tls_key) if m.tls_key else None,
    )
