"""The TurningPoint codec: reference frames, line handling, garbage, bit flips, properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

import drivers.turning as turning
from drivers.base import KeyFrame, NoiseFrame, ProtocolError, RejectedFrame
from drivers.registry import load_driver
from drivers.turning.codec import (
    KEY_SYMBOLS,
    MAX_LINE_BYTES,
    Acknowledgement,
    Booted,
    LineDecoder,
    RadioChannel,
    Response,
    boot_banner,
    crc16,
    decode_all,
    decode_line,
    incoming_line,
    outgoing_line,
    pipe_address,
    printed_id,
    radio_id_of,
)

INCOMING = b"incoming: 090fd335ae08 --> 5"  # reference §2.2 (Mooney's sample frame)
OUTGOING = b"outgoing: 090fd3067b34"

# The sample session in nickmooney/turning-clicker README.md: boot dump, then keys 1-6 and ?.
MOONEY_SESSION = b"""*** booting ***
STATUS     = 0x0e RX_DR=0 TX_DS=0 MAX_RT=0 RX_P_NO=7 TX_FULL=0
RX_ADDR_P0-1   = 0xd30f09 0x123456
RX_ADDR_P2-5   = 0xc3 0xc4 0xc5 0xc6
TX_ADDR    = 0xd30f09
RX_PW_P0-6   = 0x06 0x06 0x00 0x00 0x00 0x00
EN_AA    = 0x00
EN_RXADDR  = 0x02
RF_CH    = 0x29
RF_SETUP   = 0x05
CONFIG     = 0x07
DYNPD/FEATURE  = 0x00 0x00
Data Rate  = 1MBPS
Model    = nRF24L01+
CRC Length   = Disabled
PA Power   = PA_HIGH


incoming: 090fd331ee8c --> 1
outgoing: 090fd3067b34
incoming: 090fd332deef --> 2
outgoing: 090fd3067b34
incoming: 090fd333cece --> 3
outgoing: 090fd3067b34
incoming: 090fd334be29 --> 4
outgoing: 090fd3067b34
incoming: 090fd335ae08 --> 5
outgoing: 090fd3067b34
incoming: 090fd3369e6b --> 6
outgoing: 090fd3067b34
incoming: 090fd33f0f42 --> ?
outgoing: 090fd3067b34
""".replace(b"\n", b"\r\n")


def keys(frames: list[object]) -> list[tuple[str, str]]:
    return [(f.handset, f.key) for f in frames if isinstance(f, KeyFrame)]


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def feed_all(pieces: list[bytes]) -> list[object]:
    decoder = LineDecoder()
    return [f for piece in pieces for f in decoder.feed(piece)]


# The reference frames.


def test_crc_is_ccitt_false() -> None:
    assert crc16(b"123456789") == 0x29B1  # the catalogue check value of CRC-16/CCITT-FALSE
    assert crc16(bytes.fromhex("123456090fd335")) == 0xAE08
    assert crc16(bytes.fromhex("090fd306")) == 0x7B34


def test_reference_press_is_handset_090fd3_on_air_key_5_option_e() -> None:
    response = Response.from_bytes(bytes.fromhex("090fd335ae08"))
    assert response.radio_id == bytes.fromhex("090fd3")  # the order the serial line shows
    assert response.key == ord("5")
    assert response.handset == "090FD3"
    assert decode_line(INCOMING) == [KeyFrame("090FD3", "E")]


def test_reference_acknowledgement_is_valid() -> None:
    assert decode_line(OUTGOING) == [Acknowledgement(bytes.fromhex("090fd3"), 0x06)]
    assert Acknowledgement.from_bytes(bytes.fromhex("090fd3067b34")).handset == "090FD3"


@pytest.mark.parametrize("bit", range(48))
def test_one_flipped_bit_in_a_press_is_rejected(bit: int) -> None:
    frame = bytearray(bytes.fromhex("090fd335ae08"))
    frame[bit // 8] ^= 1 << (bit % 8)
    [rejected] = decode_line(b"incoming: %s --> 5" % frame.hex().encode())
    assert isinstance(rejected, RejectedFrame)
    assert rejected.reason.startswith("bad CRC")
    with pytest.raises(ProtocolError, match="bad CRC"):
        Response.from_bytes(bytes(frame))


@pytest.mark.parametrize("bit", range(48))
def test_one_flipped_bit_in_an_acknowledgement_is_rejected(bit: int) -> None:
    frame = bytearray(bytes.fromhex("090fd3067b34"))
    frame[bit // 8] ^= 1 << (bit % 8)
    [rejected] = decode_line(b"outgoing: " + frame.hex().encode())
    assert isinstance(rejected, RejectedFrame)
    assert rejected.reason.startswith("outgoing bad CRC")


def test_a_flipped_bit_anywhere_in_the_line_never_gives_a_wrong_press() -> None:
    line = INCOMING + b"\r\n"
    for bit in range(len(line) * 8):
        damaged = bytearray(line)
        damaged[bit // 8] ^= 1 << (bit % 8)
        frames = decode_all(bytes(damaged))
        assert keys(list(frames)) in ([], [("090FD3", "E")]), damaged


def test_the_encoder_reproduces_the_reference_lines() -> None:
    response = Response.for_key("090FD3", "E")
    assert incoming_line(response) == INCOMING + b"\r\n"
    assert outgoing_line(Acknowledgement(response.radio_id)) == OUTGOING + b"\r\n"


# Keys and IDs.


def test_keys_1_to_9_and_0_are_options_a_to_j_and_question_mark_stays() -> None:
    expected = {ord(d): letter for d, letter in zip("1234567890", "ABCDEFGHIJ", strict=True)}
    assert expected | {ord("?"): "?"} == KEY_SYMBOLS
    assert keys(list(decode_all(MOONEY_SESSION))) == [
        ("090FD3", k) for k in ("A", "B", "C", "D", "E", "F", "?")
    ]


def test_a_key_byte_no_keypad_sends_is_rejected() -> None:
    response = Response(radio_id_of("090FD3"), ord("A"))
    [rejected] = decode_line(incoming_line(response).rstrip())
    assert isinstance(rejected, RejectedFrame)
    assert rejected.reason.startswith("unknown key")


def test_a_key_character_that_disagrees_with_the_frame_is_rejected() -> None:
    [rejected] = decode_line(b"incoming: 090fd335ae08 --> 4")
    assert isinstance(rejected, RejectedFrame)
    assert rejected.reason.startswith("key mismatch")


def test_frames_carry_the_device_id_and_the_pipe_address_is_reversed() -> None:
    assert radio_id_of("abcdef") == bytes([0xAB, 0xCD, 0xEF])
    assert printed_id(bytes([0xAB, 0xCD, 0xEF])) == "ABCDEF"
    # The sketch's register dump after acknowledging 090fd3: TX_ADDR = 0xd30f09.
    assert pipe_address("090FD3") == bytes.fromhex("d30f09")
    for bad in ("ABCDE", "ABCDEFA", "GHIJKL"):
        with pytest.raises(ProtocolError):
            radio_id_of(bad)
    with pytest.raises(ProtocolError):
        Response.for_key("090FD3", "K")


# Lines: boot output, garbage, chunking.


def test_boot_and_status_lines_are_skipped_and_the_channel_is_read() -> None:
    frames = list(decode_all(MOONEY_SESSION))
    assert frames[0] == Booted()
    assert RadioChannel(41) in frames
    assert sum(isinstance(f, NoiseFrame) for f in frames) == 14  # the rest of the dump
    assert sum(isinstance(f, Acknowledgement) for f in frames) == 7
    assert not any(isinstance(f, RejectedFrame) for f in frames)
    assert list(decode_all(boot_banner(7)))[:1] == [Booted()]
    assert RadioChannel(7) in list(decode_all(boot_banner(7)))


def test_byte_by_byte_equals_whole() -> None:
    whole = feed_all([MOONEY_SESSION])
    assert feed_all([bytes([b]) for b in MOONEY_SESSION]) == whole
    assert len(keys(whole)) == 7


def test_garbage_around_and_before_a_press_on_its_line() -> None:
    data = (
        b"\x00\xff\xfe junk\r\n"
        + b"\x13\x37" * 200  # line noise longer than any line, no line end
        + INCOMING
        + b"\r\n#?!\r\n"
        + OUTGOING
        + b" trailing\r\n"
    )
    frames = list(decode_all(data))
    assert keys(frames) == [("090FD3", "E")]
    assert Acknowledgement(bytes.fromhex("090fd3")) in frames
    assert sum(isinstance(f, NoiseFrame) for f in frames) == 2


def test_a_broken_frame_line_is_rejected_not_ignored() -> None:
    [rejected] = decode_line(b"incoming: 090fd3 --> 5")
    assert isinstance(rejected, RejectedFrame)
    assert rejected.reason.startswith("malformed line")


def test_overlong_lines_keep_only_their_end() -> None:
    frames = feed_all([b"x" * (MAX_LINE_BYTES * 3) + b"\n"])
    assert frames == [NoiseFrame(b"x" * MAX_LINE_BYTES)]


def test_a_capture_without_a_final_line_end_is_complete() -> None:
    frames = list(turning.decode_capture(MOONEY_SESSION.rstrip()))
    assert keys(frames)[-1] == ("090FD3", "?")


def test_the_registry_finds_the_driver() -> None:
    module = load_driver("turning")
    assert module.FAMILY == "turning"
    assert keys(list(module.decode_capture(INCOMING + b"\n"))) == [("090FD3", "E")]


# Properties.

ids = st.integers(0, (1 << 24) - 1).map(lambda n: f"{n:06X}")
symbols = st.sampled_from(sorted(KEY_SYMBOLS.values()))
noise_lines = st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=40).filter(
    lambda s: "incoming" not in s and "outgoing" not in s
)


@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=12))
def test_arbitrary_bytes_never_raise_and_chunking_never_matters(
    data: bytes, cuts: list[int]
) -> None:
    try:
        whole = feed_all([data])
        assert feed_all(chunked(data, cuts)) == whole
    except ProtocolError:
        pass  # the only error a codec may raise (this decoder raises none)


@given(st.binary(min_size=6, max_size=6))
def test_arbitrary_radio_bytes_parse_or_raise_protocol_error(frame: bytes) -> None:
    for parse in (Response.from_bytes, Acknowledgement.from_bytes):
        try:
            parsed = parse(frame)
        except ProtocolError:
            continue
        assert parsed.to_bytes() == frame


@given(
    st.lists(st.tuples(ids, symbols, noise_lines), max_size=20),
    st.lists(st.integers(0, 2000), max_size=10),
)
def test_round_trip_encoder_to_decoder(
    presses: list[tuple[str, str, str]], cuts: list[int]
) -> None:
    data = boot_banner()
    for handset, symbol, noise in presses:
        response = Response.for_key(handset, symbol)
        ack = Acknowledgement(response.radio_id)
        data += noise.encode() + b"\r\n" + incoming_line(response) + outgoing_line(ack)
    frames = feed_all(chunked(data, cuts))
    assert keys(frames) == [(h, s) for h, s, _ in presses]
    assert sum(isinstance(f, Acknowledgement) for f in frames) == len(presses)
    assert not any(isinstance(f, RejectedFrame) for f in frames)
