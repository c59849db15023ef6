"""What an i>clicker base station sends the host: 64-byte HID input reports, decoded (sans-IO).

Layouts and sources are in ``reference/receivers.md`` §1.1 and §1.3. A report is one of:

* ``01 <op> AA …``: the base's answer to command ``op`` (it may carry extra bytes, e.g.
  ``01 12 AA 82 E9 70 00``); ``01 <op> <other> …`` is a status report (``01 15 04 05 …``);
* ``02 13 …``: a v2 vote report, two 32-byte response slots ``02 13 <answer> <id0> <id1>
  <id2> <index>`` at offsets 0 and 32, either of them empty (all zero);
* ``02 18 <more 00|01> <unread> <after> <last> <n> <records…>``: a v1 base's answer to a
  pull, up to 14 four-byte records ``<'a'-'e'> <id0> <id1> <id2>``;
* ``02 18 1A …``: the summary after ``01 17 04``; anything else is kept as :class:`OtherReport`.

Nothing here imports asyncio, serial or usb.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from drivers.base import ProtocolError, RejectedFrame
from drivers.ids import iclicker_id

# USB identity (siefkenj/iclickerpoll iclickerpoll.py; usbsnooplog1_cleaned.log descriptors).
VENDOR_ID = 0x1881  # both base generations
PRODUCT_ID = 0x0150
INTERFACE = 0  # the one HID interface
ENDPOINT_IN = 0x83  # interrupt IN, 64 bytes, bInterval 1 ms; there is no OUT endpoint
REPORT_SIZE = 64  # bytes per report in both directions; the report descriptor has no report IDs
SLOT_SIZE = 32  # a v2 vote report carries two response slots
# HID SET_REPORT carrying Output report 0: bmRequestType, bRequest, wValue, wIndex.
SET_REPORT = (0x21, 0x09, 0x0200, INTERFACE)

MANUFACTURER_V1 = "I-Clicker USB Base"  # pbeshai/rhombus-clicker-support HIDManagerClickerApp
MANUFACTURER_V2 = "iclicker"

COMMAND = 0x01  # byte 0 of host commands and of the base's answers to them
EVENT = 0x02  # byte 0 of reports the base originates
ACK = 0xAA  # byte 2 of an answer: ``01 <op> AA``
RESPONSE = 0x13  # ``02 13``: a multiple-choice response slot
PULLED = 0x18  # ``02 18``: v1 vote records, or the summary
SUMMARY = 0x1A  # ``02 18 1A``: the summary after ``01 17 04`` (rhombus v2 ParseInstruction)

INDEX_MODULUS = 256  # the response index is one byte and wraps 255 -> 0
MAX_RECORDS = 14  # v1 records per ``02 18`` report (rhombus v1 IClickerDriverV1)
RECORD_OFFSET = 7  # first v1 record
RECORD_SIZE = 4  # answer byte + three ID bytes

KEYS = "ABCDE"
VOTE_CODES = {0x81 + i: k for i, k in enumerate(KEYS)}  # i>clicker+ / iClicker 2 remotes
LEGACY_CODES = {0x01 + i: k for i, k in enumerate(KEYS)}  # i>clicker 1 (mitar/meteor-iclicker)
RECORD_CODES = {0x61 + i: k for i, k in enumerate(KEYS)}  # v1 records carry 'a'-'e'
# Response-like packets a base emits after a frequency change (daveho/freepoll base.cpp).
AFTER_FREQUENCY_CODES = frozenset({0xAA, 0x00, 0x86})


class Generation(enum.StrEnum):
    """The two base generations behind one VID:PID, told apart by the manufacturer string."""

    V1 = "v1"  # "I-Clicker USB Base": pull model, ``02 18`` records
    V2 = "v2"  # "iclicker" (iClicker 2 base): push model, ``02 13`` slots


def generation_of(manufacturer: str | None) -> Generation | None:
    """The generation a manufacturer string names, or None for a string not known."""
    if manufacturer is None:
        return None
    text = manufacturer.strip()
    if text == MANUFACTURER_V1:
        return Generation.V1
    if text == MANUFACTURER_V2:
        return Generation.V2
    return None


def _id3(data: bytes) -> bytes:
    if len(data) != 3:
        raise ProtocolError(f"an i>clicker ID needs 3 bytes, got {len(data)}")
    return bytes(data)


@dataclass(frozen=True, slots=True)
class Response:
    """One vote as the base reported it: handset, key and the base's rolling index."""

    handset: str
    key: str
    index: int


@dataclass(frozen=True, slots=True)
class ResponseSlot:
    """A 32-byte slot ``02 13 <code> <id0> <id1> <id2> <index>`` of a v2 vote report."""

    code: int
    id3: bytes
    index: int

    @classmethod
    def from_bytes(cls, slot: bytes) -> ResponseSlot:
        if len(slot) != SLOT_SIZE or slot[0] != EVENT or slot[1] != RESPONSE:
            raise ProtocolError(f"not a response slot: {slot[:8].hex(' ')}")
        return cls(slot[2], bytes(slot[3:6]), slot[6])

    def to_bytes(self) -> bytes:
        if not (0 <= self.code < 256 and 0 <= self.index < INDEX_MODULUS):
            raise ProtocolError(f"slot code {self.code} or index {self.index} out of range")
        head = bytes((EVENT, RESPONSE, self.code)) + _id3(self.id3) + bytes((self.index,))
        return head.ljust(SLOT_SIZE, b"\0")

    @property
    def handset(self) -> str:
        return iclicker_id(self.id3)

    @property
    def key(self) -> str | None:
        """A-E for a vote (either remote generation), None for a code that carries no vote."""
        return VOTE_CODES.get(self.code) or LEGACY_CODES.get(self.code)

    def response(self) -> Response | None:
        key = self.key
        return None if key is None else Response(self.handset, key, self.index)


@dataclass(frozen=True, slots=True)
class VoteReport:
    """A v2 vote report: two slots, either of which may be empty.

    A slot that is neither empty nor a response is kept raw in ``garbled`` (and left out of
    :meth:`to_bytes`), so that one bad half never costs the vote in the other.
    """

    first: ResponseSlot | None
    second: ResponseSlot | None = None
    garbled: bytes = b""

    @classmethod
    def from_bytes(cls, report: bytes) -> VoteReport:
        report = _padded(report)
        slots: list[ResponseSlot | None] = []
        garbled = b""
        for offset in (0, SLOT_SIZE):
            data = report[offset : offset + SLOT_SIZE]
            try:
                slots.append(_slot(data))
            except ProtocolError:
                slots.append(None)
                garbled += data
        if slots[0] is None and slots[1] is None:
            raise ProtocolError(f"a vote report without a response slot: {report[:8].hex(' ')}")
        return cls(slots[0], slots[1], garbled)

    def to_bytes(self) -> bytes:
        return b"".join(
            s.to_bytes() if s is not None else bytes(SLOT_SIZE) for s in (self.first, self.second)
        )

    @property
    def slots(self) -> tuple[ResponseSlot, ...]:
        return tuple(s for s in (self.first, self.second) if s is not None)

    def responses(self) -> list[Response]:
        """The votes of both slots, in slot order (ignored codes left out)."""
        return [r for s in self.slots if (r := s.response()) is not None]

    @property
    def ignored(self) -> int:
        """Slots whose answer code carries no vote (0xAA, 0x00, 0x86 after a frequency change)."""
        return sum(1 for s in self.slots if s.key is None)


def _slot(data: bytes) -> ResponseSlot | None:
    if not any(data):
        return None
    return ResponseSlot.from_bytes(data)


@dataclass(frozen=True, slots=True)
class PullRecord:
    """One v1 record ``<'a'-'e'> <id0> <id1> <id2>``."""

    code: int
    id3: bytes

    @property
    def key(self) -> str | None:
        return RECORD_CODES.get(self.code)

    def to_bytes(self) -> bytes:
        return bytes((self.code,)) + _id3(self.id3)


@dataclass(frozen=True, slots=True)
class PullReport:
    """A v1 base's ``02 18`` answer to ``01 17 01 <index> 04``.

    Records are numbered from ``after_index + 1`` (rhombus v1 ``getPollingResVoteIndexStart``);
    ``last_index`` is what the host asks after next time; ``unread`` counts the votes not yet
    read, this report's included.
    """

    more: bool
    unread: int
    after_index: int
    last_index: int
    records: tuple[PullRecord, ...]

    @classmethod
    def from_bytes(cls, report: bytes) -> PullReport:
        report = _padded(report)
        if report[0] != EVENT or report[1] != PULLED or report[2] not in (0, 1):
            raise ProtocolError(f"not a pull report: {report[:8].hex(' ')}")
        count = report[6]
        if count > MAX_RECORDS:
            raise ProtocolError(f"pull report with {count} records; at most {MAX_RECORDS} fit")
        records = tuple(
            PullRecord(report[o], bytes(report[o + 1 : o + 4]))
            for o in range(RECORD_OFFSET, RECORD_OFFSET + RECORD_SIZE * count, RECORD_SIZE)
        )
        return cls(bool(report[2]), report[3], report[4], report[5], records)

    def to_bytes(self) -> bytes:
        if len(self.records) > MAX_RECORDS:
            raise ProtocolError(f"{len(self.records)} records; at most {MAX_RECORDS} fit")
        for value in (self.unread, self.after_index, self.last_index):
            if not 0 <= value < 256:
                raise ProtocolError(f"pull report field {value} does not fit a byte")
        head = bytes(
            (EVENT, PULLED, int(self.more), self.unread, self.after_index, self.last_index)
        )
        body = bytes((len(self.records),)) + b"".join(r.to_bytes() for r in self.records)
        return (head + body).ljust(REPORT_SIZE, b"\0")

    def responses(self) -> list[Response]:
        """The votes of the records, each with its index (ignored codes left out)."""
        out = []
        for n, rec in enumerate(self.records, start=1):
            key = rec.key
            if key is not None:
                out.append(Response(iclicker_id(rec.id3), key, (self.after_index + n) % 256))
        return out

    @property
    def ignored(self) -> int:
        return sum(1 for r in self.records if r.key is None)


@dataclass(frozen=True, slots=True)
class CommandAck:
    """``01 <op> AA …``: the base accepted command ``op``; ``extra`` holds what follows."""

    op: int
    extra: bytes = b""

    def to_bytes(self) -> bytes:
        if not 0 <= self.op < 256 or len(self.extra) > REPORT_SIZE - 3:
            raise ProtocolError(f"cannot encode the answer to op {self.op}")
        return (bytes((COMMAND, self.op, ACK)) + self.extra).ljust(REPORT_SIZE, b"\0")


@dataclass(frozen=True, slots=True)
class BaseStatus:
    """``01 <op> <not AA> …``: status the base sends after some commands (``01 15 04 05 …``)."""

    op: int
    payload: bytes

    def to_bytes(self) -> bytes:
        if not 0 <= self.op < 256 or self.payload[:1] == bytes((ACK,)) or len(self.payload) > 62:
            raise ProtocolError("a status payload fits 62 bytes and does not start with AA")
        return (bytes((COMMAND, self.op)) + self.payload).ljust(REPORT_SIZE, b"\0")


@dataclass(frozen=True, slots=True)
class Summary:
    """``02 18 1A …``: the base's summary after ``01 17 04`` (not decoded further anywhere)."""

    raw: bytes


@dataclass(frozen=True, slots=True)
class OtherReport:
    """A report that carries nothing the host needs (``02 2C`` after ``01 2D``, all zeros)."""

    raw: bytes


Report = VoteReport | PullReport | CommandAck | BaseStatus | Summary | OtherReport | RejectedFrame


def _padded(report: bytes) -> bytes:
    if not report or len(report) > REPORT_SIZE:
        raise ProtocolError(f"a report has 1 to {REPORT_SIZE} bytes, got {len(report)}")
    return bytes(report).ljust(REPORT_SIZE, b"\0")


def decode_report(report: bytes) -> Report:
    """Decode one IN report (shorter ones are zero-padded, as a HID read pads them).

    A report that breaks its own layout gives a :class:`RejectedFrame`; only a length no
    report can have raises :class:`ProtocolError`.
    """
    data = _padded(report)
    kind, op = data[0], data[1]
    try:
        if kind == COMMAND:
            if data[2] == ACK:
                return CommandAck(op, data[3:].rstrip(b"\0"))
            return BaseStatus(op, data[2:].rstrip(b"\0"))
        if kind == EVENT and op == PULLED:
            if data[2] == SUMMARY:
                return Summary(data)
            return PullReport.from_bytes(data)
        if (kind == EVENT and op == RESPONSE) or (
            not any(data[:SLOT_SIZE]) and data[SLOT_SIZE] == EVENT
        ):
            return VoteReport.from_bytes(data)
    except ProtocolError as exc:
        return RejectedFrame(data, str(exc))
    return OtherReport(data)


class ReportDecoder:
    """Cuts a byte stream into 64-byte reports and decodes each; partial reports are kept."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Report]:
        """The reports completed by ``data``, in order (never raises)."""
        self._buf += data
        out = []
        while len(self._buf) >= REPORT_SIZE:
            out.append(decode_report(bytes(self._buf[:REPORT_SIZE])))
            del self._buf[:REPORT_SIZE]
        return out

    @property
    def pending(self) -> int:
        """Bytes held back until a report is complete."""
        return len(self._buf)
