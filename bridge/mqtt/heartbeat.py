"""A beat through the broker: a link whose own beats stop coming back is restarted.

A connection can look up (no error, keepalives answered) and still deliver nothing: the
broker dropped its subscriptions when another client took its session over, say. Every
``interval_s`` the link publishes a numbered beat on ``{base}/link/{client_id}`` and
subscribes to it; when ``misses`` beats in a row have not come back, the link is reported
degraded and reconnected (which subscribes again). While the broker refuses the beat's own
subscription, the link is already asking for it again (:attr:`MqttLink.missing`): no beat
could come back, so none is sent or counted, and the link is not reconnected for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiomqtt

from bridge.clock import Clock, TimerHandle
from bridge.mqtt.link import MqttLink, payload_bytes

log = logging.getLogger(__name__)


class Heartbeat:
    """Beats for one link, timed by ``clock``."""

    def __init__(
        self, link: MqttLink, topic: str, *, interval_s: float, misses: int, clock: Clock
    ) -> None:
        self._link = link
        self.topic = topic
        self._interval = interval_s
        self._misses = misses
        self._clock = clock
        self.sent = 0
        self.heard = 0
        self.degraded: str | None = None  # why, while beats are not coming back
        self.restarts = 0
        self._timer: TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        link.subscribe(topic, self._echo)

    def start(self) -> None:
        """Beat every ``interval_s`` from now on, until :meth:`stop`."""
        self._timer = self._clock.call_at(self._clock.time() + self._interval, self._beat)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in self._sending:
            task.cancel()

    def _beat(self) -> None:
        self._timer = self._clock.call_at(self._clock.time() + self._interval, self._beat)
        if not self._link.connected.is_set() or self.topic in self._link.missing:
            self.heard = self.sent  # a new connection (or subscription) starts counting again
            return
        missing = self.sent - self.heard
        if missing >= self._misses:
            self.degraded = f"{missing} heartbeats through the broker did not come back"
            log.warning("MQTT link: %s; reconnecting", self.degraded)
            self.restarts += 1
            self.heard = self.sent
            self._link.restart(self.degraded)
            return
        self.sent += 1
        task = asyncio.create_task(self._send(self.sent), name="heartbeat")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, n: int) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            await self._link.publish(self.topic, str(n), qos=0)

    def _echo(self, message: aiomqtt.Message) -> None:
        try:
            n = int(payload_bytes(message))
        except (TypeError, ValueError):
            return
        if n <= self.sent:
            self.heard = max(self.heard, n)
            if self.degraded is not None and self.heard == self.sent:
                log.info("MQTT link: heartbeats come back again")
                self.degraded = None

    def report(self) -> dict[str, object]:
        return {
            "sent": self.sent,
            "heard": self.heard,
            "degraded": self.degraded,
            "restarts": self.restarts,
        }
