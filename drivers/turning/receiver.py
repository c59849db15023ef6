"""A TurningPoint nRF24 serial receiver (the turning-clicker sketch) on a serial link.

The firmware acknowledges every press itself and prints the ``outgoing:`` line for it, so
the host never writes to it; those lines are counted as a health signal (``acks``), as are
boots (``boots``: one after the port opens, since opening an Arduino's port resets it; more
mean brown-outs or a loose cable).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from drivers.base import ReceiverConfigError
from drivers.serial_receiver import Decoder, SerialReceiver
from drivers.turning.codec import (
    MAX_CHANNEL,
    Acknowledgement,
    Booted,
    LineDecoder,
    RadioChannel,
)

log = logging.getLogger(__name__)

BAUDRATE = 115200  # the turning-clicker sketch's Serial.begin


def parse_channel(channel: str | None) -> int | None:
    """The configured nRF24 channel, or None; raises :class:`ReceiverConfigError` if invalid."""
    if channel is None:
        return None
    try:
        value = int(channel, 10)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_CHANNEL:
        raise ReceiverConfigError(
            f"TurningPoint channel {channel!r} is not a number from 0 to {MAX_CHANNEL}"
        )
    return value


class TurningReceiver(SerialReceiver):
    """ResponseCard presses from a turning-clicker receiver; acks and boots are only counted.

    The sketch's channel is fixed when it is flashed, so a configured ``channel`` cannot be
    set; it is checked against the channel the boot dump reports, and a mismatch is logged
    and counted (``channel_mismatch``).
    """

    family = "turning"
    default_baudrate = BAUDRATE

    def __init__(
        self,
        name: str,
        url: str,
        *,
        baudrate: int | None = None,
        channel: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, url, baudrate=baudrate, clock=clock)
        self.channel = channel
        self.radio_channel: int | None = None  # as the last boot dump reported it
        self.last_ack: float | None = None  # host clock time of the last ``outgoing:`` line

    def new_decoder(self) -> Decoder:
        return LineDecoder()

    async def on_frame(self, frame: object) -> None:
        extra = self.stats.extra
        if isinstance(frame, Acknowledgement):
            extra["acks"] = extra.get("acks", 0) + 1
            self.last_ack = self._clock()
        elif isinstance(frame, Booted):
            extra["boots"] = extra.get("boots", 0) + 1
            log.info("receiver %s booted", self.name)
        elif isinstance(frame, RadioChannel):
            self.radio_channel = frame.channel
            if self.channel is not None and frame.channel != self.channel:
                extra["channel_mismatch"] = extra.get("channel_mismatch", 0) + 1
                log.warning(
                    "receiver %s listens on channel %d, configured for %d: reflash it or "
                    "change the keypads' channel",
                    self.name,
                    frame.channel,
                    self.channel,
                )
