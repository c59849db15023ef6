"""i>clicker base stations (i>clicker 1 / i>clicker+ / iClicker 2) over USB HID 1881:0150.

Receiver URLs: ``usb`` (the first base found), ``usb:BUS-PORT[.PORT…]`` (a physical port, as
``arsbridge receivers`` lists it; stable across replugs), ``usb:BUS:ADDRESS`` (changes with
every replug) or ``usb:SERIAL``, optionally with ``?generation=v1|v2``. The channel is AA to DD
(default AA). Captures for ``arsbridge replay`` are hex dumps (see :mod:`.capture`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drivers.base import Receiver
from drivers.iclicker import capture
from drivers.iclicker.detect import BaseInfo, list_bases
from drivers.iclicker.receiver import PACING, IClickerReceiver, Pacing

FAMILY = "iclicker-usb"
SUMMARY = "i>clicker / iClicker 2 base station (USB HID 1881:0150, pyusb)"

__all__ = [
    "FAMILY",
    "PACING",
    "SUMMARY",
    "BaseInfo",
    "IClickerReceiver",
    "Pacing",
    "create_receiver",
    "decode_capture",
    "list_bases",
]


def create_receiver(
    name: str,
    url: str,
    *,
    baudrate: int | None = None,
    channel: str | None = None,
    backend: Any = None,
) -> Receiver:
    """A base named by ``url`` on ``backend`` (default libusb1); a bad URL or channel raises.

    ``baudrate`` is accepted for the common signature and ignored: the base is USB HID.
    """
    return IClickerReceiver(name, url or "usb", channel=channel, backend=backend)


def decode_capture(data: bytes) -> Iterable[object]:
    """Every frame of a hex dump of a base's reports, through the driver's response filter."""
    return capture.decode_capture(data)
