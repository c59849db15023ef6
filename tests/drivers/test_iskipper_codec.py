"""The iSkipper codec: capture lines of both firmwares, noise, rejects, chunking, commands."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import KeyFrame, NoiseFrame, PingFrame, ProtocolError, RejectedFrame
from drivers.ids import iclicker_id
from drivers.iskipper.codec import (
    MAX_LINE,
    Command,
    CommandReader,
    FirmwareState,
    HostCommand,
    IskipperDecoder,
    StatusFrame,
    decode_capture,
    encode_capture,
    encode_channel,
    encode_command,
    encode_debug_line,
    encode_status,
    parse_channel,
)

SKETCH = b"Captured: C (42, 80, 71, B3)\n\n"
SOFTWARE = b"Captured,C,428071B3\n"
PRESS = KeyFrame("428071B3", "C")


def frames(data: bytes) -> list[object]:
    return decode_capture(data)


def votes(data: bytes) -> list[object]:
    """The frames that are not noise."""
    return [f for f in frames(data) if not isinstance(f, NoiseFrame)]


def byte_by_byte(data: bytes) -> list[object]:
    decoder = IskipperDecoder()
    out: list[object] = []
    for i in range(len(data)):
        out += decoder.feed(data[i : i + 1])
    return out + decoder.finish()


# Decoding.


def test_sketch_line_is_a_press_and_its_empty_line_noise() -> None:
    assert frames(SKETCH) == [PRESS, NoiseFrame(b"")]


def test_software_line_is_a_press() -> None:
    assert frames(SOFTWARE) == [PRESS]


@pytest.mark.parametrize("line", [b"Captured: P (43, D4, E1, 76)\n", b"Captured,P,43D4E176\n"])
def test_ping_is_presence_not_a_vote(line: bytes) -> None:
    assert frames(line) == [PingFrame("43D4E176")]


def test_every_answer_letter() -> None:
    data = b"".join(encode_capture("428071B3", k, "software") for k in "ABCDE")
    assert frames(data) == [KeyFrame("428071B3", k) for k in "ABCDE"]


def test_crlf_and_trailing_space_as_the_current_sketch_prints() -> None:
    # capture.ino today: snprintf("... %02X) \n") then println, so ") \n\r\n".
    data = b"Captured: C (42, 80, 71, B3) \n\r\nCaptured,A,428071B3\r\n"
    assert votes(data) == [PRESS, KeyFrame("428071B3", "A")]


def test_whole_and_byte_by_byte_agree_on_a_mixed_stream() -> None:
    data = (
        b"Started promiscous\r\n3D\n" + SKETCH + b"C1\n1\n" + SOFTWARE + b"\xff\xfe\x00garbage\n"
        b"Captured: C (42, 80, 71, B4)\n" + SKETCH
    )
    whole = frames(data)
    assert byte_by_byte(data) == whole
    assert [f for f in whole if not isinstance(f, NoiseFrame)] == [
        PRESS,
        PRESS,
        RejectedFrame(b"Captured: C (42, 80, 71, B4)", "bad id check: 428071B4 must end in B3"),
        PRESS,
    ]


def test_debug_lines_banners_and_empty_lines_are_noise() -> None:
    data = b"3D\nC1\n1\n\n\r\nStarted promiscous\r\nConnection Established! iSkipper ID:\r\n"
    assert all(isinstance(f, NoiseFrame) for f in frames(data))
    assert len(frames(data)) == 7


def test_garbage_before_on_the_same_line_is_skipped() -> None:
    # After a reset the line in progress may start with junk; the capture itself is whole.
    assert votes(b"\x00\xf0\x81Captured,C,428071B3\n") == [PRESS]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"Captured: C (42, 80, 71, B4)", "bad id check"),
        (b"Captured,C,428071B4", "bad id check"),
        (b"Captured: C (42, 80, 7G, B3)", "bad hex"),
        (b"Captured,C,42807GB3", "bad hex"),
        (b"Captured: X (42, 80, 71, B3)", "unknown answer"),
        (b"Captured,c,428071B3", "unknown answer"),
        (b"Captured,\xff,428071B3", "unknown answer"),
        (b"Captured: C (42, 80, 71)", "wrong byte count"),
        (b"Captured: C (42, 80, 71, B3, 00)", "wrong byte count"),
        (b"Captured,C,428071B", "wrong byte count"),
        (b"Captured,C,428071B3FF", "wrong byte count"),
        (b"Captured: C (4, 80, 71, B3)", "bad hex"),
        (b"Captured: C 42 80 71 B3", "malformed capture"),
        (b"Captured: C (42, 80, 71, B3)junk", "malformed capture"),
        (b"Captured", "malformed capture"),
        (b"Captured;C;428071B3", "malformed capture"),
    ],
)
def test_capture_lines_that_fail_a_check_are_rejected_with_a_reason(
    line: bytes, reason: str
) -> None:
    (frame,) = frames(line + b"\n")
    assert isinstance(frame, RejectedFrame)
    assert frame.raw == line
    assert frame.reason.split(":")[0] == reason


def test_last_line_without_its_lf_counts_at_the_end_of_a_file() -> None:
    decoder = IskipperDecoder()
    assert decoder.feed(b"Captured,C,428071B3") == []
    assert decoder.finish() == [PRESS]
    assert decoder.finish() == []


def test_status_lines_of_iskipper_software() -> None:
    data = b"".join(encode_status(s) for s in FirmwareState)
    assert frames(data) == [StatusFrame(s) for s in FirmwareState]


# Bounded memory.


def test_very_long_garbage_line_is_one_noise_frame_and_memory_stays_bounded() -> None:
    decoder = IskipperDecoder()
    out: list[object] = []
    for _ in range(1000):
        out += decoder.feed(b"\xaa" * 1000)
        assert len(decoder._partial) <= MAX_LINE
    out += decoder.feed(b"tail\n" + SOFTWARE)
    assert out == [NoiseFrame(b"\xaa" * MAX_LINE), PRESS]


def test_long_line_that_names_a_capture_is_rejected() -> None:
    line = b"Captured: C (" + b"42, " * 100 + b")"
    (frame,) = frames(line + b"\n")
    assert isinstance(frame, RejectedFrame)
    assert frame.reason.startswith("line too long")
    assert frame.raw == line[:MAX_LINE]


def test_line_of_exactly_max_bytes_is_still_decoded() -> None:
    line = b"Captured,C,428071B3".rjust(MAX_LINE, b" ")
    assert frames(line + b"\n") == [PRESS]
    assert byte_by_byte(line + b"\n") == [PRESS]


# Properties.

VALID_IDS = st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)).map(
    iclicker_id
)
KEYS = st.sampled_from("ABCDEP")
FORMS = st.sampled_from(["sketch", "software"])
PIECES = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [b"\n", b"\r\n", b"\r", b"Captured", b"Captured: ", b"Captured,", b" (", b", ", b")", b"\0"]
    ),
    st.builds(encode_capture, VALID_IDS, KEYS, FORMS),
    st.builds(encode_debug_line, VALID_IDS, KEYS),
    st.integers(MAX_LINE - 3, MAX_LINE + 3).map(lambda n: b"Captured" + b"x" * n),
)
STREAMS = st.one_of(st.binary(max_size=2000), st.lists(PIECES, max_size=40).map(b"".join))


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(
    data=STREAMS,
    cuts=st.lists(st.integers(min_value=0), max_size=30),
    max_line=st.sampled_from([MAX_LINE, 12, 1]),
)
def test_any_bytes_never_raise_and_chunking_never_changes_the_frames(
    data: bytes, cuts: list[int], max_line: int
) -> None:
    whole = IskipperDecoder(max_line)
    expected = whole.feed(data) + whole.finish()
    chunked = IskipperDecoder(max_line)
    got: list[object] = []
    for chunk in _split(data, cuts):
        got += chunked.feed(chunk)
        assert len(chunked._partial) <= max_line
    assert got + chunked.finish() == expected
    for frame in expected:
        assert isinstance(frame, KeyFrame | PingFrame | RejectedFrame | NoiseFrame | StatusFrame)


@given(handset=VALID_IDS, key=KEYS, form=FORMS)
def test_encode_then_decode_round_trips(handset: str, key: str, form: str) -> None:
    data = encode_capture(handset, key, form)  # type: ignore[arg-type]
    expected = PingFrame(handset) if key == "P" else KeyFrame(handset, key)
    assert votes(encode_debug_line(handset, key) + data) == [expected]


# Encoding.


def test_encoded_sketch_line_is_byte_for_byte_what_the_2017_capture_holds() -> None:
    assert encode_capture("428071B3", "C") == SKETCH
    assert encode_capture("428071b3", "C", "software") == SOFTWARE


@pytest.mark.parametrize(
    ("handset", "key", "line"),
    [("428071B3", "C", b"3D\n"), ("42BFD62B", "E", b"CA\n"), ("428071B3", "A", b"31\n")],
)
def test_debug_line_matches_the_real_sketch_output(handset: str, key: str, line: bytes) -> None:
    assert encode_debug_line(handset, key) == line


@pytest.mark.parametrize(
    ("handset", "key"), [("428071B4", "A"), ("xyz", "A"), ("", "A"), ("428071B3", "F")]
)
def test_encoding_what_the_protocol_cannot_carry_raises_protocol_error(
    handset: str, key: str
) -> None:
    with pytest.raises(ProtocolError):
        encode_capture(handset, key)
    with pytest.raises(ProtocolError):
        encode_debug_line(handset, key)


def test_unknown_form_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        encode_capture("428071B3", "A", "binary")  # type: ignore[arg-type]


# Host commands.


def test_commands_end_in_nul_and_read_back() -> None:
    data = encode_command(Command.CONNECT) + encode_channel("ab") + encode_command(Command.CAPTURE)
    assert data == b"I\0c,AB\0C\0"
    reader = CommandReader()
    assert reader.feed(data[:4]) == [HostCommand("I")]
    assert reader.feed(data[4:]) == [HostCommand("c", "AB"), HostCommand("C")]


def test_command_reader_bounds_a_command_without_nul() -> None:
    reader = CommandReader()
    assert reader.feed(b"x" * 10_000) == []
    assert reader.feed(b"\0C\0") == [HostCommand("x", "x" * 62), HostCommand("C")]


@pytest.mark.parametrize("channel", ["AE", "A", "", "EE", "AAA"])
def test_bad_channel_raises_protocol_error(channel: str) -> None:
    with pytest.raises(ProtocolError):
        parse_channel(channel)


def test_command_that_cannot_fit_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        encode_command(Command.CHANNEL, "A" * 100)
    with pytest.raises(ProtocolError):
        encode_command(Command.CHANNEL, "A\0B")


@given(
    id_bytes=st.binary(min_size=4, max_size=4),
    key=st.sampled_from("ABCDEPXa"),
    form=st.sampled_from(["sketch", "software"]),
    lower=st.booleans(),
)
def test_the_one_pass_match_decides_as_the_checks_do(
    id_bytes: bytes, key: str, form: str, lower: bool
) -> None:
    """Lines a working receiver prints take a one-pass path; any ID, valid or not, in either
    form and either case, gives the frame the field-by-field checks give."""
    from drivers.iskipper.codec import _check_capture, decode_line

    digits = id_bytes.hex()
    digits = digits if lower else digits.upper()
    if form == "sketch":
        body = f": {key} ({', '.join(digits[i : i + 2] for i in range(0, 8, 2))})".encode()
    else:
        body = f",{key},{digits}".encode()
    line = b"Captured" + body
    assert decode_line(line) == _check_capture(line, body)
