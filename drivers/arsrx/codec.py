"""ARS-RX v1 envelope and stream codec, sans-IO: bytes in, frames out; frames in, bytes out.

A frame on the wire is ``COBS(VER TYPE SEQ LEN PAYLOAD CRC) 00``. COBS removes every zero
byte from the frame, so ``00`` marks the end of a frame and nothing else: a decoder that
joins the stream mid-frame, or meets garbage, loses at most the bytes up to the next ``00``.
The CRC is CRC-16/CCITT-FALSE over header and payload, sent big-endian.

:class:`FrameDecoder` is the incremental decoder both ends use. It never raises: every
delimited chunk becomes exactly one of

* :class:`Frame`: a sound frame of an accepted type;
* :class:`UnreadableFrame`: a sound envelope (CRC good) whose body cannot be used (unknown
  type, a type not meant for this end, a version not spoken, a payload that breaks its
  layout); it keeps ``seq`` and ``frame_type`` so a receiver can NAK it;
* :class:`~drivers.base.RejectedFrame`: bytes that fail COBS, length or CRC checks;
* :class:`~drivers.base.NoiseFrame`: bytes before the first delimiter that do not decode
  (the decoder joined the stream mid-frame).
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from drivers.arsrx.frames import EVENTS, Body, HandsetHello, PressEvent, parse_body
from drivers.arsrx.spec import MAX_PAYLOAD, PROTOCOL_VERSION, FrameType
from drivers.base import KeyFrame, NoiseFrame, PingFrame, ProtocolError, RejectedFrame

DELIMITER = 0x00  # ends every frame on the wire
HEADER_SIZE = 4  # VER, TYPE, SEQ, LEN
CRC_SIZE = 2
CRC_INIT = 0xFFFF  # CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0
MIN_FRAME = HEADER_SIZE + CRC_SIZE  # bytes of a frame with an empty payload, before COBS
MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE  # 70 bytes before COBS
MAX_ENCODED = MAX_FRAME + 1  # COBS adds one byte per 254 (and MAX_FRAME < 254)
MAX_WIRE = MAX_ENCODED + 1  # with the delimiter: the largest frame a reader must buffer
COBS_BLOCK = 0xFF  # a COBS code byte meaning "254 data bytes, no zero after them"
HANDSHAKE_TYPES = frozenset({FrameType.HELLO, FrameType.INFO})  # readable in any version
_KNOWN_TYPES = frozenset(int(t) for t in FrameType)


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (check value: ``crc16(b"123456789") == 0x29B1``)."""
    return binascii.crc_hqx(data, CRC_INIT)


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: ``data`` without any zero byte, one byte longer."""
    out = bytearray(b"\x00")
    code_at, code = 0, 1
    last = len(data) - 1
    for i, byte in enumerate(data):
        if byte:
            out.append(byte)
            code += 1
        if not byte or code == COBS_BLOCK:
            out[code_at], code = code, 1
            if byte and i == last:
                return bytes(out)  # a full block ends the data: no empty block after it
            code_at = len(out)
            out.append(0)
    out[code_at] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Undo :func:`cobs_encode`; raises ProtocolError for bytes no encoder could produce."""
    out = bytearray()
    at, end = 0, len(data)
    while at < end:
        code = data[at]
        if code == 0:
            raise ProtocolError("COBS: zero byte inside a frame")
        nxt = at + code
        if nxt > end:
            raise ProtocolError(f"COBS: block of {code - 1} bytes runs past the frame end")
        out += data[at + 1 : nxt]
        at = nxt
        if code != COBS_BLOCK and at < end:
            out.append(0)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: its sender's frame sequence number and its body."""

    seq: int
    body: Body

    def __post_init__(self) -> None:
        if not 0 <= self.seq <= 0xFF:
            raise ProtocolError(f"frame sequence must be 0..255, got {self.seq}")

    def unencoded(self) -> bytes:
        """Header, payload and CRC: the bytes COBS encodes and the CRC protects."""
        payload = self.body.to_bytes()
        if len(payload) > MAX_PAYLOAD:
            raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
        head = bytes((PROTOCOL_VERSION, self.body.TYPE, self.seq, len(payload))) + payload
        return head + crc16(head).to_bytes(CRC_SIZE, "big")

    def to_bytes(self) -> bytes:
        """The frame as it goes on the wire: COBS-encoded, then the delimiter."""
        return cobs_encode(self.unencoded()) + bytes((DELIMITER,))

    @classmethod
    def from_bytes(cls, wire: bytes) -> Frame:
        """Parse one wire frame (the trailing delimiter is optional); raises ProtocolError."""
        chunk = wire[:-1] if wire[-1:] == bytes((DELIMITER,)) else wire
        if not chunk:
            raise ProtocolError("empty frame")
        return parse_unencoded(cobs_decode(chunk))


@dataclass(frozen=True, slots=True)
class UnreadableFrame:
    """A frame with a good CRC whose body cannot be used; ``reason`` says why."""

    seq: int
    frame_type: int
    version: int
    reason: str
    raw: bytes  # the wire chunk, without the delimiter


def check_envelope(data: bytes) -> tuple[int, int, int, bytes]:
    """Version, type, sequence and payload of an unencoded frame whose length and CRC are good."""
    if len(data) < MIN_FRAME:
        raise ProtocolError(f"frame of {len(data)} bytes is shorter than {MIN_FRAME}")
    if len(data) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(data)} bytes is longer than {MAX_FRAME}")
    body, sent = data[:-CRC_SIZE], int.from_bytes(data[-CRC_SIZE:], "big")
    if (computed := crc16(body)) != sent:
        raise ProtocolError(f"CRC mismatch: frame says {sent:04X}, bytes give {computed:04X}")
    version, frame_type, seq, length = body[:HEADER_SIZE]
    if length != len(body) - HEADER_SIZE:
        raise ProtocolError(f"LEN says {length} bytes, frame holds {len(body) - HEADER_SIZE}")
    return version, frame_type, seq, body[HEADER_SIZE:]


def parse_unencoded(data: bytes) -> Frame:
    """Parse header, payload and CRC (COBS already undone); raises ProtocolError."""
    version, frame_type, seq, payload = check_envelope(data)
    _check_version(version, frame_type)
    return Frame(seq, parse_body(frame_type, payload))


def _check_version(version: int, frame_type: int) -> None:
    if version != PROTOCOL_VERSION and frame_type not in HANDSHAKE_TYPES:
        raise ProtocolError(f"protocol version {version} is not spoken here")


Decoded = Frame | UnreadableFrame | RejectedFrame | NoiseFrame


class FrameDecoder:
    """Incremental decoder: feed bytes as they arrive, get what they held; never raises.

    ``accept`` limits the frame types delivered as :class:`Frame` (a host accepts events, a
    receiver commands); other sound frames come out as :class:`UnreadableFrame`. The result
    does not depend on how the stream is cut into calls.
    """

    def __init__(self, accept: Iterable[FrameType] | None = None) -> None:
        self.accept = frozenset(FrameType) if accept is None else frozenset(accept)
        self._buffer = bytearray()
        self._skipping = False  # an over-long chunk was reported; drop bytes to the next 00
        self._synced = False  # a delimiter has been seen since the decoder started

    def feed(self, data: bytes) -> list[Decoded]:
        """Everything completed by ``data``, in stream order."""
        out: list[Decoded] = []
        start = 0
        while (end := data.find(DELIMITER, start)) >= 0:
            self._take(data[start:end], out)
            self._chunk_ended(out)
            start = end + 1
        self._take(data[start:], out)
        return out

    def _take(self, piece: bytes, out: list[Decoded]) -> None:
        if self._skipping or not piece:
            return
        self._buffer += piece
        if len(self._buffer) > MAX_ENCODED:
            raw = bytes(self._buffer[: MAX_ENCODED + 1])
            self._buffer.clear()
            self._skipping = True
            if self._synced:
                out.append(RejectedFrame(raw, f"oversize: no delimiter within {MAX_WIRE} bytes"))
            else:
                out.append(NoiseFrame(raw))

    def _chunk_ended(self, out: list[Decoded]) -> None:
        synced, self._synced = self._synced, True
        if self._skipping:
            self._skipping = False
            return
        if not self._buffer:
            return  # 00 00: an empty frame, used to flush the far end's decoder
        chunk = bytes(self._buffer)
        self._buffer.clear()
        result = self._decode(chunk)
        if not synced and isinstance(result, RejectedFrame):
            out.append(NoiseFrame(chunk))  # the tail of a frame sent before we listened
        else:
            out.append(result)

    def _decode(self, chunk: bytes) -> Frame | UnreadableFrame | RejectedFrame:
        try:
            version, frame_type, seq, payload = check_envelope(cobs_decode(chunk))
        except ProtocolError as exc:
            return RejectedFrame(chunk, str(exc))
        if frame_type in _KNOWN_TYPES and frame_type not in self.accept:
            reason = f"{FrameType(frame_type).name} frames are not expected at this end"
            return UnreadableFrame(seq, frame_type, version, reason, chunk)
        try:
            _check_version(version, frame_type)
            return Frame(seq, parse_body(frame_type, payload))
        except ProtocolError as exc:
            return UnreadableFrame(seq, frame_type, version, str(exc), chunk)


def handset_frame(item: Decoded) -> KeyFrame | PingFrame | RejectedFrame | NoiseFrame | None:
    """What a decoded item means for the service: a press, a presence, a bad frame, or noise."""
    if isinstance(item, Frame):
        body = item.body
        if isinstance(body, PressEvent):
            return KeyFrame(body.handset, body.keys, body.press_seq, body.rssi, body.battery)
        if isinstance(body, HandsetHello):
            return PingFrame(body.handset, body.rssi, body.battery)
        return None
    if isinstance(item, UnreadableFrame):
        return RejectedFrame(item.raw, item.reason)
    return item


class CaptureDecoder:
    """The receiver-to-host stream as the service reads captures: handset frames as
    :class:`~drivers.base.KeyFrame` and :class:`~drivers.base.PingFrame`, bad frames as
    :class:`~drivers.base.RejectedFrame`, everything else as decoded :class:`Frame` objects.
    """

    def __init__(self) -> None:
        self._frames = FrameDecoder(EVENTS)

    def feed(self, data: bytes) -> list[object]:
        """Everything completed by ``data``, in stream order."""
        out: list[object] = []
        for item in self._frames.feed(data):
            mapped = handset_frame(item)
            out.append(item if mapped is None else mapped)
        return out
