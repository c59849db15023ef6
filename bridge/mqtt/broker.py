"""The embedded MQTT broker: amqtt inside the service, on loopback, for zero-install events.

It speaks MQTT 3.1.1 and keeps retained messages in memory only; the service republishes
its retained topics after every reconnect, so nothing depends on the broker persisting them.
amqtt accepts connections with ``asyncio.start_server``, whose sockets have Nagle's algorithm
off (TCP_NODELAY), so a vote batch or a tally is passed on at once, not held for an ACK.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from types import TracebackType

from amqtt.broker import Broker
from amqtt.errors import BrokerError

log = logging.getLogger(__name__)


class BrokerStartError(Exception):
    """The embedded broker could not listen; the message names the address and the setting."""


class EmbeddedBroker:
    """An amqtt broker bound to ``host:port`` while the context is entered."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 1884, *, max_connections: int = 200
    ) -> None:
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self._broker: Broker | None = None

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen on ``host:port``; raises :class:`BrokerStartError` when the port is taken."""
        _check_free(self.host, self.port)
        # amqtt logs every connection at INFO; a live event needs only its warnings.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        config = {
            "listeners": {
                "default": {
                    "type": "tcp",
                    "bind": f"{self.host}:{self.port}",
                    "max_connections": self.max_connections,
                },
            },
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        broker = Broker(config)
        try:
            await broker.start()
        except BrokerError as exc:
            raise BrokerStartError(
                f"embedded MQTT broker cannot start on {self.host}:{self.port}: {exc}; "
                "set [broker] port (ARS_BROKER_PORT)"
            ) from None
        self._broker = broker
        log.info("embedded MQTT broker listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            with contextlib.suppress(BrokerError):
                await broker.shutdown()

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def _check_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise BrokerStartError(
                f"embedded MQTT broker cannot listen on {host}:{port} ({reason}); "
                "set [broker] port (ARS_BROKER_PORT), or use the broker that runs there "
                f"with ARS_MQTT_URL=mqtt://{host}:{port}"
            ) from None
