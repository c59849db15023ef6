"""Serial ports that look like receivers, for ``arsbridge receivers``: their USB IDs match a
receiver with IDs of its own (Beyond Question) or a board that DIY receivers are built on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SerialMatch:
    """USB IDs of a serial adapter and the drivers that may be behind it."""

    vid: int
    pid: int | None  # None: any product of this vendor
    drivers: tuple[str, ...]
    what: str


# Beyond Question is a vendor receiver with its own IDs (reference/receivers.md §3); the
# others are the USB-serial chips and boards DIY receivers are built on: iSkipper runs on
# Arduinos and Feathers with an RFM69, TurningPoint nRF24 bridges on Arduinos and FTDI cables.
SERIAL_MATCHES = (
    SerialMatch(0x0471, 0x0888, ("beyondq",), "Beyond Question receiver"),
    SerialMatch(0x2341, None, ("iskipper", "turning"), "Arduino"),
    SerialMatch(0x2A03, None, ("iskipper", "turning"), "Arduino (arduino.org)"),
    SerialMatch(0x239A, None, ("iskipper",), "Adafruit Feather (iSkipper's board)"),
    SerialMatch(0x1B4F, None, ("iskipper", "turning"), "SparkFun board"),
    SerialMatch(0x0403, 0x6001, ("turning", "iskipper"), "FTDI FT232R"),
    SerialMatch(0x0403, 0x6015, ("turning", "iskipper"), "FTDI FT231X"),
    SerialMatch(0x1A86, 0x7523, ("iskipper", "turning"), "CH340 (Arduino clone)"),
    SerialMatch(0x10C4, 0xEA60, ("iskipper", "turning"), "CP210x"),
)


@dataclass(frozen=True, slots=True)
class SerialPortInfo:
    """A serial port that looks like a known receiver."""

    device: str
    vid: int
    pid: int
    description: str
    serial_number: str | None
    drivers: tuple[str, ...]
    what: str


def match_serial(vid: int | None, pid: int | None) -> SerialMatch | None:
    """The first :data:`SERIAL_MATCHES` entry for these USB IDs, or None."""
    if vid is None or pid is None:
        return None
    for m in SERIAL_MATCHES:
        if m.vid == vid and m.pid in (None, pid):
            return m
    return None


def list_serial_receivers(ports: Iterable[Any] | None = None) -> list[SerialPortInfo]:
    """Serial ports whose USB IDs match :data:`SERIAL_MATCHES` (``ports``: pyserial's
    ``comports()`` entries; default: the ports of this machine)."""
    if ports is None:
        from serial.tools import list_ports

        ports = list_ports.comports()
    out = []
    for port in ports:
        match = match_serial(port.vid, port.pid)
        if match is not None:
            out.append(
                SerialPortInfo(
                    port.device,
                    port.vid,
                    port.pid,
                    port.description or "",
                    port.serial_number,
                    match.drivers,
                    match.what,
                )
            )
    return out
