"""amqtt as the embedded broker when Mosquitto is not installed: role users, topic ACLs, and
retained messages only for the subscriptions a client makes.

amqtt 0.12 sends a connecting client the retained messages of every filter any client has
subscribed to (``Broker._handle_client_session`` walks all subscriptions); MQTT 3.1.1
(3.3.1.3) sends them only for the client's own new subscriptions. :class:`RoleBroker` fixes
that by sending retained messages only to a session that holds the subscription, and only
those the session's user may read. amqtt's broker also ignores a client whose keepalive has
lapsed (``BrokerProtocolHandler.handle_read_timeout`` does nothing); MQTT 3.1.1 (3.1.2.10)
says the broker disconnects it, which publishes its will: :class:`KeepaliveHandler` does,
and keeps an unacknowledged QoS 1 message for the session's reconnection (amqtt drops it).
And amqtt ends (or changes) the session that holds a client ID before it checks the
password of a client connecting with that ID, so anyone who reaches it could cut a client
off: :class:`RoleBroker` checks first.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from dataclasses import dataclass, field
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import AMQTTError, BrokerError, MQTTError
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import OUTGOING, Session
from amqtt.utils import gen_client_id

from bridge.mqtt.access import Grant, permitted

log = logging.getLogger(__name__)

PUBACK_TIMEOUT_S = (
    5  # amqtt's wait for a client's PUBACK; after it, the message waits for a reconnect
)


class RoleAuth(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no type information
    """Lets in the configured users with their passwords; nobody anonymous."""

    @dataclass
    class Config:
        users: dict[str, str] = field(default_factory=dict)

    async def authenticate(self, *, session: Session) -> bool:
        users: dict[str, str] = self.config.users
        expected = users.get(session.username or "")
        given = (session.password or "").encode()
        return expected is not None and hmac.compare_digest(given, expected.encode())


class RoleTopics(BaseTopicPlugin):  # type: ignore[misc]  # amqtt ships no type information
    """Each user publishes, subscribes and receives within its grant."""

    @dataclass
    class Config:
        publish: dict[str, list[str]] = field(default_factory=dict)
        subscribe: dict[str, list[str]] = field(default_factory=dict)

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool:
        if session is None or topic is None:
            return False
        user = session.username or ""
        table: dict[str, list[str]] = (
            self.config.publish if action == Action.PUBLISH else self.config.subscribe
        )
        return permitted(table.get(user, ()), topic)


class KeepaliveHandler(BrokerProtocolHandler):  # type: ignore[misc]  # amqtt: no types
    """A client silent for its keepalive is gone: the broker ends it as if its link broke.
    A QoS 1 message sent to a client stays in its session until the client acknowledges it,
    so that a persistent session gets it again when it reconnects (MQTT 3.1.1, 4.4)."""

    async def _handle_qos1_message_flow(self, app_message: Any) -> None:
        if app_message.direction != OUTGOING or self.session is None:
            await super()._handle_qos1_message_flow(app_message)
            return
        inflight = self.session.inflight_out
        packet_id = app_message.packet_id
        inflight.setdefault(packet_id, app_message)
        retry = app_message.publish_packet is not None
        packet = app_message.build_publish_packet(dup=retry)
        await self._send_packet(packet)
        app_message.publish_packet = packet
        waiter: asyncio.Future[Any] = asyncio.Future()
        self._puback_waiters[packet_id] = waiter
        try:
            app_message.puback_packet = await asyncio.wait_for(waiter, timeout=PUBACK_TIMEOUT_S)
        finally:
            self._puback_waiters.pop(packet_id, None)
        inflight.pop(packet_id, None)  # only once acknowledged (amqtt drops it either way)

    def handle_read_timeout(self) -> None:
        task = asyncio.ensure_future(self.handle_connection_closed())
        _LAPSED.add(task)
        task.add_done_callback(_LAPSED.discard)


_LAPSED: set[asyncio.Future[None]] = set()  # keeps the tasks alive until they are done


class RoleBroker(Broker):  # type: ignore[misc]  # amqtt ships no type information
    """amqtt's broker, with retained messages and keepalive as MQTT 3.1.1 says."""

    async def _initialize_client_session(
        self, reader: Any, writer: Any, remote_address: str, remote_port: int
    ) -> tuple[Any, Session]:
        """amqtt's, with the client authenticated on its CONNECT before anything of a
        session with the same client ID is ended or changed (amqtt does it after)."""
        try:
            handler, session = await KeepaliveHandler.init_from_connect(
                reader, writer, self.plugins_manager
            )
        except MQTTError:
            await writer.close()  # a malformed CONNECT: nothing more to say to it
            raise
        if not await self._authenticate(session, None):
            handler.attach(session, reader, writer)
            await handler.mqtt_connack_authorize(False)
            await writer.close()
            raise AMQTTError(f"client {session.client_id!r} refused: not authorised")
        # From here on as amqtt 0.12.1 does it.
        if session.clean_session:
            if session.client_id:
                await self._delete_session(session.client_id)
            else:
                session.client_id = gen_client_id()
            session.parent = 0
        elif session.client_id in self._sessions:
            existing, _ = self._sessions[session.client_id]
            for name in ("will_flag", "will_message", "will_topic", "will_qos", "keep_alive"):
                setattr(existing, name, getattr(session, name))
            existing.username, existing.password = session.username, session.password
            session = existing
            session.parent = 1
        else:
            session.parent = 0
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        return handler, session

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        topic_filter, qos = subscription
        holders = self._subscriptions.get(topic_filter, [])
        if not any(held is session for held, _ in holders):
            return  # another client's subscription: nothing of it is this client's
        handler = self._get_handler(session)
        if handler is None:
            return
        sends = []
        for topic, retained in list(self._retained_messages.items()):
            if not self._matches(topic, topic_filter):
                continue
            if not await self._topic_filtering(session, topic=topic, action=Action.RECEIVE):
                continue
            sends.append(
                asyncio.ensure_future(
                    handler.mqtt_publish(
                        retained.topic, retained.data, min(qos, retained.qos or qos), retain=True
                    )
                )
            )
        if sends:
            await asyncio.wait(sends)


async def start_amqtt(
    host: str,
    port: int,
    max_connections: int,
    passwords: dict[str, str],
    grants: dict[str, Grant],
) -> Broker:
    """A running :class:`RoleBroker`; raises BrokerError when it cannot listen."""
    # amqtt logs every connection at INFO; a live event needs only its warnings.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    config: dict[str, Any] = {
        "listeners": {
            "default": {
                "type": "tcp",
                "bind": f"{host}:{port}",
                "max_connections": max_connections,
            },
        },
        "plugins": {
            f"{__name__}.RoleAuth": {"users": dict(passwords)},
            f"{__name__}.RoleTopics": {
                "publish": {u: sorted(g.publish) for u, g in grants.items()},
                "subscribe": {u: sorted(g.subscribe) for u, g in grants.items()},
            },
        },
    }
    broker = RoleBroker(config)
    await broker.start()
    return broker


async def stop_amqtt(broker: Broker) -> None:
    with contextlib.suppress(BrokerError):
        await broker.shutdown()
