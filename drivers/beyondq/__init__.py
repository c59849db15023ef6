"""Beyond Question keypads through the vendor's CDC-ACM receiver (0471:0888, 38400 baud).

Handset IDs are the keypads' 21-bit radio IDs as 6 hex digits; buttons 0 and A-J are votes,
the other known buttons are presence (see :mod:`drivers.beyondq.codec`).
"""

from __future__ import annotations

from collections.abc import Iterable

from drivers.base import Receiver, ReceiverConfigError
from drivers.beyondq.codec import decode_all
from drivers.beyondq.receiver import USB_PRODUCT_ID, USB_VENDOR_ID, BeyondQReceiver

FAMILY = "beyondq"
SUMMARY = "Beyond Question receiver (USB CDC-ACM 0471:0888, 38400 baud)"

__all__ = [
    "FAMILY",
    "SUMMARY",
    "USB_PRODUCT_ID",
    "USB_VENDOR_ID",
    "BeyondQReceiver",
    "create_receiver",
    "decode_capture",
]


def create_receiver(
    name: str, url: str, *, baudrate: int | None = None, channel: str | None = None
) -> Receiver:
    """A receiver on ``url``; a ``channel`` is refused, since this receiver has no setting."""
    if channel is not None:
        raise ReceiverConfigError(
            f"receiver {name}: the Beyond Question receiver has no channel to set "
            f"(got {channel!r}); remove it from the configuration"
        )
    return BeyondQReceiver(name, url, baudrate=baudrate)


def decode_capture(data: bytes) -> Iterable[object]:
    """The frames in a raw byte capture of the receiver's output."""
    return decode_all(data)
