"""The tally owner's lease: one active tally at a time, a standby that takes over, fencing.

The active tally renews its lease by publishing ``ars/tally/state`` (retained) every
``renew_s``, with its instance, its epoch and its marks. A standby counts and records
everything but publishes nothing; when it has not heard the active tally for ``lease_s`` it
takes over with an epoch above any it has seen. A tally that hears an active one with a higher
epoch steps down at once, and bridges and the api ignore anything of a lower epoch, so two
tallies never publish for the same round at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

import aiomqtt

from bridge.clock import Clock, SystemClock
from bridge.mqtt.link import MqttLink, payload_bytes
from bridge.mqtt.topics import Topics
from bridge.tally.receipts import Receipts

log = logging.getLogger(__name__)


class Lease:
    """Keeps, claims or gives up the tally owner's lease."""

    def __init__(
        self,
        link: MqttLink,
        topics: Topics,
        receipts: Receipts,
        *,
        standby: bool = False,
        renew_s: float = 1.0,
        lease_s: float = 3.0,
        clock: Clock | None = None,
        on_active: Callable[[], None] | None = None,
    ) -> None:
        self._link = link
        self._topics = topics
        self._receipts = receipts
        self._renew = renew_s
        self._lease = lease_s
        self._clock = clock or SystemClock()
        self.on_active = on_active
        self._seen_epoch = 0
        self._heard_active = self._clock.time()  # a standby waits a whole lease at start
        self.takeovers = 0
        receipts.active = not standby
        link.subscribe(topics.tally_state, self._on_state)

    @property
    def active(self) -> bool:
        return self._receipts.active

    def _on_state(self, message: aiomqtt.Message) -> None:
        try:
            doc = json.loads(payload_bytes(message))
            tally, state, epoch = str(doc["tally"]), str(doc["state"]), int(doc["epoch"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring malformed tally state on %s: %s", message.topic, exc)
            return
        if tally == self._receipts.tally_id:
            return
        self._seen_epoch = max(self._seen_epoch, epoch)
        if state != "active":
            return
        if epoch >= self._receipts.epoch or not self.active:
            self._heard_active = self._clock.time()
        if self.active and epoch > self._receipts.epoch:
            log.warning("tally %s (epoch %d) holds the lease; standing by", tally, epoch)
            self._receipts.active = False

    async def run(self) -> None:
        """Renew the lease while active; take it over when the active tally falls silent."""
        while True:
            if self.active:
                await self._receipts.announce()
            elif self._clock.time() - self._heard_active >= self._lease:
                await self.take_over()
            await asyncio.sleep(self._renew)

    async def take_over(self) -> None:
        epoch = max(self._seen_epoch + 1, self._receipts.epoch + 1, int(time.time() * 1000))
        log.warning("no active tally for %.1f s: taking over with epoch %d", self._lease, epoch)
        self._receipts.epoch = epoch
        self._receipts.active = True
        self.takeovers += 1
        await self._receipts.announce()
        if self.on_active is not None:
            self.on_active()
