"""What the host sends an i>clicker base: 64-byte output reports ``01 <op> <args…>`` (sans-IO).

Layouts and sequences are those of ``reference/receivers.md`` §1.2: siefkenj/iclickerpoll
``iclickerpoll.py`` and its USB snoop log, daveho/freepoll ``src/base.cpp`` and
pbeshai/rhombus-clicker-support ``driver/v1|v2``. The base answers every command but the two
LCD lines with ``01 <op> AA`` (see :mod:`drivers.iclicker.codec`).
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass

from drivers.base import ProtocolError
from drivers.iclicker.codec import COMMAND, REPORT_SIZE, Generation

CHANNEL_LETTERS = "ABCD"  # 16 channels AA-DD, set on the base and on every remote
DEFAULT_CHANNEL = "AA"  # FreePoll's default
FREQUENCY_1 = 0x21  # set-frequency byte for the first letter A (B = 0x22 …)
FREQUENCY_2 = 0x41  # … and for the second letter A
LCD_WIDTH = 16  # characters per base LCD line
WELCOME_WIDTH = 8  # characters of the welcome text remotes show
POLL_KINDS = {"alpha": 0x66, "numeric": 0x67, "alphanumeric": 0x68}  # ``01 19 T 0A 01``
V1_OPEN_ARGS = b"\x00\x05"  # v1 opens voting with ``01 11 00 05`` (rhombus v1)


class Op(enum.IntEnum):
    """Command opcodes (byte 1); names follow the drivers that use them."""

    SET_FREQUENCY = 0x10
    OPEN_POLL = 0x11
    CLOSE_POLL = 0x12
    LCD_LINE_1 = 0x13
    LCD_LINE_2 = 0x14
    SESSION = 0x15
    STANDBY = 0x16  # sent after every set-frequency; "disable voting" in rhombus v1
    COUNTER = 0x17  # sub-command in byte 2, see :class:`CounterOp`
    RESET_BASE = 0x18
    POLL_TYPE = 0x19
    INSTRUCTOR = 0x1E  # v2; v1 uses ``01 17 06``
    WELCOME = 0x29
    FREQUENCY_V2 = 0x2A
    PROTOCOL_V2 = 0x2D


class CounterOp(enum.IntEnum):
    """Sub-commands of ``01 17``."""

    PULL = 0x01  # v1: ``01 17 01 <index> 04``, votes after ``index``
    STATE = 0x03
    SUMMARY = 0x04  # the base answers with a ``02 18 1A`` summary
    RESET_COUNT = 0x05  # the response index restarts
    INSTRUCTOR_V1 = 0x06


UNANSWERED = frozenset({Op.LCD_LINE_1, Op.LCD_LINE_2})  # no ``01 <op> AA`` follows


@dataclass(frozen=True, slots=True)
class Command:
    """One output report: ``01 <op> <args>``, zero padded to 64 bytes."""

    op: int
    args: bytes = b""

    @classmethod
    def from_bytes(cls, report: bytes) -> Command:
        """Parse an output report (trailing zeros are padding and are dropped)."""
        if not 2 <= len(report) <= REPORT_SIZE or report[0] != COMMAND:
            raise ProtocolError(f"not a command report: {bytes(report[:8]).hex(' ')}")
        return cls(report[1], bytes(report[2:]).rstrip(b"\0"))

    def to_bytes(self) -> bytes:
        if not 0 <= self.op < 256 or len(self.args) > REPORT_SIZE - 2:
            raise ProtocolError(f"command {self.op} with {len(self.args)} argument bytes")
        return (bytes((COMMAND, self.op)) + self.args).ljust(REPORT_SIZE, b"\0")

    @property
    def answered(self) -> bool:
        """Whether the base answers this command with ``01 <op> AA``."""
        return self.op not in UNANSWERED

    def __str__(self) -> str:
        return bytes((COMMAND, self.op, *self.args)).hex(" ")


def parse_channel(text: str) -> str:
    """Normalise a channel name (``aa`` -> ``AA``); anything but AA-DD raises."""
    s = text.strip().upper()
    if len(s) != 2 or any(c not in CHANNEL_LETTERS for c in s):
        raise ProtocolError(f"channel {text!r} is not two letters A-D (AA to DD)")
    return s


def channel_bytes(channel: str) -> bytes:
    """The two frequency bytes of a channel: ``AA`` -> ``21 41``."""
    s = parse_channel(channel)
    return bytes(
        (FREQUENCY_1 + CHANNEL_LETTERS.index(s[0]), FREQUENCY_2 + CHANNEL_LETTERS.index(s[1]))
    )


def channel_name(f1: int, f2: int) -> str:
    """Inverse of :func:`channel_bytes`; bytes outside the 16 channels raise."""
    a, b = f1 - FREQUENCY_1, f2 - FREQUENCY_2
    if not (0 <= a < len(CHANNEL_LETTERS) and 0 <= b < len(CHANNEL_LETTERS)):
        raise ProtocolError(f"frequency bytes {f1:02X} {f2:02X} name no channel")
    return CHANNEL_LETTERS[a] + CHANNEL_LETTERS[b]


def set_frequency(channel: str) -> Command:
    return Command(Op.SET_FREQUENCY, channel_bytes(channel))


def set_frequency_v2(channel: str) -> Command:
    """The second frequency command of the iClicker 2 start-up, ``01 2A F1 F2 05``."""
    return Command(Op.FREQUENCY_V2, channel_bytes(channel) + b"\x05")


def counter(sub: CounterOp, *args: int) -> Command:
    return Command(Op.COUNTER, bytes((sub, *args)))


def pull(after_index: int) -> Command:
    """v1: ask for the votes after ``after_index`` (``01 17 01 <index> 04``)."""
    if not 0 <= after_index < 256:
        raise ProtocolError(f"index {after_index} does not fit a byte")
    return counter(CounterOp.PULL, after_index, CounterOp.SUMMARY)


def poll_type(kind: str = "alpha") -> Command:
    try:
        return Command(Op.POLL_TYPE, bytes((POLL_KINDS[kind], 0x0A, 0x01)))
    except KeyError:
        raise ProtocolError(f"poll type {kind!r} is not one of {sorted(POLL_KINDS)}") from None


def lcd_text(text: str) -> bytes:
    """``text`` as the base LCD shows it: ASCII, accents dropped, cut or space padded to 16."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    out = "".join(c if " " <= c <= "~" else "?" for c in plain)
    return out[:LCD_WIDTH].ljust(LCD_WIDTH).encode("ascii")


def lcd_line(line: int, text: str) -> Command:
    """Write line 1 or 2 of the base's LCD."""
    if line not in (1, 2):
        raise ProtocolError(f"the base LCD has lines 1 and 2, not {line}")
    return Command(Op.LCD_LINE_1 if line == 1 else Op.LCD_LINE_2, lcd_text(text))


def remote_display(text: str) -> bytes:
    """``text`` in the remotes' display encoding: 1-9 = 81-89, 0 = 8A, A = 8B…, blank 80."""
    symbols = {"-": 0xA5, "+": 0xA6, "=": 0xA7, "?": 0xA8, "_": 0xA9}
    out = bytearray()
    for c in text.upper()[:WELCOME_WIDTH].ljust(WELCOME_WIDTH):
        if "1" <= c <= "9":
            out.append(0x81 + ord(c) - ord("1"))
        elif c == "0":
            out.append(0x8A)
        elif "A" <= c <= "Z":
            out.append(0x8B + ord(c) - ord("A"))
        else:
            out.append(symbols.get(c, 0x80))
    return bytes(out)


def welcome(text: str = "WELCOME") -> Command:
    """The welcome text remotes show (snooped ``01 29 A1 8F 96 8D 99 97 8F 80``)."""
    return Command(Op.WELCOME, remote_display(text))


def instructor(remote: str, generation: Generation) -> Command:
    """Register the instructor remote by the first 3 bytes of its printed ID."""
    try:
        first3 = bytes.fromhex(remote.strip()[:6])
    except ValueError:
        raise ProtocolError(f"instructor remote {remote!r} is not a printed ID") from None
    if len(first3) != 3:
        raise ProtocolError(f"instructor remote {remote!r} is not a printed ID")
    if generation is Generation.V1:
        return counter(CounterOp.INSTRUCTOR_V1, *first3)
    return Command(Op.INSTRUCTOR, first3)


def _op(op: Op) -> Command:
    return Command(op)


def init_sequence(
    generation: Generation, channel: str, remote: str | None = None
) -> tuple[Command, ...]:
    """Everything a base needs after it is opened, set-frequency first.

    v2: iclickerpoll/FreePoll order plus the rhombus ``01 1E`` step; v1: rhombus v1.
    """
    first = (set_frequency(channel), _op(Op.STANDBY))
    teacher = () if remote is None else (instructor(remote, generation),)
    if generation is Generation.V1:
        return (*first, *teacher, _op(Op.STANDBY), counter(CounterOp.STATE))
    return (
        *first,
        set_frequency_v2(channel),
        _op(Op.CLOSE_POLL),
        _op(Op.SESSION),
        _op(Op.STANDBY),
        _op(Op.PROTOCOL_V2),
        *teacher,
        welcome(),
        counter(CounterOp.SUMMARY),
        counter(CounterOp.STATE),
        _op(Op.STANDBY),
    )


def start_sequence(generation: Generation, kind: str = "alpha") -> tuple[Command, ...]:
    """Open voting; the response index restarts (``01 17 05``)."""
    if generation is Generation.V1:
        return (counter(CounterOp.RESET_COUNT), Command(Op.OPEN_POLL, V1_OPEN_ARGS))
    return (
        counter(CounterOp.STATE),
        counter(CounterOp.RESET_COUNT),
        poll_type(kind),
        _op(Op.OPEN_POLL),
    )


def stop_sequence(generation: Generation) -> tuple[Command, ...]:
    """Close voting; a v1 host pulls the last votes after these and then asks the summary."""
    if generation is Generation.V1:
        return (_op(Op.STANDBY),)
    return (
        _op(Op.CLOSE_POLL),
        _op(Op.STANDBY),
        pull(0),
        counter(CounterOp.STATE),
        counter(CounterOp.SUMMARY),
    )
