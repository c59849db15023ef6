"""The i>clicker codec: reports and commands, whole, byte by byte, and under Hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import ProtocolError, RejectedFrame
from drivers.iclicker import commands as cmds
from drivers.iclicker.codec import (
    REPORT_SIZE,
    BaseStatus,
    CommandAck,
    Generation,
    OtherReport,
    PullRecord,
    PullReport,
    Response,
    ResponseSlot,
    Summary,
    VoteReport,
    decode_report,
    generation_of,
)
from drivers.iclicker.commands import Command, CounterOp, Op


def report(text: str) -> bytes:
    """A report from hex, zero-padded to 64 bytes as the base sends it."""
    return bytes.fromhex(text).ljust(REPORT_SIZE, b"\0")


SNOOPED_VOTE = "02 13 81 82 E9 70 00"  # iclickerpoll usbsnooplog1_cleaned.log


def test_the_snooped_vote_decodes_to_its_remote() -> None:
    decoded = decode_report(report(SNOOPED_VOTE))
    assert isinstance(decoded, VoteReport)
    assert decoded.responses() == [Response("82E9701B", "A", 0)]
    assert decode_report(bytes.fromhex(SNOOPED_VOTE)) == decoded  # short reads are padded


def test_both_slots_are_read_and_either_may_be_empty() -> None:
    both = report("02 13 82 11 22 33 07" + " 00" * 25 + " 02 13 85 44 55 66 08")
    decoded = decode_report(both)
    assert isinstance(decoded, VoteReport)
    assert [(r.handset, r.key, r.index) for r in decoded.responses()] == [
        ("11223300", "B", 7),
        ("44556677", "E", 8),
    ]
    second_only = report("00" * 32 + "02 13 83 01 02 03 09")
    decoded = decode_report(second_only)
    assert isinstance(decoded, VoteReport)
    assert decoded.first is None
    assert decoded.responses() == [Response("01020300", "C", 9)]


def test_a_duplicate_slot_decodes_twice_and_round_trips() -> None:
    slot = ResponseSlot(0x84, bytes.fromhex("A24653"), 200)
    twin = VoteReport(slot, slot)
    assert decode_report(twin.to_bytes()) == twin
    assert twin.responses() == [Response("A24653B7", "D", 200)] * 2


def test_a_garbled_half_keeps_the_vote_in_the_other() -> None:
    data = report("02 13 81 82 E9 70 05" + " 00" * 25 + " 7F 7F 7F")
    decoded = decode_report(data)
    assert isinstance(decoded, VoteReport)
    assert decoded.responses() == [Response("82E9701B", "A", 5)]
    assert decoded.garbled.startswith(b"\x7f\x7f\x7f")


def test_i_clicker_1_answer_codes_are_votes() -> None:
    for code, key in zip(range(0x01, 0x06), "ABCDE", strict=True):
        decoded = decode_report(report(f"02 13 {code:02X} 82 E9 70 10"))
        assert isinstance(decoded, VoteReport)
        assert decoded.responses() == [Response("82E9701B", key, 16)]


@pytest.mark.parametrize("code", [0xAA, 0x00, 0x86, 0x87, 0xFF])
def test_codes_after_a_frequency_change_carry_no_vote(code: int) -> None:
    decoded = decode_report(report(f"02 13 {code:02X} 00 00 00 03"))
    assert isinstance(decoded, VoteReport)
    assert decoded.responses() == []
    assert decoded.ignored == 1


def test_answers_status_and_summary_from_the_snoop_log() -> None:
    assert decode_report(report("01 10 aa")) == CommandAck(Op.SET_FREQUENCY)
    ack = decode_report(report("01 12 aa 82 e9 70 00"))
    assert ack == CommandAck(Op.CLOSE_POLL, bytes.fromhex("82e970"))
    status = decode_report(report("01 15 04 05 21 41 01 02 66"))
    assert status == BaseStatus(Op.SESSION, bytes.fromhex("04 05 21 41 01 02 66"))
    assert isinstance(decode_report(report("02 18 1a 00 01 00 01")), Summary)
    assert isinstance(decode_report(report("02 2c")), OtherReport)
    assert isinstance(decode_report(bytes(REPORT_SIZE)), OtherReport)


def test_v1_records_are_numbered_after_the_index_asked_for() -> None:
    records = tuple(
        PullRecord(0x61 + i % 5, bytes((i, i + 1, i + 2))) for i in range(14)
    )  # the most one report holds
    pulled = PullReport(more=True, unread=20, after_index=250, last_index=8, records=records)
    decoded = decode_report(pulled.to_bytes())
    assert decoded == pulled
    assert isinstance(decoded, PullReport)
    indexes = [r.index for r in decoded.responses()]
    assert indexes == [251, 252, 253, 254, 255, *range(9)]  # wraps at 256
    assert [r.key for r in decoded.responses()][:5] == list("ABCDE")


def test_a_v1_report_claiming_too_many_records_is_rejected() -> None:
    decoded = decode_report(report("02 18 00 0F 00 0F 0F"))
    assert isinstance(decoded, RejectedFrame)
    assert "15 records" in decoded.reason


def test_bad_v1_record_codes_are_ignored_not_counted() -> None:
    decoded = decode_report(report("02 18 00 02 04 06 02 61 01 02 03 7A 01 02 03"))
    assert isinstance(decoded, PullReport)
    assert decoded.responses() == [Response("01020300", "A", 5)]
    assert decoded.ignored == 1


@pytest.mark.parametrize("size", [0, REPORT_SIZE + 1, 200])
def test_only_impossible_lengths_raise(size: int) -> None:
    with pytest.raises(ProtocolError):
        decode_report(bytes(size))


def test_generation_follows_the_manufacturer_string() -> None:
    assert generation_of("I-Clicker USB Base") is Generation.V1
    assert generation_of("iclicker") is Generation.V2
    assert generation_of("Logitech") is None
    assert generation_of(None) is None


# Commands.


def test_set_frequency_for_every_channel() -> None:
    assert cmds.set_frequency("AA").to_bytes()[:4] == bytes.fromhex("01 10 21 41")
    assert cmds.set_frequency("bd").to_bytes()[:4] == bytes.fromhex("01 10 22 44")
    for a in "ABCD":
        for b in "ABCD":
            f = cmds.channel_bytes(a + b)
            assert cmds.channel_name(f[0], f[1]) == a + b
    for bad in ("AE", "A", "ZZZ", "1A"):
        with pytest.raises(ProtocolError):
            cmds.set_frequency(bad)


def test_commands_are_64_byte_output_reports() -> None:
    cmd = cmds.pull(0x2A)
    data = cmd.to_bytes()
    assert len(data) == REPORT_SIZE
    assert data[:5] == bytes.fromhex("01 17 01 2A 04")
    assert Command.from_bytes(data) == cmd
    assert cmds.poll_type("alpha").to_bytes()[:5] == bytes.fromhex("01 19 66 0A 01")
    assert cmds.welcome().to_bytes()[:10] == bytes.fromhex("01 29 a1 8f 96 8d 99 97 8f 80")
    assert cmds.instructor("82E9701B", Generation.V2).args == bytes.fromhex("82 E9 70")
    assert cmds.instructor("82E9701B", Generation.V1).args == bytes.fromhex("06 82 E9 70")
    with pytest.raises(ProtocolError):
        Command.from_bytes(bytes.fromhex("02 13"))


def test_lcd_lines_are_16_ascii_characters() -> None:
    line = cmds.lcd_line(1, "Wirtschaftsförderung 2030")
    assert line.to_bytes()[:2] == bytes.fromhex("01 13")
    assert line.args == b"Wirtschaftsforde"
    assert cmds.lcd_line(2, "Votes: 7").args == b"Votes: 7        "
    assert cmds.lcd_line(2, "€ ✓").args == b"? ?             "
    assert not line.answered
    with pytest.raises(ProtocolError):
        cmds.lcd_line(3, "x")


def test_sequences_follow_the_working_drivers() -> None:
    v2 = [str(c) for c in cmds.init_sequence(Generation.V2, "AA")]
    assert v2 == [
        "01 10 21 41",
        "01 16",
        "01 2a 21 41 05",
        "01 12",
        "01 15",
        "01 16",
        "01 2d",
        "01 29 a1 8f 96 8d 99 97 8f 80",
        "01 17 04",
        "01 17 03",
        "01 16",
    ]
    start = [str(c) for c in cmds.start_sequence(Generation.V2)]
    assert start == ["01 17 03", "01 17 05", "01 19 66 0a 01", "01 11"]
    stop = [str(c) for c in cmds.stop_sequence(Generation.V2)]
    assert stop == ["01 12", "01 16", "01 17 01 00 04", "01 17 03", "01 17 04"]
    assert [str(c) for c in cmds.start_sequence(Generation.V1)] == ["01 17 05", "01 11 00 05"]
    v1 = [c.op for c in cmds.init_sequence(Generation.V1, "CD", "82E9701B")]
    assert v1 == [Op.SET_FREQUENCY, Op.STANDBY, Op.COUNTER, Op.STANDBY, Op.COUNTER]


# Byte by byte, and Hypothesis.

responses = st.builds(
    ResponseSlot,
    code=st.sampled_from([*range(0x81, 0x86), *range(1, 6), 0xAA, 0x00, 0x86]),
    id3=st.binary(min_size=3, max_size=3),
    index=st.integers(0, 255),
)
vote_reports = st.builds(VoteReport, responses, st.none() | responses)


@given(st.lists(vote_reports, min_size=1, max_size=5), st.integers(1, 64))
def test_byte_wise_feeding_gives_the_same_reports(reports: list[VoteReport], chunk: int) -> None:
    from drivers.iclicker.codec import ReportDecoder

    stream = b"".join(r.to_bytes() for r in reports)
    decoder = ReportDecoder()
    out = []
    for offset in range(0, len(stream), chunk):
        out.extend(decoder.feed(stream[offset : offset + chunk]))
    assert out == reports
    assert decoder.pending == 0
    one_by_one = ReportDecoder()
    assert [r for b in stream for r in one_by_one.feed(bytes((b,)))] == reports


@given(st.binary(max_size=3 * REPORT_SIZE))
def test_arbitrary_reports_decode_or_raise_protocol_error(data: bytes) -> None:
    try:
        decoded = decode_report(data)
    except ProtocolError:
        assert not 1 <= len(data) <= REPORT_SIZE
        return
    if isinstance(decoded, VoteReport | PullReport):
        for r in decoded.responses():
            assert len(r.handset) == 8
            assert r.key in "ABCDE"
            assert 0 <= r.index < 256


@given(st.binary(max_size=5 * REPORT_SIZE))
def test_the_stream_decoder_never_raises(data: bytes) -> None:
    from drivers.iclicker.codec import ReportDecoder

    assert len(ReportDecoder().feed(data)) == len(data) // REPORT_SIZE


@given(st.binary(max_size=2 * REPORT_SIZE))
def test_arbitrary_output_reports_parse_or_raise_protocol_error(data: bytes) -> None:
    try:
        cmd = Command.from_bytes(data)
    except ProtocolError:
        return
    assert Command.from_bytes(cmd.to_bytes()) == cmd


@given(vote_reports)
def test_vote_reports_round_trip(vote: VoteReport) -> None:
    assert decode_report(vote.to_bytes()) == vote


@given(
    st.lists(
        st.builds(PullRecord, st.integers(0, 255), st.binary(min_size=3, max_size=3)),
        max_size=14,
    ),
    st.booleans(),
    st.integers(0, 255),
    st.integers(0, 255),
)
def test_pull_reports_round_trip(
    records: list[PullRecord], more: bool, after: int, unread: int
) -> None:
    pulled = PullReport(more, unread, after, (after + len(records)) % 256, tuple(records))
    assert decode_report(pulled.to_bytes()) == pulled


def test_counter_sub_commands_are_named() -> None:
    assert cmds.counter(CounterOp.RESET_COUNT).to_bytes()[:3] == bytes.fromhex("01 17 05")
