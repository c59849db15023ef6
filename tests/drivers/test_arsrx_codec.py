"""ARS-RX codec: frames whole, byte by byte, in garbage, corrupted, oversize, and fuzzed."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.arsrx import decode_capture
from drivers.arsrx.codec import (
    MAX_ENCODED,
    MAX_WIRE,
    Frame,
    FrameDecoder,
    UnreadableFrame,
    cobs_decode,
    cobs_encode,
    crc16,
)
from drivers.arsrx.frames import (
    COMMANDS,
    EVENTS,
    Body,
    CommandAck,
    CommandNak,
    Display,
    ErrorEvent,
    HandsetHello,
    Hello,
    Pairing,
    PollClose,
    PollOpen,
    PressEvent,
    PressReply,
    ReceiverInfo,
    SetChannel,
    Status,
    StatusRequest,
)
from drivers.arsrx.spec import (
    MAX_ERROR_TEXT,
    MAX_KEYS,
    MAX_TEXT,
    Capability,
    DisplayTarget,
    FrameType,
    Reason,
    RxState,
)
from drivers.base import KeyFrame, NoiseFrame, PingFrame, ProtocolError, RejectedFrame

# Strategies: one per frame type, covering every field's whole range.

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
handsets = st.integers(0, 0xFFFFFF).map(lambda n: f"{n:06X}")
rssi = st.none() | st.integers(-127, 127)
battery = st.none() | st.integers(0, 100)
keys = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=MAX_KEYS)


def text(limit: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=limit)


versions = st.tuples(st.integers(1, 0xFF), st.integers(1, 0xFF)).map(sorted)

BODIES: dict[FrameType, st.SearchStrategy[Body]] = {
    FrameType.HELLO: versions.map(lambda v: Hello(v[0], v[1])),
    FrameType.STATUS_REQUEST: st.just(StatusRequest()),
    FrameType.SET_CHANNEL: st.builds(SetChannel, u8),
    FrameType.POLL_OPEN: st.builds(PollOpen, u16, u8),
    FrameType.POLL_CLOSE: st.builds(PollClose, u16),
    FrameType.PAIRING: st.builds(Pairing, st.booleans()),
    FrameType.PRESS_REPLY: st.builds(PressReply, handsets, u8, st.sampled_from(Reason)),
    FrameType.DISPLAY: st.builds(Display, st.sampled_from(DisplayTarget), text(MAX_TEXT)),
    FrameType.INFO: st.builds(
        ReceiverInfo, u8, u8, u8, u16.map(Capability), u16, u8, u8, u32, text(MAX_TEXT)
    ),
    FrameType.ACK: st.builds(CommandAck, u8, u8),
    FrameType.NAK: st.builds(CommandNak, u8, u8, u8),
    FrameType.PRESS: st.builds(PressEvent, handsets, u8, keys, rssi, battery),
    FrameType.HANDSET_HELLO: st.builds(HandsetHello, handsets, st.booleans(), rssi, battery),
    FrameType.STATUS: st.builds(
        Status, st.sampled_from(RxState), st.booleans(), u8, u16, u8, u32, u32, u32, u32, u32, u32
    ),
    FrameType.ERROR: st.builds(ErrorEvent, u8, text(MAX_ERROR_TEXT)),
}
events = st.one_of([BODIES[t] for t in sorted(EVENTS)])
event_frames = st.builds(Frame, u8, events)
any_frames = st.builds(Frame, u8, st.one_of(list(BODIES.values())))

PRESS = Frame(7, PressEvent("12AB0F", 5, "B", -52, 87))
STATUS = Frame(8, Status(RxState.POLLING, False, 41, 3, 0, 60, 100, 1, 0, 0, 0))
HELLO = Frame(9, HandsetHello("00A000", True, None, 50))


def frames_of(items: Sequence[object]) -> list[Frame]:
    return [item for item in items if isinstance(item, Frame)]


def test_every_frame_type_has_a_strategy() -> None:
    assert set(BODIES) == set(FrameType)


# Known vectors.


def test_crc_is_ccitt_false() -> None:
    assert crc16(b"123456789") == 0x29B1
    # TurningPoint ResponseCard frame from reference/receivers.md: the same CRC.
    assert crc16(bytes.fromhex("123456 090FD3 35")) == 0xAE08


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("00", "0101"),
        ("0000", "010101"),
        ("001100", "01021101"),
        ("11220033", "0311220233"),
        ("11223344", "0511223344"),
        ("11000000", "0211010101"),
        (bytes(range(1, 255)).hex(), "ff" + bytes(range(1, 255)).hex()),
        (bytes(range(255)).hex(), "01ff" + bytes(range(1, 255)).hex()),
        (bytes(range(1, 256)).hex(), "ff" + bytes(range(1, 255)).hex() + "02ff"),
        (bytes(range(3, 256)).hex() + "0001", "fe" + bytes(range(3, 256)).hex() + "0201"),
    ],
    ids=[
        "00",
        "0000",
        "001100",
        "zero-inside",
        "no-zero",
        "trailing-zeros",
        "254",
        "255-zero-first",
        "255",
        "253-zero-one",
    ],
)
def test_cobs_reference_vectors(raw: str, encoded: str) -> None:
    assert cobs_encode(bytes.fromhex(raw)).hex() == encoded
    assert cobs_decode(bytes.fromhex(encoded)) == bytes.fromhex(raw)


@given(st.binary(max_size=600))
def test_cobs_round_trips_and_removes_every_zero(data: bytes) -> None:
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert cobs_decode(encoded) == data


# Each frame type.


@pytest.mark.parametrize("frame_type", list(FrameType), ids=lambda t: t.name)
@given(data=st.data())
def test_frame_round_trips(frame_type: FrameType, data: st.DataObject) -> None:
    frame = Frame(data.draw(u8), data.draw(BODIES[frame_type]))
    wire = frame.to_bytes()
    assert wire.index(0) == len(wire) - 1 <= MAX_WIRE - 1  # the delimiter, and only there
    assert crc16(frame.unencoded()) == 0  # the CRC residue a receiver may check instead
    assert Frame.from_bytes(wire) == frame
    assert FrameDecoder().feed(wire) == [frame]


@given(st.lists(event_frames, min_size=1, max_size=8), st.data())
def test_stream_decodes_whole_and_in_any_chunks(frames: list[Frame], data: st.DataObject) -> None:
    stream = b"".join(f.to_bytes() for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    decoder = FrameDecoder(EVENTS)
    out = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += decoder.feed(stream[start:end])
    assert out == frames


def test_byte_by_byte() -> None:
    decoder = FrameDecoder(EVENTS)
    out = []
    for byte in PRESS.to_bytes() + STATUS.to_bytes():
        out += decoder.feed(bytes((byte,)))
    assert out == [PRESS, STATUS]


@given(st.binary(max_size=300), st.lists(event_frames, min_size=1, max_size=4))
def test_frames_after_garbage_are_decoded_exactly(garbage: bytes, frames: list[Frame]) -> None:
    stream = garbage + b"\x00" + b"".join(f.to_bytes() for f in frames)
    out = FrameDecoder(EVENTS).feed(stream)
    assert out[-len(frames) :] == frames
    assert all(isinstance(x, NoiseFrame | RejectedFrame | UnreadableFrame | Frame) for x in out)


def test_garbage_between_frames_is_skipped() -> None:
    stream = PRESS.to_bytes() + b"\x13\x37garbage\x00" + STATUS.to_bytes() + b"\xff" * 5
    out = FrameDecoder(EVENTS).feed(stream + b"\x00" + HELLO.to_bytes())
    assert frames_of(out) == [PRESS, STATUS, HELLO]
    assert [type(x) for x in out] == [Frame, RejectedFrame, Frame, RejectedFrame, Frame]


def test_a_decoder_joining_mid_frame_calls_the_tail_noise() -> None:
    wire = PRESS.to_bytes()
    out = FrameDecoder(EVENTS).feed(wire[5:] + STATUS.to_bytes())
    assert out == [NoiseFrame(wire[5:-1]), STATUS]


def test_empty_frames_are_ignored() -> None:
    assert FrameDecoder().feed(b"\x00\x00" + PRESS.to_bytes() + b"\x00") == [PRESS]


# Corruption.


@pytest.mark.parametrize("victim", [PRESS, STATUS, HELLO], ids=["press", "status", "hello"])
def test_every_flipped_bit_is_caught_and_the_stream_recovers(victim: Frame) -> None:
    before, after = Frame(1, CommandAck(0, 1)), Frame(2, CommandAck(1, 3))
    last = Frame(3, CommandAck(2, 4))
    wire = victim.to_bytes()
    for bit in range(len(wire) * 8):
        bad = bytearray(wire)
        bad[bit // 8] ^= 1 << (bit % 8)
        stream = before.to_bytes() + bytes(bad) + after.to_bytes() + last.to_bytes()
        got = frames_of(FrameDecoder(EVENTS).feed(stream))
        assert victim not in got, f"bit {bit}"
        assert got[0] == before, f"bit {bit}"
        assert got[-1] == last, f"bit {bit}"
        assert set(got) <= {before, after, last}, f"bit {bit}"


def test_bad_crc_is_rejected_with_its_reason() -> None:
    raw = bytearray(PRESS.unencoded())
    raw[-1] ^= 0x01
    out = FrameDecoder(EVENTS).feed(b"\x00" + cobs_encode(bytes(raw)) + b"\x00")
    assert len(out) == 1
    assert isinstance(out[0], RejectedFrame)
    assert out[0].reason.startswith("CRC mismatch")


def test_length_field_must_match() -> None:
    head = bytes((1, FrameType.ACK, 0, 3)) + b"\x01\x02"  # LEN says 3, payload holds 2
    raw = head + crc16(head).to_bytes(2, "big")
    (out,) = FrameDecoder().feed(b"\x00" + cobs_encode(raw) + b"\x00")
    assert isinstance(out, RejectedFrame)
    assert "LEN says 3" in out.reason


def test_oversize_input_is_reported_once_and_dropped_to_the_next_delimiter() -> None:
    flood = b"\x41" * 500
    synced = FrameDecoder(EVENTS)
    out = synced.feed(b"\x00" + flood + b"\x00" + PRESS.to_bytes())
    assert [type(x) for x in out] == [RejectedFrame, Frame]
    assert isinstance(out[0], RejectedFrame)
    assert out[0].reason.startswith("oversize")
    assert len(out[0].raw) == MAX_ENCODED + 1
    fresh = FrameDecoder(EVENTS).feed(flood + b"\x00" + PRESS.to_bytes())
    assert [type(x) for x in fresh] == [NoiseFrame, Frame]


def test_payload_over_64_bytes_cannot_be_sent() -> None:
    with pytest.raises(ProtocolError):
        Frame(0, ReceiverInfo(1, 1, 1, Capability(0), 0, 0, 0, 0, "x" * 33))


def _sound(frame_type: int, payload: bytes, version: int = 1, seq: int = 4) -> bytes:
    head = bytes((version, frame_type, seq, len(payload))) + payload
    return cobs_encode(head + crc16(head).to_bytes(2, "big")) + b"\x00"


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (_sound(0x40, b""), "unknown frame type 0x40"),
        (_sound(FrameType.PRESS, bytes.fromhex("12AB0F05CC57")), "PRESS payload must be 7..22"),
        (_sound(FrameType.PRESS, bytes.fromhex("12AB0F05CC57") + b" "), "printable ASCII"),
        (_sound(FrameType.PRESS, bytes.fromhex("12AB0F05CC65") + b"A"), "battery must be"),
        (_sound(FrameType.STATUS, bytes(30)), "not a RxState code"),
        (_sound(FrameType.PRESS, bytes.fromhex("12AB0F05CC57") + b"A", version=2), "version 2"),
        (_sound(FrameType.PRESS_REPLY, bytes.fromhex("12AB0F0500")), "not expected"),
    ],
    ids=["unknown-type", "short", "space-key", "battery", "state", "version", "direction"],
)
def test_sound_but_unreadable_frames_keep_seq_and_type(wire: bytes, reason: str) -> None:
    (out,) = FrameDecoder(EVENTS).feed(b"\x00" + wire)
    assert isinstance(out, UnreadableFrame)
    assert reason in out.reason
    assert out.seq == 4
    assert out.frame_type == wire_type(wire)


def wire_type(wire: bytes) -> int:
    return cobs_decode(wire[:-1])[1]


def test_handshake_frames_are_readable_in_any_version() -> None:
    info = ReceiverInfo(2, 2, 3, Capability(0), 0, 0, 41, 7, "v2 firmware")
    wire = _sound(FrameType.INFO, info.to_bytes(), version=2)
    assert FrameDecoder(EVENTS).feed(wire) == [Frame(4, info)]


def test_commands_and_events_decode_only_at_their_end() -> None:
    reply = Frame(1, PressReply("12AB0F", 5, Reason.CLOSED))
    assert FrameDecoder(COMMANDS).feed(reply.to_bytes()) == [reply]
    assert isinstance(FrameDecoder(EVENTS).feed(reply.to_bytes())[0], UnreadableFrame)


# Fields that cannot be represented.


@pytest.mark.parametrize(
    "make",
    [
        lambda: PressEvent("12AB0F", 5, ""),
        lambda: PressEvent("12AB0F", 5, "A" * (MAX_KEYS + 1)),
        lambda: PressEvent("12ab0f", 5, "A"),
        lambda: PressEvent("12AB0", 5, "A"),
        lambda: PressEvent("12AB0F", 256, "A"),
        lambda: PressEvent("12AB0F", 5, "A", rssi=-128),
        lambda: PressEvent("12AB0F", 5, "A", battery=101),
        lambda: PressEvent("12AB0F", 5, "A B"),
        lambda: Display(DisplayTarget.RECEIVER, "x" * (MAX_TEXT + 1)),
        lambda: Display(DisplayTarget.RECEIVER, "Zürich"),
        lambda: Hello(2, 1),
        lambda: Hello(0, 1),
        lambda: SetChannel(256),
        lambda: PollOpen(0x10000, 1),
        lambda: Frame(256, StatusRequest()),
        lambda: ErrorEvent(1, "x" * (MAX_ERROR_TEXT + 1)),
    ],
)
def test_unrepresentable_fields_raise_protocol_error(make: object) -> None:
    with pytest.raises(ProtocolError):
        make()  # type: ignore[operator]  # each case is a zero-argument constructor call


# The fuzz invariant.


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_nothing_but_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        Frame.from_bytes(data)


@given(st.binary(max_size=400), st.data())
def test_decoder_never_raises_and_chunking_changes_nothing(
    data: bytes, draw: st.DataObject
) -> None:
    whole = FrameDecoder().feed(data)
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=20)))
    decoder = FrameDecoder()
    pieces = []
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        pieces += decoder.feed(data[start:end])
    assert pieces == whole


def test_random_streams_with_noise_and_loss_recover_every_intact_frame() -> None:
    rng = random.Random(2)
    sent = [Frame(i % 256, PressEvent(f"{i:06X}", i % 256, "ABCDE"[i % 5])) for i in range(300)]
    stream = bytearray()
    intact = []
    for frame in sent:
        wire = bytearray(frame.to_bytes())
        if rng.random() < 0.2:
            wire[rng.randrange(len(wire) - 1)] ^= 1 << rng.randrange(8)  # corrupted
        elif rng.random() < 0.1:
            # Noise, then a delimiter (a receiver rebooting mid-frame sends 00 when it boots).
            stream += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30))) + b"\x00"
            intact.append(frame)
        else:
            intact.append(frame)
        stream += wire
    got = frames_of(FrameDecoder(EVENTS).feed(bytes(stream)))
    assert set(intact) <= set(got)
    assert set(got) <= set(sent)


# Captures, as `arsbridge replay` reads them.


def test_decode_capture_gives_the_service_its_frames() -> None:
    capture = b"boot noise" + b"\x00" + PRESS.to_bytes() + STATUS.to_bytes() + HELLO.to_bytes()
    capture += b"\x05\x01\x84\x00"  # a truncated frame: rejected
    out = list(decode_capture(capture))
    assert out[1:4] == [KeyFrame("12AB0F", "B", 5, -52, 87), STATUS, PingFrame("00A000", None, 50)]
    assert isinstance(out[0], NoiseFrame)
    assert isinstance(out[4], RejectedFrame)
