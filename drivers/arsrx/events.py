"""ARS-RX v1 events, receiver to host: one frozen dataclass per type, payload in and out."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self

from drivers.arsrx.spec import (
    HELLO_JOIN,
    MAX_ERROR_TEXT,
    MAX_KEYS,
    MAX_TEXT,
    STATUS_PAIRING,
    Capability,
    FrameType,
    RxState,
    as_enum,
    battery_from,
    require,
    require_handset,
    require_signal,
    require_size,
    require_text,
    require_uint,
    rssi_from,
    signal_bytes,
    text_from,
)

_INFO = struct.Struct(">BBBHHBBI")


@dataclass(frozen=True, slots=True)
class ReceiverInfo:
    """The answer to HELLO: the version chosen (0: none in common) and what the receiver is."""

    TYPE: ClassVar[FrameType] = FrameType.INFO
    version: int
    min_version: int
    max_version: int
    capabilities: Capability
    max_handsets: int
    queue_capacity: int
    channel: int
    uid: int
    firmware: str

    def __post_init__(self) -> None:
        for name, bits in (
            ("version", 8),
            ("min_version", 8),
            ("max_version", 8),
            ("capabilities", 16),
            ("max_handsets", 16),
            ("queue_capacity", 8),
            ("channel", 8),
            ("uid", 32),
        ):
            require_uint(name, int(getattr(self, name)), bits)
        require_text("firmware", self.firmware, MAX_TEXT)

    def to_bytes(self) -> bytes:
        head = _INFO.pack(
            self.version,
            self.min_version,
            self.max_version,
            self.capabilities,
            self.max_handsets,
            self.queue_capacity,
            self.channel,
            self.uid,
        )
        return head + self.firmware.encode("ascii")

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        require_size("INFO", payload, _INFO.size, _INFO.size + MAX_TEXT)
        version, low, high, caps, handsets, queue, channel, uid = _INFO.unpack_from(payload)
        firmware = text_from("firmware", payload[_INFO.size :], MAX_TEXT)
        return cls(version, low, high, Capability(caps), handsets, queue, channel, uid, firmware)


@dataclass(frozen=True, slots=True)
class CommandAck:
    """The receiver carried out the command with frame sequence ``command_seq``."""

    TYPE: ClassVar[FrameType] = FrameType.ACK
    command_seq: int
    command: int  # the type byte of that command

    def __post_init__(self) -> None:
        require_uint("command_seq", self.command_seq, 8)
        require_uint("command", self.command, 8)

    def to_bytes(self) -> bytes:
        return bytes((self.command_seq, self.command))

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        require_size("ACK", payload, 2)
        return cls(payload[0], payload[1])


@dataclass(frozen=True, slots=True)
class CommandNak:
    """The receiver refused the command with frame sequence ``command_seq``; ``code`` says why."""

    TYPE: ClassVar[FrameType] = FrameType.NAK
    command_seq: int
    command: int
    code: int  # a NakCode, or a firmware-specific value

    def __post_init__(self) -> None:
        require_uint("command_seq", self.command_seq, 8)
        require_uint("command", self.command, 8)
        require_uint("code", self.code, 8)

    def to_bytes(self) -> bytes:
        return bytes((self.command_seq, self.command, self.code))

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        require_size("NAK", payload, 3)
        return cls(payload[0], payload[1], payload[2])


@dataclass(frozen=True, slots=True)
class PressEvent:
    """A handset's press as heard: its ID, press number, keys, and how it sounded."""

    TYPE: ClassVar[FrameType] = FrameType.PRESS
    handset: str
    press_seq: int
    keys: str
    rssi: int | None = None  # dBm
    battery: int | None = None  # percent

    def __post_init__(self) -> None:
        require_handset(self.handset)
        require_uint("press_seq", self.press_seq, 8)
        require(1 <= len(self.keys) <= MAX_KEYS, f"a press carries 1..{MAX_KEYS} keys")
        require(all("!" <= c <= "~" for c in self.keys), "keys must be printable ASCII, no space")
        require_signal(self.rssi, self.battery)

    def to_bytes(self) -> bytes:
        head = bytes.fromhex(self.handset) + bytes((self.press_seq,))
        return head + signal_bytes(self.rssi, self.battery) + self.keys.encode("ascii")

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        require_size("PRESS", payload, 7, 6 + MAX_KEYS)
        rssi, battery = struct.unpack_from(">bB", payload, 4)
        keys = payload[6:]
        require(all(0x21 <= b <= 0x7E for b in keys), "keys must be printable ASCII, no space")
        return cls(
            payload[:3].hex().upper(),
            payload[3],
            keys.decode("ascii"),
            rssi_from(rssi),
            battery_from(battery),
        )


@dataclass(frozen=True, slots=True)
class HandsetHello:
    """A handset announced itself (power-on, presence, or a join request in pairing mode)."""

    TYPE: ClassVar[FrameType] = FrameType.HANDSET_HELLO
    handset: str
    join: bool = False
    rssi: int | None = None
    battery: int | None = None

    def __post_init__(self) -> None:
        require_handset(self.handset)
        require_signal(self.rssi, self.battery)

    def to_bytes(self) -> bytes:
        flags = HELLO_JOIN if self.join else 0
        return bytes.fromhex(self.handset) + bytes((flags,)) + signal_bytes(self.rssi, self.battery)

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        require_size("HANDSET_HELLO", payload, 6)
        rssi, battery = struct.unpack_from(">bB", payload, 4)
        return cls(
            payload[:3].hex().upper(),
            bool(payload[3] & HELLO_JOIN),
            rssi_from(rssi),
            battery_from(battery),
        )


_STATUS = struct.Struct(">BBBHBIIIIII")


@dataclass(frozen=True, slots=True)
class Status:
    """The receiver's state and counters (counters are 32-bit and wrap)."""

    TYPE: ClassVar[FrameType] = FrameType.STATUS
    state: RxState
    pairing: bool
    channel: int
    round: int
    queue_depth: int  # events waiting to go to the host
    uptime_s: int
    heard: int  # radio packets received with a good radio CRC
    crc_errors: int  # radio packets dropped for a bad CRC
    queue_overflows: int  # events dropped because the queue to the host was full
    ack_drops: int  # PRESS_REPLYs dropped because the radio's send queue was full
    host_errors: int  # frames from the host that failed COBS, CRC or layout checks

    def __post_init__(self) -> None:
        for name in ("channel", "queue_depth"):
            require_uint(name, getattr(self, name), 8)
        require_uint("round", self.round, 16)
        for name in (
            "uptime_s",
            "heard",
            "crc_errors",
            "queue_overflows",
            "ack_drops",
            "host_errors",
        ):
            require_uint(name, getattr(self, name), 32)

    def to_bytes(self) -> bytes:
        flags = STATUS_PAIRING if self.pairing else 0
        return _STATUS.pack(
            self.state,
            flags,
            self.channel,
            self.round,
            self.queue_depth,
            self.uptime_s,
            self.heard,
            self.crc_errors,
            self.queue_overflows,
            self.ack_drops,
            self.host_errors,
        )

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        require_size("STATUS", payload, _STATUS.size)
        state, flags, *rest = _STATUS.unpack(payload)
        return cls(as_enum(RxState, state), bool(flags & STATUS_PAIRING), *rest)


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """Something went wrong in the receiver; ``code`` is an ErrorCode or a firmware value."""

    TYPE: ClassVar[FrameType] = FrameType.ERROR
    code: int
    text: str = ""

    def __post_init__(self) -> None:
        require_uint("code", self.code, 8)
        require_text("ERROR text", self.text, MAX_ERROR_TEXT)

    def to_bytes(self) -> bytes:
        return bytes((self.code,)) + self.text.encode("ascii")

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        require_size("ERROR", payload, 1, 1 + MAX_ERROR_TEXT)
        return cls(payload[0], text_from("ERROR text", payload[1:], MAX_ERROR_TEXT))
