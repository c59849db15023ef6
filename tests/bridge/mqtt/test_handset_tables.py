"""Handset tables as a whole table now and then and change messages in between: a reader
that takes them in any order the bus can deliver them holds what the bridge holds."""

from __future__ import annotations

import copy as copying
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.mqtt import handset_tables
from bridge.mqtt.handset_tables import (
    MAX_SEQ_JUMP,
    Malformed,
    Sightings,
    apply,
    check,
    read,
    too_far,
)
from bridge.press.handsets import HandsetTable
from bridge.press.watch import FaultWatch
from bridge.settings import FaultSettings

Doc = dict[str, Any]


class Bridge:
    """A bridge's table as the bridge role publishes it (without its event loop)."""

    def __init__(self) -> None:
        self.table = HandsetTable()
        self.watch = FaultWatch(FaultSettings())
        self.t = 1000.0

    def hear(self, handsets: list[int]) -> None:
        for n in handsets:
            self.t += 0.25
            self.table.heard(f"{0x428000 + n:06X}", "rx1", self.t, -60 - n % 7, 80, 1)

    def document(self, handsets: dict[str, Any]) -> Doc:
        doc = {"epoch": self.table.epoch, "seq": self.table.seq, "t": self.t}
        # As it goes on the bus: the reader gets its own copy, never the bridge's entries.
        return msgspec.json.decode(msgspec.json.encode({**doc, "handsets": handsets}))

    def changes(self) -> Doc:
        return self.document(self.table.take_changes(self.watch))

    def whole(self) -> Doc:
        return self.document(self.table.entries(self.watch))

    def entries(self) -> dict[str, Any]:
        return self.document(self.table.entries(self.watch))["handsets"]


def take(copy: Doc | None, doc: Doc, *, whole: bool) -> Doc | None:
    """What a reader does: the message checked, then taken in (a stale one changes nothing)."""
    check(doc, whole=whole)
    return apply(copy, copying.deepcopy(doc), whole=whole) or copy


# Each tick: the handsets heard (some again), then the change message of the tick.
ticks = st.lists(st.lists(st.integers(0, 40), max_size=12), min_size=2, max_size=12)


@settings(max_examples=200, deadline=None)
@given(ticks=ticks, data=st.data())
def test_a_reader_that_joins_late_holds_the_bridges_table(
    ticks: list[list[int]], data: Any
) -> None:
    bridge = Bridge()
    changes, wholes = [], []
    for heard in ticks:
        bridge.hear(heard)
        changes.append(bridge.changes())
        wholes.append(bridge.whole())  # a whole table after each tick (the reader picks one)
    start = data.draw(st.integers(0, len(ticks) - 1), label="the whole table the reader starts")
    copy = take(None, wholes[start], whole=True)
    for change in changes[start + 1 :]:
        copy = take(copy, change, whole=False)
        if data.draw(st.booleans(), label="delivered twice"):
            copy = take(copy, change, whole=False)
        if data.draw(st.booleans(), label="the retained table handed back after a reconnect"):
            copy = take(copy, wholes[start], whole=True)
    assert copy is not None
    assert copy["handsets"] == bridge.entries()
    assert copy["complete"] is True
    assert copy["seq"] == bridge.table.seq


@settings(max_examples=200, deadline=None)
@given(ticks=ticks, data=st.data())
def test_a_lost_change_leaves_the_copy_incomplete_until_the_next_whole_table(
    ticks: list[list[int]], data: Any
) -> None:
    bridge = Bridge()
    changes = []
    for heard in ticks:
        bridge.hear(heard)
        changes.append(bridge.changes())
    lost = data.draw(st.integers(1, len(changes) - 1), label="the change lost")
    copy = take(None, changes[0], whole=False)  # no whole table yet: a copy of what it names
    assert copy is not None
    assert copy["complete"] is False
    copy = take(None, {**bridge.document({}), "seq": 0}, whole=True)  # the start's empty table
    for n, change in enumerate(changes):
        if n != lost:
            copy = take(copy, change, whole=False)
    assert copy is not None
    # A change lost last cannot be told from none: the next message shows the gap.
    assert copy["complete"] is (lost == len(changes) - 1)
    last_named = {h: n for n, c in enumerate(changes) for h in c["handsets"]}
    entries = bridge.entries()
    assert set(copy["handsets"]) == {
        h for n, c in enumerate(changes) if n != lost for h in c["handsets"]
    }
    for handset, n in last_named.items():
        if n != lost:
            assert copy["handsets"][handset] == entries[handset]
    copy = take(copy, bridge.whole(), whole=True)
    assert copy is not None
    assert copy["handsets"] == bridge.entries()
    assert copy["complete"] is True


def test_a_bridge_started_again_is_taken_from_its_first_whole_table() -> None:
    before, after = Bridge(), Bridge()
    before.hear([1, 2, 3])
    before.changes()
    copy = take(None, before.whole(), whole=True)
    after.hear([4])
    first = after.changes()
    assert take(copy, first, whole=False) is copy  # another epoch: waits for its table
    copy = take(copy, after.whole(), whole=True)
    assert copy is not None
    assert set(copy["handsets"]) == {f"{0x428004:06X}"}
    assert copy["epoch"] == after.table.epoch


def test_a_handset_gone_from_the_table_is_named_with_null() -> None:
    bridge = Bridge()
    bridge.hear([1, 2])
    copy = take(None, bridge.changes(), whole=False)
    gone = {
        **bridge.document({}),
        "seq": bridge.table.seq + 1,
        "handsets": {f"{0x428001:06X}": None},
    }
    copy = take(copy, gone, whole=False)
    assert copy is not None
    assert set(copy["handsets"]) == {f"{0x428002:06X}"}


@pytest.mark.parametrize(
    ("data", "whole", "says"),
    [
        (b"[]", True, "not a JSON object"),
        (b'{"handsets": []}', True, "'handsets' is not an object"),
        (b'{"handsets": {}, "epoch": 4}', True, "'epoch' is not a string"),
        (b'{"handsets": {}, "seq": -1}', False, "'seq' is not a count"),
        (b'{"handsets": {}, "seq": true}', False, "'seq' is not a count"),
        (b'{"handsets": {}, "receivers": 1}', True, "'receivers' is not an object"),
        (b'{"handsets": {"428071B3": null}}', True, "entry of '428071B3' is not an object"),
        (b'{"handsets": {"428071B3": 3}}', False, "entry of '428071B3' is not an object"),
        (b'{"handsets": {"428071B3": {}}}', False, "has no time last heard"),
        (b'{"handsets": {"B3": {"last": 1, "flags": "x"}}}', True, "'flags' that are not"),
        (b'{"handsets": {"B3": {"last": 1, "rx": 4}}}', True, "an 'rx' that is not a name"),
        (b'{"handsets": {}, "seq": 9007199254740993}', False, "'seq' is not a count"),
    ],
)
def test_what_is_not_a_table_is_refused_with_what_is_wrong(
    data: bytes, whole: bool, says: str
) -> None:
    topic = "ars/bridge/b1/" + (handset_tables.WHOLE if whole else handset_tables.CHANGES)
    with pytest.raises(Malformed, match=says):
        read(topic, data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
tables = st.fixed_dictionaries(
    {"handsets": st.dictionaries(st.text(max_size=8), json_values, max_size=4)},
    optional={"seq": json_values, "epoch": json_values, "receivers": json_values},
)


@given(st.binary(max_size=200) | (json_values | tables).map(msgspec.json.encode))
def test_no_payload_gets_past_the_check_without_being_a_table(data: bytes) -> None:
    try:
        doc = read("ars/bridge/b1/handset_changes", data)
    except ValueError:
        return
    assert isinstance(doc["handsets"], dict)
    assert all(e is None or isinstance(e, dict) for e in doc["handsets"].values())


def test_a_whole_table_repeating_entries_changes_no_sighting() -> None:
    bridge = Bridge()
    bridge.hear([1, 2, 3])
    bridge.changes()
    sightings = Sightings()
    copies = {"bridge/b1/handsets": take(None, bridge.whole(), whole=True)}
    sightings.take(copies, "bridge/b1/handsets", None)  # type: ignore[arg-type]
    version = sightings.version
    bridge.hear([3])
    bridge.changes()
    # The next whole table, decoded afresh: only handset 3 changed.
    copies["bridge/b1/handsets"] = take(copies["bridge/b1/handsets"], bridge.whole(), whole=True)
    sightings.take(copies, "bridge/b1/handsets", None)  # type: ignore[arg-type]
    assert sightings.changed_since(version) == {f"{0x428003:06X}"}


def test_a_change_numbered_far_ahead_is_not_taken() -> None:
    bridge = Bridge()
    bridge.hear([1])
    copy = take(None, bridge.whole(), whole=True)
    far = {**bridge.document({"B0B": {"last": 1.0}}), "seq": bridge.table.seq + MAX_SEQ_JUMP + 1}
    assert too_far(copy, far)
    assert apply(copy, far, whole=False) is None
    bridge.hear([2])
    copy = take(copy, bridge.changes(), whole=False)  # the real changes still go in
    assert copy is not None
    assert set(copy["handsets"]) == {f"{0x428001:06X}", f"{0x428002:06X}"}


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_numbers_that_are_not_finite_are_refused(number: str) -> None:
    data = f'{{"handsets": {{"428071B3": {{"last": 1.0, "presses": {number}}}}}}}'.encode()
    with pytest.raises(Malformed, match="'presses' that is not a count"):
        read("ars/bridge/b1/handset_changes", data)
