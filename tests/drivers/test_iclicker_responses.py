"""Which i>clicker responses are new: repeats, stale re-sends, wrap-around; and hex dumps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.event.votes import Policy
from bridge.tally.replay import replay
from drivers.base import KeyFrame, NoiseFrame, RejectedFrame
from drivers.iclicker import decode_capture
from drivers.iclicker.codec import Response, ResponseSlot, VoteReport, decode_report
from drivers.iclicker.responses import ResponseFilter, ResponseReader

H1, H2, H3 = "82E9701B", "A24653B7", "968C716B"


def new(f: ResponseFilter, *responses: Response) -> list[tuple[str, str, int]]:
    return [(r.handset, r.key, r.index) for r in f.accept(responses).new]


def test_each_handset_answer_index_passes_once() -> None:
    f = ResponseFilter()
    assert new(f, Response(H1, "A", 0)) == [(H1, "A", 0)]
    verdicts = f.accept([Response(H1, "A", 0), Response(H1, "A", 0)])  # retransmit, twin slot
    assert verdicts.new == ()
    assert verdicts.repeats == 2
    assert new(f, Response(H1, "B", 1)) == [(H1, "B", 1)]


def test_a_re_send_of_an_older_answer_never_overrides_a_newer_one() -> None:
    f = ResponseFilter()
    new(f, Response(H1, "A", 10), Response(H2, "C", 11), Response(H1, "B", 12))
    verdicts = f.accept([Response(H1, "A", 10)])  # the base re-sends an earlier response
    assert verdicts.new == ()
    assert verdicts.stale == 1
    assert new(f, Response(H1, "A", 13)) == [(H1, "A", 13)]  # a genuine change back


def test_two_slots_newest_first_pass_in_index_order() -> None:
    f = ResponseFilter()
    new(f, Response(H3, "E", 4))
    assert new(f, Response(H1, "B", 6), Response(H2, "A", 5)) == [(H2, "A", 5), (H1, "B", 6)]
    f2 = ResponseFilter()
    new(f2, Response(H3, "E", 4))
    assert new(f2, Response(H1, "B", 6), Response(H1, "A", 5)) == [(H1, "B", 6)]  # A is older


def test_the_index_wraps_and_old_triples_come_back_as_new_presses() -> None:
    f = ResponseFilter()
    assert new(f, Response(H1, "A", 250)) == [(H1, "A", 250)]
    for i in range(251, 251 + 300):  # 300 other responses: the index wraps past 255 twice
        assert new(f, Response(f"{i:06X}00"[:8], "C", i % 256))
    assert new(f, Response(H1, "B", (251 + 300) % 256)) == [(H1, "B", 39)]
    # H1 answers A again: its index is 250 once more, 256 responses after its first A.
    for i in range(552, 250 + 512):
        new(f, Response(f"{i:06X}00"[:8], "D", i % 256))
    assert new(f, Response(H1, "A", 250)) == [(H1, "A", 250)]


def test_a_change_200_responses_later_is_still_a_change() -> None:
    f = ResponseFilter()
    new(f, Response(H1, "A", 0))
    for i in range(1, 200):
        new(f, Response(f"{i:08X}", "C", i))
    assert new(f, Response(H1, "D", 200)) == [(H1, "D", 200)]  # 200 ahead of its last index


def test_a_re_send_up_to_127_responses_old_is_stale() -> None:
    f = ResponseFilter()
    new(f, Response(H1, "A", 200))
    for i in range(201, 200 + 127):
        new(f, Response(f"{i:08X}", "C", i % 256))
    new(f, Response(H1, "B", (200 + 127) % 256))
    assert f.accept([Response(H1, "A", 200)]).stale == 1  # 127 behind the newest index


def test_reset_starts_a_new_index_epoch() -> None:
    f = ResponseFilter()
    new(f, Response(H1, "A", 100))
    f.reset()
    assert new(f, Response(H1, "A", 0)) == [(H1, "A", 0)]


@given(st.lists(st.tuples(st.sampled_from([H1, H2, H3]), st.sampled_from("ABCDE")), max_size=60))
def test_replaying_the_base_with_repeats_keeps_the_last_answer(
    presses: list[tuple[str, str]],
) -> None:
    """A base log (new indexes in order) with every response repeated and re-sent later."""
    f = ResponseFilter()
    latest: dict[str, tuple[str, int]] = {}
    log: list[Response] = []
    index = 0
    for handset, key in presses:
        if latest.get(handset, ("", -1))[0] == key:
            continue  # the base keeps the index while the answer stays
        latest[handset] = (key, index)
        log.append(Response(handset, key, index % 256))
        index += 1
    last: dict[str, str] = {}
    for n, r in enumerate(log):
        echoes = [log[max(0, n - 3)], r, r]  # an earlier response, then this one twice
        for passed in f.accept(echoes).new:
            last[passed.handset] = passed.key
    assert last == {h: k for h, (k, _) in latest.items()}


def test_reader_frames_votes_and_counts_the_rest() -> None:
    reader = ResponseReader()
    slot = ResponseSlot(0x82, bytes.fromhex("82E970"), 3)
    frames = reader.frames(VoteReport(slot, slot))
    assert frames[0] == KeyFrame("82E9701B", "B", seq=None)
    assert isinstance(frames[1], NoiseFrame)
    assert reader.frames(decode_report(bytes.fromhex("02 13 AA 00 00 00 00")))[0] == NoiseFrame(
        VoteReport(ResponseSlot(0xAA, bytes(3), 0)).to_bytes()
    )
    assert reader.counts["repeats"] == 1
    assert reader.counts["ignored_codes"] == 1
    reader.frames(decode_report(bytes.fromhex("01 10 aa")))
    assert reader.counts["acks"] == 1


DUMP = """\
# i>clicker v2 base, channel AA, captured with usbmon
OUT 01 10 21 41
IN  01 10 AA
OUT: 01 17 05          # the host restarts the index
IN:  01 17 aa
in   02 13 81 82 E9 70 00
IN   02138182E9700000000000000000000000000000000000000000000000000000 02 13 83 A2 46 53 01
02 13 82 96 8C 71 02   # no direction: IN
IN   02 13 AA 00 00 00 03
IN   021382 82E970 0400000000000000000000000000000000000000000000000000 02 13 81 82 E9 70 00

IN   zz not hex
OUT  01 12
"""


def test_a_hex_dump_goes_through_the_same_codec_and_filter() -> None:
    frames = list(decode_capture(DUMP.encode()))
    keys = [(f.handset, f.key) for f in frames if isinstance(f, KeyFrame)]
    assert keys == [(H1, "A"), (H2, "C"), (H3, "B"), (H1, "B")]
    rejected = [f for f in frames if isinstance(f, RejectedFrame)]
    assert len(rejected) == 1
    assert rejected[0].reason.startswith("line 12: not a report")
    noise = [f for f in frames if isinstance(f, NoiseFrame)]
    assert len(noise) == 5  # two acks, the repeated A, code AA, the stale A after B


def test_replay_counts_a_dump_like_the_service() -> None:
    result = replay("iclicker-usb", DUMP.encode(), policy=Policy.LAST)
    assert result.counts["A"] == 0
    assert result.counts["B"] == 2
    assert result.counts["C"] == 1
    assert result.voters == 3
    assert result.changes == 1
    assert result.rejected == 1


def test_an_out_reset_line_starts_a_new_index_epoch() -> None:
    dump = "02 13 81 82 E9 70 05\nOUT 01 17 05\n02 13 81 82 E9 70 00\n02 13 82 82 E9 70 01\n"
    keys = [f.key for f in decode_capture(dump.encode()) if isinstance(f, KeyFrame)]
    assert keys == ["A", "A", "B"]
    without = dump.replace("OUT 01 17 05\n", "")
    assert [f.key for f in decode_capture(without.encode()) if isinstance(f, KeyFrame)] == ["A"]


@given(st.binary(max_size=400))
def test_arbitrary_dumps_give_frames_only(data: bytes) -> None:
    for frame in decode_capture(data):
        assert isinstance(frame, KeyFrame | NoiseFrame | RejectedFrame)


@given(st.lists(st.binary(min_size=1, max_size=64), max_size=8))
def test_arbitrary_hex_lines_give_frames_only(reports: list[bytes]) -> None:
    text = "\n".join(("IN " if i % 2 else "") + r.hex(" ") for i, r in enumerate(reports))
    for frame in decode_capture(text.encode()):
        assert isinstance(frame, KeyFrame | NoiseFrame | RejectedFrame)
