"""ARS-RX v1 constants, codes and the field checks every frame body applies.

Pure (no I/O). The protocol is specified in ``docs/protocols/arsrx.md``; the names here are
the ones it uses. Integers on the wire are big-endian.
"""

from __future__ import annotations

import enum
import struct
from typing import TypeVar

from drivers.base import ProtocolError

PROTOCOL_VERSION = 1  # the only version this module speaks
MAX_PAYLOAD = 64  # bytes of payload in one frame
HANDSET_ID_SIZE = 3  # bytes; shown as 6 hex digits, first byte first
MAX_KEYS = 16  # key symbols in one press (ranking and multi-select keypads send several)
MAX_TEXT = 32  # characters of DISPLAY text and of the firmware name in INFO
MAX_ERROR_TEXT = 48  # characters of the text in an ERROR event
MAX_BATTERY = 100  # percent
RSSI_UNKNOWN = -128  # wire value of RSSI (dBm, signed): the radio does not measure it
BATTERY_UNKNOWN = 0xFF  # wire value of battery (percent): the handset did not report it

# Timing, in seconds of wall-clock time on the serial link.
STATUS_PERIOD_S = 1.0  # receiver: sends STATUS at least this often
LINK_TIMEOUT_S = 3.5  # host: a receiver silent this long (3.5 STATUS periods) is lost
RESPONSE_DEADLINE_S = 0.1  # receiver: answers every command within this
COMMAND_TIMEOUT_S = 0.5  # host: waits this long for an ACK or NAK before sending again
COMMAND_ATTEMPTS = 3  # host: sends an unanswered command this many times, then fails the link
HANDSHAKE_ATTEMPTS = 6  # host: HELLO attempts; 6 x 0.5 s covers a receiver that reboots on open
KEEPALIVE_S = 2.0  # host: sends STATUS_REQUEST when it sent nothing else for this long
HOST_SILENCE_S = 10.0  # receiver: no frame from the host this long -> UNCONFIGURED

EVENT_BIT = 0x80  # set in the type byte of every receiver-to-host frame
STATUS_PAIRING = 0x01  # STATUS flags bit: pairing mode is on
HELLO_JOIN = 0x01  # HANDSET_HELLO flags bit: a join request heard in pairing mode

_HEX = frozenset("0123456789ABCDEF")
_E = TypeVar("_E", bound=enum.IntEnum)


class FrameType(enum.IntEnum):
    """The type byte: commands (host to receiver) below 0x80, events at or above it."""

    HELLO = 0x01
    STATUS_REQUEST = 0x02
    SET_CHANNEL = 0x03
    POLL_OPEN = 0x04
    POLL_CLOSE = 0x05
    PAIRING = 0x06
    PRESS_REPLY = 0x07
    DISPLAY = 0x08
    INFO = 0x81
    ACK = 0x82
    NAK = 0x83
    PRESS = 0x84
    HANDSET_HELLO = 0x85
    STATUS = 0x86
    ERROR = 0x87


class Reason(enum.IntEnum):
    """What the host tells a handset about its press (the handset shows it)."""

    ACCEPTED = 0
    CLOSED = 1
    NOT_PAIRED = 2
    INVALID_KEY = 3


class NakCode(enum.IntEnum):
    """Why a receiver refused a command."""

    UNKNOWN_COMMAND = 1
    BAD_PAYLOAD = 2
    UNSUPPORTED_VERSION = 3
    NOT_CONFIGURED = 4
    BUSY = 5
    BAD_CHANNEL = 6
    UNSUPPORTED = 7


class ErrorCode(enum.IntEnum):
    """Codes of unsolicited ERROR events; 0x80-0xFF are left to firmware authors."""

    RADIO_FAULT = 1
    QUEUE_OVERFLOW = 2
    BAD_HOST_FRAME = 3
    CARRIER = 4


class RxState(enum.IntEnum):
    """The receiver's state as STATUS reports it."""

    UNCONFIGURED = 1
    IDLE = 2
    POLLING = 3


class Capability(enum.IntFlag):
    """What a receiver can do, as INFO reports it; unknown bits are kept."""

    RECEIVER_DISPLAY = 0x0001
    HANDSET_DISPLAY = 0x0002
    PAIRING = 0x0004
    RSSI = 0x0008
    BATTERY = 0x0010
    MULTI_KEY = 0x0020


class DisplayTarget(enum.IntEnum):
    """Where DISPLAY text goes."""

    RECEIVER = 0
    HANDSETS = 1


# Field checks shared by the bodies; each raises ProtocolError naming the field.


def require(ok: bool, message: str) -> None:
    """Raise ProtocolError(message) unless ``ok``."""
    if not ok:
        raise ProtocolError(message)


def require_uint(name: str, value: int, bits: int) -> None:
    """``value`` fits an unsigned field of ``bits`` bits."""
    require(0 <= value < (1 << bits), f"{name} must be 0..{(1 << bits) - 1}, got {value}")


def as_enum(kind: type[_E], value: int) -> _E:
    """``value`` as a member of ``kind``; an unknown code is a ProtocolError."""
    try:
        return kind(value)
    except ValueError:
        raise ProtocolError(f"{value} is not a {kind.__name__} code") from None


def require_size(name: str, payload: bytes, low: int, high: int | None = None) -> None:
    """The payload of frame ``name`` is ``low`` (to ``high``) bytes long."""
    high = low if high is None else high
    want = str(low) if low == high else f"{low}..{high}"
    require(low <= len(payload) <= high, f"{name} payload must be {want} bytes, got {len(payload)}")


def require_text(name: str, value: str, limit: int) -> None:
    """``value`` is printable ASCII of at most ``limit`` characters."""
    require(len(value) <= limit, f"{name} must be at most {limit} characters, got {len(value)}")
    require(all(" " <= c <= "~" for c in value), f"{name} must be printable ASCII")


def text_from(name: str, raw: bytes, limit: int) -> str:
    """Decode a text field; the same rules as :func:`require_text`."""
    require(all(0x20 <= b <= 0x7E for b in raw), f"{name} must be printable ASCII")
    text = raw.decode("ascii")
    require_text(name, text, limit)
    return text


def require_handset(value: str) -> None:
    """``value`` is a handset ID: 6 upper-case hex digits."""
    require(
        len(value) == 2 * HANDSET_ID_SIZE and _HEX.issuperset(value),
        f"handset ID must be 6 upper-case hex digits, got {value!r}",
    )


def require_signal(rssi: int | None, battery: int | None) -> None:
    """RSSI is -127..127 dBm and battery 0..100 %, or unknown (None)."""
    require(rssi is None or -127 <= rssi <= 127, f"RSSI must be -127..127 dBm, got {rssi}")
    require(
        battery is None or 0 <= battery <= MAX_BATTERY, f"battery must be 0..100 %, got {battery}"
    )


def rssi_from(raw: int) -> int | None:
    """The RSSI a wire byte means; None for :data:`RSSI_UNKNOWN`."""
    return None if raw == RSSI_UNKNOWN else raw


def battery_from(raw: int) -> int | None:
    """The battery a wire byte means; None for :data:`BATTERY_UNKNOWN`."""
    return None if raw == BATTERY_UNKNOWN else raw


def signal_bytes(rssi: int | None, battery: int | None) -> bytes:
    """RSSI and battery as their two wire bytes."""
    rssi_byte = RSSI_UNKNOWN if rssi is None else rssi
    return struct.pack(">bB", rssi_byte, BATTERY_UNKNOWN if battery is None else battery)
