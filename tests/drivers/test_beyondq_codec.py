"""The Beyond Question codec: frame layout, IDs, buttons, resync, garbage, properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

import drivers.beyondq as beyondq
from drivers.base import KeyFrame, NoiseFrame, PingFrame, ProtocolError, RejectedFrame
from drivers.beyondq.codec import (
    ANSWER_BUTTONS,
    BUTTON_LOG_ON,
    MAX_NOISE_BYTES,
    PRESENCE_BUTTONS,
    ButtonFrame,
    FrameDecoder,
    classify,
    decode_all,
    parse_keypad,
)
from drivers.registry import load_driver

# Keypad 0x000001 pressing button 1 (A): raw ID 1 << 3 = 0x000008, little-endian.
FRAME_A = b"R\x08\x00\x00:K\x01\r\n"


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def feed_all(pieces: list[bytes]) -> list[object]:
    decoder = FrameDecoder()
    return [f for piece in pieces for f in decoder.feed(piece)]


def events(frames: list[object]) -> list[object]:
    return [f for f in frames if not isinstance(f, NoiseFrame)]


# Layout and IDs.


def test_a_reference_frame_decodes() -> None:
    assert ButtonFrame.from_bytes(FRAME_A) == ButtonFrame(keypad=1, button=1)
    assert decode_all(FRAME_A) == [KeyFrame("000001", "A")]
    assert ButtonFrame(1, 1).to_bytes() == FRAME_A


def test_the_raw_id_is_little_endian_24_bits_shifted_right_by_3() -> None:
    frame = ButtonFrame.from_bytes(b"R\xff\xff\xff:K\x0a\r\n")
    assert (frame.keypad, frame.low_bits, frame.handset) == (0x1FFFFF, 7, "1FFFFF")
    frame = ButtonFrame.from_bytes(b"R\x35\x24\x13:K\x00\r\n")  # raw 0x132435
    assert (frame.keypad, frame.low_bits) == (0x132435 >> 3, 0x132435 & 7)
    assert frame.handset == f"{0x132435 >> 3:06X}" == "026486"
    assert frame.to_bytes() == b"R\x35\x24\x13:K\x00\r\n"  # the low bits survive a round trip


def test_the_low_bits_do_not_change_the_handset() -> None:
    for low in range(8):
        assert decode_all(ButtonFrame(0x1234, 2, low).to_bytes()) == [KeyFrame("001234", "B")]


def test_handset_ids_are_21_bits_as_6_hex_digits() -> None:
    assert parse_keypad("1fffff") == 0x1FFFFF
    for bad in ("200000", "xyz", "", "-1"):
        with pytest.raises(ProtocolError):
            parse_keypad(bad)


@pytest.mark.parametrize(
    "frame",
    [
        b"R\x08\x00\x00:K\x01\r",  # short
        b"X\x08\x00\x00:K\x01\r\n",
        b"R\x08\x00\x00;K\x01\r\n",
        b"R\x08\x00\x00:k\x01\r\n",
        b"R\x08\x00\x00:K\x01\n\r",
    ],
)
def test_anything_but_the_pattern_is_not_a_frame(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        ButtonFrame.from_bytes(frame)


# Buttons.


@pytest.mark.parametrize("code", range(256))
def test_button_codes_map_as_the_reference_lists(code: int) -> None:
    raw = ButtonFrame(0x42, code).to_bytes()
    [event] = decode_all(raw)
    if code == 0:
        assert event == KeyFrame("000042", "0")
    elif 1 <= code <= 10:
        assert event == KeyFrame("000042", "ABCDEFGHIJ"[code - 1])
    elif code in {11, 12, 13, 14, 15, 16, 18, 19, 21}:
        assert event == PingFrame("000042")  # check-answer, help-me, arrows, jump, log-on
    else:
        assert event == RejectedFrame(raw, f"unknown button: code {code}")


def test_encoding_a_key_uses_the_answer_buttons() -> None:
    assert ButtonFrame.for_key("000001", "A").to_bytes() == FRAME_A
    assert ButtonFrame.for_key("000001", "0").button == 0
    for key in ("?", "K", "1"):
        with pytest.raises(ProtocolError):
            ButtonFrame.for_key("000001", key)


# Streams: whole, byte-wise, garbage, resync.


STREAM = (
    FRAME_A
    + ButtonFrame(0x1ABCDE, 5).to_bytes()
    + ButtonFrame(0x00BEEF, BUTTON_LOG_ON).to_bytes()
    + ButtonFrame(0x00BEEF, 10, 3).to_bytes()
)
STREAM_EVENTS = [
    KeyFrame("000001", "A"),
    KeyFrame("1ABCDE", "E"),
    PingFrame("00BEEF"),
    KeyFrame("00BEEF", "J"),
]


def test_byte_by_byte_equals_whole() -> None:
    assert feed_all([STREAM]) == STREAM_EVENTS
    assert feed_all([bytes([b]) for b in STREAM]) == STREAM_EVENTS


def test_garbage_around_frames_is_skipped_as_noise() -> None:
    data = b"\x00\xffRR:K\r\nR" + STREAM[:9] + b"R:K\x01" + STREAM[9:] + b"\xfe"
    frames = list(decode_all(data))
    assert events(frames) == STREAM_EVENTS
    assert frames[0] == NoiseFrame(b"\x00\xffRR:K\r\nR")
    assert frames[-1] == NoiseFrame(b"\xfe")


def test_a_cut_frame_is_skipped_and_the_next_one_found() -> None:
    data = FRAME_A[:5] + STREAM
    assert events(list(decode_all(data))) == STREAM_EVENTS


def test_a_frame_that_starts_inside_a_false_start_is_found() -> None:
    # An 'R' then a frame: the false start fails where its ':' should be; one byte is skipped.
    assert events(feed_all([b"R", STREAM])) == STREAM_EVENTS


def test_long_garbage_is_reported_in_bounded_runs() -> None:
    frames = feed_all([b"\x00" * (MAX_NOISE_BYTES * 2 + 5) + FRAME_A])
    assert frames == [
        NoiseFrame(b"\x00" * MAX_NOISE_BYTES),
        NoiseFrame(b"\x00" * MAX_NOISE_BYTES),
        NoiseFrame(b"\x00" * 5),
        KeyFrame("000001", "A"),
    ]


def test_a_partial_frame_waits_for_the_rest() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(FRAME_A[:8]) == []
    assert decoder.feed(FRAME_A[8:]) == [KeyFrame("000001", "A")]
    assert decoder.feed(FRAME_A[:4]) == []
    assert decoder.finish() == [NoiseFrame(FRAME_A[:4])]


def test_the_registry_finds_the_driver() -> None:
    module = load_driver("beyondq")
    assert module.FAMILY == "beyondq"
    assert events(list(module.decode_capture(b"junk" + STREAM))) == STREAM_EVENTS
    assert (beyondq.USB_VENDOR_ID, beyondq.USB_PRODUCT_ID) == (0x0471, 0x0888)


# Properties.

keypads = st.integers(0, (1 << 21) - 1)
buttons = st.sampled_from(sorted({*ANSWER_BUTTONS, *PRESENCE_BUTTONS}))
garbage = st.binary(max_size=20).map(lambda b: b.replace(b"R", b""))  # 'R' could open a frame


@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=12))
def test_arbitrary_bytes_never_raise_and_chunking_never_matters(
    data: bytes, cuts: list[int]
) -> None:
    try:
        whole = feed_all([data])
        assert feed_all(chunked(data, cuts)) == whole
    except ProtocolError:
        pass  # the only error a codec may raise (this decoder raises none)


@given(st.binary(max_size=12))
def test_arbitrary_bytes_parse_or_raise_protocol_error(data: bytes) -> None:
    try:
        frame = ButtonFrame.from_bytes(data)
    except ProtocolError:
        return
    assert frame.to_bytes() == data


@given(keypads, st.integers(0, 255), st.integers(0, 7))
def test_frames_round_trip_through_bytes(keypad: int, button: int, low: int) -> None:
    frame = ButtonFrame(keypad, button, low)
    assert ButtonFrame.from_bytes(frame.to_bytes()) == frame


@given(
    st.lists(st.tuples(keypads, buttons, st.integers(0, 7), garbage), max_size=25),
    st.lists(st.integers(0, 600), max_size=10),
)
def test_round_trip_encoder_to_decoder_with_garbage_between(
    messages: list[tuple[int, int, int, bytes]], cuts: list[int]
) -> None:
    data = b"".join(noise + ButtonFrame(k, b, low).to_bytes() for k, b, low, noise in messages)
    expected = [classify(ButtonFrame(k, b, low), b"") for k, b, low, _ in messages]
    assert events(feed_all(chunked(data, cuts))) == expected
