"""Driver names, as used in configuration and on the command line, and how to load them.

Each driver package exposes the module-level names of :class:`DriverModule`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Protocol, cast

from drivers.base import Receiver


class DriverModule(Protocol):
    """What a driver package provides to the service and to ``arsbridge replay``."""

    FAMILY: str
    SUMMARY: str

    def create_receiver(
        self, name: str, url: str, *, baudrate: int | None = None, channel: str | None = None
    ) -> Receiver: ...

    def decode_capture(self, data: bytes) -> Iterable[object]: ...


DRIVERS: dict[str, str] = {
    "iskipper": "drivers.iskipper",
    "iclicker-usb": "drivers.iclicker",
    "turning": "drivers.turning",
    "beyondq": "drivers.beyondq",
    "arsrx": "drivers.arsrx",
}


class UnknownDriver(LookupError):
    """A driver name that is not one of :data:`DRIVERS`."""


def load_driver(name: str) -> DriverModule:
    """The driver package for ``name``; raises :class:`UnknownDriver` naming the known ones."""
    module = DRIVERS.get(name)
    if module is None:
        known = ", ".join(sorted(DRIVERS))
        raise UnknownDriver(f"unknown driver {name!r}; known drivers: {known}")
    try:
        return cast(DriverModule, importlib.import_module(module))
    except ModuleNotFoundError as exc:
        if exc.name == module:
            raise UnknownDriver(f"driver {name!r} is not installed in this build") from None
        raise
