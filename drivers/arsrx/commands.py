"""ARS-RX v1 commands, host to receiver: one frozen dataclass per type, payload in and out."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self

from drivers.arsrx.spec import (
    MAX_PAYLOAD,
    MAX_TEXT,
    PROTOCOL_VERSION,
    DisplayTarget,
    FrameType,
    Reason,
    as_enum,
    require,
    require_handset,
    require_size,
    require_text,
    require_uint,
    text_from,
)


@dataclass(frozen=True, slots=True)
class Hello:
    """Start a session: the protocol versions the host speaks, lowest and highest."""

    TYPE: ClassVar[FrameType] = FrameType.HELLO
    min_version: int = PROTOCOL_VERSION
    max_version: int = PROTOCOL_VERSION

    def __post_init__(self) -> None:
        require(1 <= self.min_version <= self.max_version <= 0xFF, "need 1 <= min <= max <= 255")

    def to_bytes(self) -> bytes:
        return bytes((self.min_version, self.max_version))

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        # Later versions may append fields to HELLO; a v1 reader ignores them.
        require_size("HELLO", payload, 2, MAX_PAYLOAD)
        return cls(payload[0], payload[1])


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """Ask for a STATUS event now; also the host's keepalive."""

    TYPE: ClassVar[FrameType] = FrameType.STATUS_REQUEST

    def to_bytes(self) -> bytes:
        return b""

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        require_size("STATUS_REQUEST", payload, 0)
        return cls()


@dataclass(frozen=True, slots=True)
class SetChannel:
    """Tune the radio to ``channel`` (the radio's own numbering; nRF24: 0..125)."""

    TYPE: ClassVar[FrameType] = FrameType.SET_CHANNEL
    channel: int

    def __post_init__(self) -> None:
        require_uint("channel", self.channel, 8)

    def to_bytes(self) -> bytes:
        return bytes((self.channel,))

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        require_size("SET_CHANNEL", payload, 1)
        return cls(payload[0])


@dataclass(frozen=True, slots=True)
class PollOpen:
    """Voting is open for round ``round``; handsets may offer keys 1..``options`` (0: any)."""

    TYPE: ClassVar[FrameType] = FrameType.POLL_OPEN
    round: int
    options: int = 0

    def __post_init__(self) -> None:
        require_uint("round", self.round, 16)
        require_uint("options", self.options, 8)

    def to_bytes(self) -> bytes:
        return struct.pack(">HB", self.round, self.options)

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        require_size("POLL_OPEN", payload, 3)
        return cls(*struct.unpack(">HB", payload))


@dataclass(frozen=True, slots=True)
class PollClose:
    """Voting for round ``round`` is closed."""

    TYPE: ClassVar[FrameType] = FrameType.POLL_CLOSE
    round: int

    def __post_init__(self) -> None:
        require_uint("round", self.round, 16)

    def to_bytes(self) -> bytes:
        return struct.pack(">H", self.round)

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        require_size("POLL_CLOSE", payload, 2)
        return cls(*struct.unpack(">H", payload))


@dataclass(frozen=True, slots=True)
class Pairing:
    """Turn pairing mode on or off."""

    TYPE: ClassVar[FrameType] = FrameType.PAIRING
    enabled: bool

    def to_bytes(self) -> bytes:
        return bytes((int(self.enabled),))

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        require_size("PAIRING", payload, 1)
        require(payload[0] in (0, 1), f"PAIRING must be 0 or 1, got {payload[0]}")
        return cls(payload[0] == 1)


@dataclass(frozen=True, slots=True)
class PressReply:
    """Tell ``handset`` what became of its press ``press_seq``: accepted or refused, and why."""

    TYPE: ClassVar[FrameType] = FrameType.PRESS_REPLY
    handset: str
    press_seq: int
    reason: Reason

    def __post_init__(self) -> None:
        require_handset(self.handset)
        require_uint("press_seq", self.press_seq, 8)

    def to_bytes(self) -> bytes:
        return bytes.fromhex(self.handset) + bytes((self.press_seq, self.reason))

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        require_size("PRESS_REPLY", payload, 5)
        return cls(payload[:3].hex().upper(), payload[3], as_enum(Reason, payload[4]))


@dataclass(frozen=True, slots=True)
class Display:
    """Show ``text`` on the receiver's display or on every handset's."""

    TYPE: ClassVar[FrameType] = FrameType.DISPLAY
    target: DisplayTarget
    text: str

    def __post_init__(self) -> None:
        require_text("DISPLAY text", self.text, MAX_TEXT)

    def to_bytes(self) -> bytes:
        return bytes((self.target,)) + self.text.encode("ascii")

    @classmethod
    def from_bytes(cls, payload: bytes) -> Self:
        require_size("DISPLAY", payload, 1, 1 + MAX_TEXT)
        text = text_from("DISPLAY text", payload[1:], MAX_TEXT)
        return cls(as_enum(DisplayTarget, payload[0]), text)
