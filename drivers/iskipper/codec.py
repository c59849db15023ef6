"""The iSkipper serial wire, both directions, without I/O.

Two firmwares put an RFM69 on an Arduino and print what they hear from i>clicker remotes:

- the iSkipper ``capture`` sketch (wizard97/iSkipper) prints ``Captured: A (42, 80, 71, B3)``
  and, from its radio code, one debug line per packet (the packet's fourth byte in hex, e.g.
  ``3D``); it needs no command from the host;
- iSkipper-Software (charlescao460) prints ``Captured,A,428071B3`` once the host has sent
  ``I`` (connect) and ``C`` (capture), each command ending in NUL; until then it prompts
  every three seconds.

Lines end in LF (CR before it is ignored). A line that names a capture but fails a check is
a :class:`RejectedFrame`; the prompts the host must answer are :class:`StatusFrame`; every
other line is :class:`NoiseFrame`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Literal

from drivers.base import KeyFrame, NoiseFrame, PingFrame, ProtocolError, RejectedFrame
from drivers.ids import HandsetIdError, parse_iclicker_id

CaptureForm = Literal["sketch", "software"]

MAX_LINE = 256  # bytes; the longest real line is 31, so anything longer is garbage
MAX_COMMAND = 64  # bytes; the Arduino's serial buffer, which bounds one host command
ANSWER_KEYS = "ABCDE"
PING = "P"  # the answer letter of a presence packet: the remote is there, no vote
# The low nibble of the radio packet's fourth byte for each answer (iClickerEmulator.cpp).
ANSWER_NIBBLES = {"A": 0x1, "B": 0x5, "C": 0xD, "D": 0xE, "E": 0xA, PING: 0x2}
CHANNELS = tuple(up + down for up in "ABCD" for down in "ABCD")  # AA..DD
SOFTWARE_ID = "CDCDCDCD"  # the fixed ID iSkipper-Software reports when the host connects

CAPTURE_MARK = b"Captured"
# As recorded in the 2017 captures: the line, then the empty line that println adds.
SKETCH_END = b"\n\n"
SOFTWARE_END = b"\n"  # iSkipper-Software prints its capture lines with a bare LF
COMMAND_END = b"\0"

# Reasons for rejected lines; the part before ":" is the stable key that replay groups by.
TOO_LONG = "line too long"
MALFORMED = "malformed capture"
BYTE_COUNT = "wrong byte count"
BAD_HEX = "bad hex"
BAD_CHECK = "bad id check"
UNKNOWN_ANSWER = "unknown answer"

# The lines a working receiver prints, matched whole in one pass; anything else takes the
# slower path that says what is wrong with it.
_SKETCH_LINE = re.compile(
    rb": ([A-EP]) \(([0-9A-Fa-f]{2}), ([0-9A-Fa-f]{2}), ([0-9A-Fa-f]{2}), ([0-9A-Fa-f]{2})\)"
)
_SOFTWARE_LINE = re.compile(rb",([A-EP]),([0-9A-Fa-f]{8})")
_SKETCH = re.compile(rb": (\S) \((.*)\)")
_SOFTWARE = re.compile(rb",(\S),(.*)")
_HEX_BYTE = re.compile(rb"[0-9A-Fa-f]{2}")


class FirmwareState(enum.Enum):
    """What an iSkipper-Software status line says the firmware is doing."""

    AWAITING_HOST = "awaiting_host"  # booted, waits for the connect command
    STANDBY = "standby"  # connected, waits for a command (capture, channel)
    CAPTURING = "capturing"
    STOPPED = "stopped"  # capture ended; the standby prompt follows


STATUS_LINES: dict[FirmwareState, bytes] = {
    FirmwareState.AWAITING_HOST: b"Initialization Complete. Waiting for COM command...",
    FirmwareState.STANDBY: b"No Running Progress, waiting for commands...",
    FirmwareState.CAPTURING: b"Start capture",
    FirmwareState.STOPPED: b"End Capture",
}
_STATES = {line: state for state, line in STATUS_LINES.items()}


@dataclass(frozen=True, slots=True)
class StatusFrame:
    """An iSkipper-Software status line; the receiver answers some of them with a command."""

    state: FirmwareState


# Host to firmware.


class Command(enum.Enum):
    """iSkipper-Software host commands, by their operation letter."""

    CONNECT = "I"
    CAPTURE = "C"
    STOP = "s"
    CHANNEL = "c"
    RESET = "R"


@dataclass(frozen=True, slots=True)
class HostCommand:
    """One command as the firmware reads it: the operation letter and its argument text."""

    op: str
    argument: str = ""


def encode_command(command: Command, argument: str = "") -> bytes:
    """``<op>[,<argument>]`` and the NUL that ends it; raises ProtocolError if it cannot fit."""
    text = command.value + ("," + argument if argument else "")
    data = text.encode("ascii", "replace") + COMMAND_END
    if len(data) > MAX_COMMAND or b"\0" in data[:-1]:
        raise ProtocolError(f"iSkipper command {text!r} does not fit the firmware's buffer")
    return data


def parse_channel(text: str) -> str:
    """A channel name ``AA``..``DD`` (case-insensitive); raises ProtocolError otherwise."""
    channel = text.strip().upper()
    if channel not in CHANNELS:
        raise ProtocolError(f"i>clicker channel {text!r} is not one of AA..DD")
    return channel


def encode_channel(channel: str) -> bytes:
    """The command that sets the radio channel (iSkipper-Software only)."""
    return encode_command(Command.CHANNEL, parse_channel(channel))


class CommandReader:
    """What the firmware reads from the host: NUL-terminated commands, at most 64 bytes each."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[HostCommand]:
        """Commands completed by ``data``; a command is cut to 64 bytes, as the firmware cuts it."""
        self._buffer += data
        *complete, rest = bytes(self._buffer).split(COMMAND_END)
        self._buffer = bytearray(rest[:MAX_COMMAND])
        commands = []
        for raw in complete:
            text = raw[:MAX_COMMAND].decode("ascii", "replace")
            if text:
                commands.append(HostCommand(text[0], text[2:]))
        return commands


# Firmware to host.


def _handset_bytes(handset: str) -> bytes:
    try:
        return bytes.fromhex(parse_iclicker_id(handset))
    except HandsetIdError as exc:
        raise ProtocolError(str(exc)) from None


def _answer(key: str) -> str:
    if key not in ANSWER_NIBBLES:
        raise ProtocolError(f"iSkipper answers are A-E or P (ping), not {key!r}")
    return key


def encode_capture(handset: str, key: str, form: CaptureForm = "sketch") -> bytes:
    """The line the firmware prints when it hears ``handset`` send ``key`` (``P``: a ping)."""
    b = _handset_bytes(handset)
    answer = _answer(key)
    if form == "sketch":
        return (
            f"Captured: {answer} ({b[0]:02X}, {b[1]:02X}, {b[2]:02X}, {b[3]:02X})".encode("ascii")
            + SKETCH_END
        )
    if form == "software":
        return f"Captured,{answer},{b.hex().upper()}".encode("ascii") + SOFTWARE_END
    raise ProtocolError(f"unknown iSkipper output form {form!r}")


def encode_debug_line(handset: str, key: str) -> bytes:
    """The sketch's debug line for a packet: its fourth radio byte in hex, without padding.

    That byte carries three scrambled ID bits (``encodeId``) and the answer nibble, which is
    why the captures show ``3D`` before ``Captured: C (42, 80, 71, B3)``.
    """
    id2 = _handset_bytes(handset)[2]
    value = ((id2 & 0x7) << 5) | ((id2 & 0x1) << 4) | ANSWER_NIBBLES[_answer(key)]
    return f"{value:X}\n".encode("ascii")


def encode_status(state: FirmwareState) -> bytes:
    """An iSkipper-Software status line as ``Serial.println`` prints it."""
    return STATUS_LINES[state] + b"\r\n"


def decode_line(line: bytes) -> object:
    """One line (without its LF) as a frame: key, ping, rejected, status or noise."""
    text = line.strip()
    state = _STATES.get(text)
    if state is not None:
        return StatusFrame(state)
    # After a reset the first line can start with garbage; the capture is still whole.
    at = text.find(CAPTURE_MARK)
    if at < 0:
        return NoiseFrame(line)
    return _decode_capture(line, text[at + len(CAPTURE_MARK) :])


def _decode_capture(line: bytes, body: bytes) -> object:
    if m := _SKETCH_LINE.fullmatch(body) or _SOFTWARE_LINE.fullmatch(body):
        handset = b"".join(m.groups()[1:]).decode("ascii").upper()
        value = int(handset, 16)  # the four ID bytes at once: no conversion per byte
        if ((value >> 24) ^ (value >> 16) ^ (value >> 8) ^ value) & 0xFF == 0:
            key = chr(m[1][0])
            return PingFrame(handset) if key == PING else KeyFrame(handset, key)
    return _check_capture(line, body)


def _check_capture(line: bytes, body: bytes) -> object:
    """A capture line that is not plainly right: the frame, or the reason it is rejected."""
    if sketch := _SKETCH.fullmatch(body):
        answer, fields = sketch[1], [f.strip() for f in sketch[2].split(b",")]
    elif software := _SOFTWARE.fullmatch(body):
        answer, digits = software[1], software[2]
        if len(digits) != 8:
            return RejectedFrame(line, f"{BYTE_COUNT}: ID {digits!r} is not 8 hex digits")
        fields = [digits[i : i + 2] for i in range(0, 8, 2)]
    else:
        return RejectedFrame(line, f"{MALFORMED}: {body[:40]!r}")
    if len(fields) != 4:
        return RejectedFrame(line, f"{BYTE_COUNT}: {len(fields)} ID bytes, expected 4")
    if not all(_HEX_BYTE.fullmatch(f) for f in fields):
        return RejectedFrame(line, f"{BAD_HEX}: ID bytes {b' '.join(fields)[:40]!r}")
    b = bytes(int(f, 16) for f in fields)
    handset = b.hex().upper()
    if b[0] ^ b[1] ^ b[2] != b[3]:
        return RejectedFrame(line, f"{BAD_CHECK}: {handset} must end in {b[0] ^ b[1] ^ b[2]:02X}")
    key = answer.decode("latin-1")
    if key in ANSWER_KEYS:
        return KeyFrame(handset, key)
    if key == PING:
        return PingFrame(handset)
    return RejectedFrame(line, f"{UNKNOWN_ANSWER}: {answer!r}")


class IskipperDecoder:
    """Bytes in, one frame per complete line out; a partial line waits for the next feed.

    A line longer than ``max_line`` bytes is reported once (by its first ``max_line`` bytes)
    and the rest of it dropped, so garbage without line ends cannot grow memory. The frames
    do not depend on how the bytes were split into feeds.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        if max_line < 1:
            raise ValueError(f"max_line must be positive, got {max_line}")
        self.max_line = max_line
        self._partial = bytearray()
        self._dropping = False  # inside an overlong line that was already reported

    def feed(self, data: bytes) -> list[object]:
        """Frames for every line that ``data`` completes."""
        frames: list[object] = []
        self._partial += data
        buffer = self._partial
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = bytes(buffer[start:end])
            start = end + 1
            if self._dropping:
                self._dropping = False
            else:
                frames.append(self._line(line))
        del buffer[:start]
        if len(buffer) > self.max_line:
            if not self._dropping:
                frames.append(self._overlong(bytes(buffer[: self.max_line])))
                self._dropping = True
            buffer.clear()
        return frames

    def finish(self) -> list[object]:
        """End of input (a capture file's end): the last line, even without its LF."""
        frames = [] if self._dropping or not self._partial else [self._line(bytes(self._partial))]
        self._partial.clear()
        self._dropping = False
        return frames

    def _line(self, line: bytes) -> object:
        if len(line) > self.max_line:
            return self._overlong(line[: self.max_line])
        return decode_line(line)

    def _overlong(self, head: bytes) -> object:
        if CAPTURE_MARK in head:
            return RejectedFrame(head, f"{TOO_LONG}: more than {self.max_line} bytes")
        return NoiseFrame(head)


def decode_capture(data: bytes) -> list[object]:
    """Every frame in a whole capture file (what the firmware printed), in order."""
    decoder = IskipperDecoder()
    return decoder.feed(data) + decoder.finish()
