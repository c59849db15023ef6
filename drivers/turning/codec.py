"""TurningPoint ResponseCard frames as an nRF24 serial receiver prints them (pure: no I/O).

Radio (reference ``receivers.md`` §2.2: nickmooney/turning-clicker ``clicker_receive.ino``,
jabelch/clicker, Goodspeed, Killian). 1 Mbit/s, 3-byte addresses, no radio auto-ack:

- press, clicker -> base address ``0x123456``: ``id[3] key[1] crc[2]``, the CRC big-endian and
  computed over ``12 34 56`` + id + key;
- acknowledgement, base -> the clicker's address: ``id[3] 0x06 crc[2]``, CRC over id + ``0x06``.

The CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR), which
is :func:`binascii.crc_hqx` started at 0xFFFF.

Serial line (the turning-clicker sketch at 115200 baud, one line per event, CR LF):

- ``incoming: 090fd335ae08 --> 5``: a press the firmware heard and CRC-checked; the 12 hex
  digits are the 6 radio bytes, then the key byte printed as a character;
- ``outgoing: 090fd3067b34``: the acknowledgement it sent back (it acks every press);
- ``*** booting ***`` and the nRF24 register dump (``RF_CH = 0x29`` ...) after a reset.

Keys: the key byte is ASCII ``'1'``-``'9'``, ``'0'`` for keys 1/A ... 0/J and ``'?'``. The
decoder reports the option letter (``'5'`` -> ``E``, ``'0'`` -> ``J``) and keeps ``?``; any
other key byte is rejected.

Byte order: a press carries the clicker's ID in the order of its Device ID, and both serial
lines print it that way, so ``incoming: 090fd335ae08 --> 5`` is handset ``090FD3`` pressing
key 5 (option E). The nRF24 takes a pipe address least-significant byte first, so the
address the base acknowledges that clicker at is the ID reversed, ``D3 0F 09``; the sketch's
register dump shows it as ``TX_ADDR = 0xd30f09`` after acknowledging ``090fd3``
(:func:`pipe_address`). jabelch/clicker (``answer/readme.txt``) describes ID ``ABCDEF`` as
``{0xEF, 0xCD, 0xAB}`` "in the radio buffer": that is this address order. Handsets are named
by their Device ID everywhere in arsbridge.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from drivers.base import KeyFrame, NoiseFrame, ProtocolError, RejectedFrame
from drivers.ids import HandsetIdError, parse_turning_id

BASE_ADDRESS = bytes.fromhex("123456")  # every base listens on it; part of the press CRC
CRC_INIT = 0xFFFF  # CRC-16/CCITT-FALSE start value (poly 0x1021 is crc_hqx's own)
ID_LEN = 3  # bytes of clicker ID on the air
FRAME_LEN = 6  # id + key (or ack code) + 2 CRC bytes
ACK_ACCEPTED = 0x06  # ack code: LED/LCD turns green
DEFAULT_CHANNEL = 41  # nRF24 RF_CH the ResponseCard ships with (2441 MHz)
MAX_CHANNEL = 125  # highest nRF24 RF_CH
MAX_LINE_BYTES = 256  # the sketch's longest line is ~60 bytes; longer runs are line noise

# Key byte -> the symbol a Press carries (keys 1..9, 0 are options A..J).
KEY_SYMBOLS: dict[int, str] = {ord(str((n + 1) % 10)): chr(ord("A") + n) for n in range(10)}
KEY_SYMBOLS[ord("?")] = "?"
SYMBOL_KEYS: dict[str, int] = {symbol: key for key, symbol in KEY_SYMBOLS.items()}

BOOT_LINE = b"*** booting ***"

# One alternation, so that frames glued into one line come out in the order they were printed.
_FRAME = re.compile(rb"incoming: ([0-9A-Fa-f]{12}) --> (.?)|outgoing: ([0-9A-Fa-f]{12})")
_RF_CH = re.compile(rb"^\s*RF_CH\s*=\s*0x([0-9A-Fa-f]{2})\s*$")
_FRAME_WORDS = (b"incoming", b"outgoing")


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data``."""
    return binascii.crc_hqx(data, CRC_INIT)


def _check_id(radio: bytes) -> None:
    if len(radio) != ID_LEN:
        raise ProtocolError(f"a TurningPoint ID is {ID_LEN} bytes, got {len(radio)}")


def printed_id(radio_id: bytes) -> str:
    """The Device ID of a ResponseCard from the 3 ID bytes of its frames."""
    _check_id(radio_id)
    return radio_id.hex().upper()


def radio_id_of(handset: str) -> bytes:
    """The 3 ID bytes a ResponseCard with Device ID ``handset`` puts in its frames."""
    try:
        return bytes.fromhex(parse_turning_id(handset))
    except HandsetIdError as exc:
        raise ProtocolError(str(exc)) from None


def pipe_address(handset: str) -> bytes:
    """The nRF24 pipe address (least-significant byte first) a base acknowledges ``handset`` at."""
    return radio_id_of(handset)[::-1]


@dataclass(frozen=True, slots=True)
class Response:
    """A ResponseCard press on the air (clicker -> base): ID in radio order and the key byte."""

    radio_id: bytes
    key: int

    def __post_init__(self) -> None:
        _check_id(self.radio_id)
        if not 0 <= self.key <= 0xFF:
            raise ProtocolError(f"a key is one byte, got {self.key}")

    @classmethod
    def for_key(cls, handset: str, symbol: str) -> Response:
        """The packet a handset (printed ID) sends for ``symbol`` (``A``-``J`` or ``?``)."""
        key = SYMBOL_KEYS.get(symbol)
        if key is None:
            raise ProtocolError(f"a ResponseCard has no key for {symbol!r}")
        return cls(radio_id_of(handset), key)

    @property
    def handset(self) -> str:
        """The printed Device ID."""
        return printed_id(self.radio_id)

    @property
    def symbol(self) -> str | None:
        """The option letter (or ``?``) of the key byte; None for a byte no keypad sends."""
        return KEY_SYMBOLS.get(self.key)

    def to_bytes(self) -> bytes:
        """The 6 radio bytes: ID, key, CRC over base address + ID + key."""
        body = self.radio_id + bytes([self.key])
        return body + crc16(BASE_ADDRESS + body).to_bytes(2, "big")

    @classmethod
    def from_bytes(cls, frame: bytes) -> Response:
        """Parse 6 radio bytes; raises :class:`ProtocolError` on a wrong length or CRC."""
        body = _split_checked(frame, BASE_ADDRESS)
        return cls(body[:ID_LEN], body[ID_LEN])


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """The base's answer to a press (base -> clicker): ID in radio order and the ack code."""

    radio_id: bytes
    code: int = ACK_ACCEPTED

    def __post_init__(self) -> None:
        _check_id(self.radio_id)
        if not 0 <= self.code <= 0xFF:
            raise ProtocolError(f"an ack code is one byte, got {self.code}")

    @property
    def handset(self) -> str:
        """The printed Device ID of the acknowledged clicker."""
        return printed_id(self.radio_id)

    def to_bytes(self) -> bytes:
        """The 6 radio bytes: ID, code, CRC over ID + code."""
        body = self.radio_id + bytes([self.code])
        return body + crc16(body).to_bytes(2, "big")

    @classmethod
    def from_bytes(cls, frame: bytes) -> Acknowledgement:
        """Parse 6 radio bytes; raises :class:`ProtocolError` on a wrong length or CRC."""
        body = _split_checked(frame, b"")
        return cls(body[:ID_LEN], body[ID_LEN])


def _split_checked(frame: bytes, crc_prefix: bytes) -> bytes:
    if len(frame) != FRAME_LEN:
        raise ProtocolError(f"a TurningPoint frame is {FRAME_LEN} bytes, got {len(frame)}")
    body, received = frame[:-2], int.from_bytes(frame[-2:], "big")
    expected = crc16(crc_prefix + body)
    if received != expected:
        raise ProtocolError(f"bad CRC: {frame.hex()} should end {expected:04x}")
    return body


@dataclass(frozen=True, slots=True)
class Booted:
    """The receiver printed its boot line: it was reset (port opened, or power trouble)."""


@dataclass(frozen=True, slots=True)
class RadioChannel:
    """The channel (nRF24 ``RF_CH``) the receiver's boot dump says it listens on."""

    channel: int


# Encoding: what the firmware prints (used by the simulator).


def incoming_line(response: Response) -> bytes:
    """The sketch's line for a heard press, CR LF included."""
    return b"incoming: %s --> %c\r\n" % (response.to_bytes().hex().encode(), response.key)


def outgoing_line(ack: Acknowledgement) -> bytes:
    """The sketch's line for an acknowledgement it sent, CR LF included."""
    return b"outgoing: %s\r\n" % ack.to_bytes().hex().encode()


def boot_banner(channel: int = DEFAULT_CHANNEL) -> bytes:
    """What the sketch prints after a reset: the boot line and the nRF24 register dump."""
    if not 0 <= channel <= MAX_CHANNEL:
        raise ProtocolError(f"nRF24 channels are 0 to {MAX_CHANNEL}, got {channel}")
    dump = (
        "STATUS\t\t = 0x0e RX_DR=0 TX_DS=0 MAX_RT=0 RX_P_NO=7 TX_FULL=0",
        "RX_ADDR_P0-1\t = 0xe7e7e7 0x123456",
        "RX_ADDR_P2-5\t = 0xc3 0xc4 0xc5 0xc6",
        "TX_ADDR\t\t = 0xe7e7e7",
        "RX_PW_P0-6\t = 0x06 0x06 0x00 0x00 0x00 0x00",
        "EN_AA\t\t = 0x00",
        "EN_RXADDR\t = 0x02",
        f"RF_CH\t\t = 0x{channel:02x}",
        "RF_SETUP\t = 0x05",
        "CONFIG\t\t = 0x07",
        "DYNPD/FEATURE\t = 0x00 0x00",
        "Data Rate\t = 1MBPS",
        "Model\t\t = nRF24L01+",
        "CRC Length\t = Disabled",
        "PA Power\t = PA_HIGH",
    )
    lines = (BOOT_LINE.decode(), *dump, "", "")
    return "".join(f"{line}\r\n" for line in lines).encode()


# Decoding.


def decode_line(line: bytes) -> list[object]:
    """The frames in one serial line (no line ending); never raises."""
    frames = [_frame(match) for match in _FRAME.finditer(line)]
    if frames:
        return frames
    text = line.strip()
    if not text:
        return []
    if text == BOOT_LINE:
        return [Booted()]
    if channel := _RF_CH.match(text):
        return [RadioChannel(int(channel.group(1), 16))]
    if any(word in text for word in _FRAME_WORDS):
        return [RejectedFrame(line, "malformed line: not incoming/outgoing with 12 hex digits")]
    return [NoiseFrame(line)]


def _frame(match: re.Match[bytes]) -> object:
    raw = match.group(0)
    if match.group(3) is not None:
        try:
            return Acknowledgement.from_bytes(bytes.fromhex(match.group(3).decode()))
        except ProtocolError as exc:
            return RejectedFrame(raw, f"outgoing {exc}")
    try:
        response = Response.from_bytes(bytes.fromhex(match.group(1).decode()))
    except ProtocolError as exc:
        return RejectedFrame(raw, str(exc))
    shown = match.group(2)
    # The character after "-->" is the same byte printed again; a difference means the line
    # was damaged on the serial link (an empty one is a key byte that broke the line).
    if shown and shown[0] != response.key:
        return RejectedFrame(raw, f"key mismatch: frame {response.key:#04x}, shown {shown!r}")
    symbol = response.symbol
    if symbol is None:
        return RejectedFrame(raw, f"unknown key: {response.key:#04x} is not a ResponseCard key")
    return KeyFrame(response.handset, symbol)


class LineDecoder:
    """Serial bytes in, frames out; a partial line waits for the next call; never raises.

    Frames are :class:`KeyFrame`, :class:`Acknowledgement`, :class:`Booted`,
    :class:`RadioChannel`, :class:`RejectedFrame` and :class:`NoiseFrame`. A line longer
    than :data:`MAX_LINE_BYTES` keeps only its end, so a press that follows line noise on
    the same line is still found, and cutting the input into other chunks never changes
    the result.
    """

    def __init__(self) -> None:
        self._partial = bytearray()

    def feed(self, data: bytes) -> list[object]:
        """Decode every line that ``data`` completes."""
        *complete, rest = data.split(b"\n")
        frames: list[object] = []
        for piece in complete:
            self._partial += piece
            frames.extend(self._line())
        self._partial += rest
        if len(self._partial) > MAX_LINE_BYTES:
            del self._partial[:-MAX_LINE_BYTES]
        return frames

    def finish(self) -> list[object]:
        """Decode a last line that has no line ending (the end of a capture)."""
        return self._line()

    def _line(self) -> list[object]:
        line = bytes(self._partial[-MAX_LINE_BYTES:])
        self._partial.clear()
        return decode_line(line.removesuffix(b"\r"))


def decode_all(data: bytes) -> list[object]:
    """Every frame in a complete text capture, the last line included."""
    decoder = LineDecoder()
    return [*decoder.feed(data), *decoder.finish()]
