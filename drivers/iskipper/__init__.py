"""iSkipper receivers: an Arduino with an RFM69 radio listening to i>clicker remotes."""

from __future__ import annotations

from collections.abc import Iterable

from drivers.base import Receiver
from drivers.iskipper import codec
from drivers.iskipper.receiver import IskipperReceiver

FAMILY = "iskipper"
SUMMARY = "iSkipper (Arduino + RFM69) serial receiver for i>clicker remotes, 115200 baud"

__all__ = ["FAMILY", "SUMMARY", "IskipperReceiver", "create_receiver", "decode_capture"]


def create_receiver(
    name: str, url: str, *, baudrate: int | None = None, channel: str | None = None
) -> Receiver:
    """An iSkipper receiver on ``url`` (device path or ``socket://``); a bad channel raises."""
    return IskipperReceiver(name, url, baudrate=baudrate, channel=channel)


def decode_capture(data: bytes) -> Iterable[object]:
    """Every frame of a recorded iSkipper serial capture, in order."""
    return codec.decode_capture(data)
