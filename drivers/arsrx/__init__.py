"""ARS-RX: the project's own open receiver protocol (``docs/protocols/arsrx.md``).

Binary frames with COBS framing and a CRC-16 over a serial line or TCP; the receiver reports
presses with sequence number, RSSI and battery, and the host answers every press so that the
handset can show whether it counted.
"""

from __future__ import annotations

from collections.abc import Iterable

from drivers.arsrx.codec import CaptureDecoder
from drivers.arsrx.receiver import ArsRxReceiver

FAMILY = "arsrx"
SUMMARY = "ARS-RX open receiver protocol (binary frames, per-press ACK/NAK), serial or TCP"


def create_receiver(
    name: str, url: str, *, baudrate: int | None = None, channel: str | None = None
) -> ArsRxReceiver:
    """An ARS-RX receiver at ``url``; ``channel`` (a number) is tuned after the handshake."""
    return ArsRxReceiver(name, url, baudrate=baudrate, channel=channel)


def decode_capture(data: bytes) -> Iterable[object]:
    """Decode raw bytes captured from the receiver-to-host direction of a link."""
    return CaptureDecoder().feed(data)
