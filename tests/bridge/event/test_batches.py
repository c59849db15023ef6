"""Vote batches on the wire: what docs/mqtt.md shows decodes, records come back as they went,
and anything else is refused with the one error a subscriber catches."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.event.batches import VoteBatch, decode_batch, encode_batch, wire
from bridge.event.votes import PUBLISHED, Record

DOC = Path(__file__).resolve().parents[3] / "docs" / "mqtt.md"

records = st.builds(
    Record,
    id=st.integers(1, 2**53),
    t=st.floats(0, 4e9, allow_nan=False),
    receiver=st.just("rx1"),
    handset=st.text("0123456789ABCDEF", min_size=6, max_size=8),
    key=st.text("ABCDEJ0123456789?", min_size=1, max_size=5),
    decision=st.sampled_from(sorted(PUBLISHED)),
    round=st.none() | st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    answer=st.none() | st.text("ABCDE", min_size=1, max_size=5),
    seq=st.none() | st.integers(0, 255),
    rssi=st.none() | st.integers(-120, 0),
    battery=st.none() | st.integers(0, 100),
)


@given(st.lists(records, max_size=20), st.integers(0, 50))
def test_records_come_back_as_they_went(batch: list[Record], dup: int) -> None:
    data = encode_batch(VoteBatch("bridge1", "rx1", 1764700000.123, 7, dup, list(map(wire, batch))))
    back = decode_batch(data)
    assert (back.bridge, back.receiver, back.batch, back.dup) == ("bridge1", "rx1", 7, dup)
    assert back.records() == batch


def test_the_documented_batch_decodes() -> None:
    text = DOC.read_text()
    example = re.search(r"## Vote batches.*?```json\n(.*?)```", text, re.S)
    assert example is not None
    batch = decode_batch(example[1].encode())
    assert [r.decision.value for r in batch.records()] == ["counted", "changed"]
    assert batch.records()[1].battery == 74


def test_absent_values_are_left_out() -> None:
    rec = Record(5, 1.5, "rx1", "428071B3", "A", sorted(PUBLISHED)[0])
    item = json.loads(encode_batch(VoteBatch("b", "rx1", 1.0, 1, 0, [wire(rec)])))["presses"][0]
    assert set(item) == {"id", "t", "hs", "k", "d"}


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"[]",
        b'{"bridge": "b", "receiver": "rx1", "boot": 1, "batch": 1, "dup": 0}',
        b'{"bridge": "b", "receiver": "rx1", "boot": 1, "batch": 1, "dup": 0, "presses": '
        b'[{"id": 1, "t": 1, "hs": "AB", "k": "A", "d": "maybe"}]}',
        b'{"bridge": "b", "receiver": "rx1", "boot": 1, "batch": 1, "dup": 0, "presses": '
        b'[{"id": "one", "t": 1, "hs": "AB", "k": "A", "d": "counted"}]}',
    ],
)
def test_anything_else_is_one_decode_error(payload: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_batch(payload)
