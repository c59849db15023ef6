"""The i>clicker bases plugged in, for ``arsbridge receivers``.

Listing never raises for one device that cannot be read: its strings come back as None with
the reason in ``error`` (on Linux, usually the missing udev rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import usb.core

from drivers.base import ReceiverConfigError
from drivers.iclicker.codec import Generation
from drivers.iclicker.transport import (
    UDEV_HINT,
    default_backend,
    dispose,
    find_bases,
    read_identity,
)


@dataclass(frozen=True, slots=True)
class BaseInfo:
    """One i>clicker base on the bus; ``url`` is what ``[[receivers]] url`` takes."""

    bus: int | None
    address: int | None  # changes with every replug; ``url`` names the port instead
    serial_number: str | None  # real v2 bases have none (iSerialNumber 0 in the snoop log)
    generation: Generation | None  # None: the manufacturer string could not be read
    manufacturer: str | None
    product: str | None
    url: str
    error: str = ""


def list_bases(backend: Any = None) -> list[BaseInfo]:
    """The i>clicker bases (1881:0150) on ``backend`` (default: libusb1 from libusb-package).

    Raises :class:`ReceiverConfigError` when no libusb backend can be loaded at all.
    """
    if backend is None:
        backend = default_backend()
    out = []
    try:
        devices = find_bases(backend)
    except usb.core.NoBackendError as exc:
        raise ReceiverConfigError(str(exc)) from None
    for dev in devices:
        ident = read_identity(dev)
        dispose(dev)
        error = "" if ident.manufacturer is not None else f"cannot read its strings; {UDEV_HINT}"
        out.append(
            BaseInfo(
                ident.bus,
                ident.address,
                ident.serial_number,
                ident.generation,
                ident.manufacturer,
                ident.product,
                ident.url,
                error,
            )
        )
    return out
