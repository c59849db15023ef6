"""ARS-RX v1 frame bodies: every command and event type, and parsing a body by its type byte.

Pure (no I/O). The bodies live in :mod:`drivers.arsrx.commands` and
:mod:`drivers.arsrx.events`; the envelope around them (header, CRC, COBS) is
:mod:`drivers.arsrx.codec`. This module is the one import point for all of them.
"""

from __future__ import annotations

from drivers.arsrx.commands import (
    Display,
    Hello,
    Pairing,
    PollClose,
    PollOpen,
    PressReply,
    SetChannel,
    StatusRequest,
)
from drivers.arsrx.events import (
    CommandAck,
    CommandNak,
    ErrorEvent,
    HandsetHello,
    PressEvent,
    ReceiverInfo,
    Status,
)
from drivers.arsrx.spec import EVENT_BIT, FrameType
from drivers.base import ProtocolError

__all__ = [
    "BODIES",
    "COMMANDS",
    "EVENTS",
    "Body",
    "Command",
    "CommandAck",
    "CommandNak",
    "Display",
    "ErrorEvent",
    "Event",
    "HandsetHello",
    "Hello",
    "Pairing",
    "PollClose",
    "PollOpen",
    "PressEvent",
    "PressReply",
    "ReceiverInfo",
    "SetChannel",
    "Status",
    "StatusRequest",
    "parse_body",
]

Command = Hello | StatusRequest | SetChannel | PollOpen | PollClose | Pairing | PressReply | Display
Event = ReceiverInfo | CommandAck | CommandNak | PressEvent | HandsetHello | Status | ErrorEvent
Body = Command | Event

BODIES: dict[FrameType, type[Body]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        StatusRequest,
        SetChannel,
        PollOpen,
        PollClose,
        Pairing,
        PressReply,
        Display,
        ReceiverInfo,
        CommandAck,
        CommandNak,
        PressEvent,
        HandsetHello,
        Status,
        ErrorEvent,
    )
}
COMMANDS = frozenset(t for t in FrameType if not t & EVENT_BIT)  # host to receiver
EVENTS = frozenset(t for t in FrameType if t & EVENT_BIT)  # receiver to host


def parse_body(frame_type: int, payload: bytes) -> Body:
    """The body of a frame of type ``frame_type``; raises ProtocolError for a bad payload."""
    try:
        kind = BODIES[FrameType(frame_type)]
    except ValueError:
        raise ProtocolError(f"unknown frame type 0x{frame_type:02X}") from None
    return kind.from_bytes(payload)
