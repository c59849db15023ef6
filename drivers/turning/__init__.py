"""TurningPoint ResponseCard keypads through an nRF24 serial receiver (turning-clicker).

Handset IDs are the 6 hex digits printed on the card; the serial line shows them byte-
reversed (see :mod:`drivers.turning.codec`). Keys 1-9, 0 are options A-J; ``?`` stays ``?``.
"""

from __future__ import annotations

from collections.abc import Iterable

from drivers.base import Receiver
from drivers.turning.codec import decode_all
from drivers.turning.receiver import TurningReceiver, parse_channel

FAMILY = "turning"
SUMMARY = "TurningPoint ResponseCard via an nRF24 serial receiver (turning-clicker, 115200 baud)"

__all__ = ["FAMILY", "SUMMARY", "TurningReceiver", "create_receiver", "decode_capture"]


def create_receiver(
    name: str, url: str, *, baudrate: int | None = None, channel: str | None = None
) -> Receiver:
    """A receiver on ``url``; ``channel`` (nRF24 RF_CH, e.g. ``"41"``) is checked, not set."""
    return TurningReceiver(name, url, baudrate=baudrate, channel=parse_channel(channel))


def decode_capture(data: bytes) -> Iterable[object]:
    """The frames in a text capture of the receiver's serial output."""
    return decode_all(data)
