"""The mirror browsers see: one serialisation per change, handset tables for the technician
only, and a client that stops reading dropped (on a controlled clock)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from bridge.mqtt.mirror import MAX_PENDING_CHANGES, Mirror, frame, one_line


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_change_is_serialised_once_for_every_client() -> None:
    mirror = Mirror()
    clients = [mirror.join() for _ in range(400)]
    mirror.update("round/q1/tally", {"voters": 3})
    frames = [(await c.next())[0] for c in clients]
    assert all(f is frames[0] for f in frames)  # the same object: serialised once
    doc = json.loads(frames[0].data)
    assert (doc["topic"], doc["kind"], doc["payload"]) == ("round/q1/tally", "tally", {"voters": 3})


async def test_handset_tables_only_for_the_technician() -> None:
    mirror = Mirror()
    mirror.update("bridge/b1/handsets", {"handsets": {"428071B3": {"presses": 4}}})
    mirror.update("bridge/b1/state", {"state": "online"})
    public, technician = mirror.join(), mirror.join(technician=True)
    mirror.update("bridge/b1/handsets", {"handsets": {"428071B3": {"presses": 5}}})
    assert [f.topic for f in await public.next()] == ["bridge/b1/state"]
    assert {f.topic for f in await technician.next()} == {"bridge/b1/handsets", "bridge/b1/state"}


async def test_a_client_that_stops_reading_is_dropped() -> None:
    clock = Clock()
    mirror = Mirror(stall_s=5.0, clock=clock)
    dropped: list[str] = []
    reader, sleeper = mirror.join(), mirror.join()
    sleeper.on_drop = lambda: dropped.append("sleeper")
    for n in range(10):
        mirror.update("round/q1/tally", {"n": n})
        clock.now += 1.0
        latest = await reader.next()
        assert json.loads(latest[0].data)["payload"] == {"n": n}
    # The reader took every change; the sleeper never did and has held one for over 5 s.
    assert dropped == ["sleeper"]
    assert mirror.clients == 1
    assert mirror.dropped == 1
    # A slow reader only ever holds one pending message per topic.
    slow = mirror.join()
    for n in range(1000):
        mirror.update("round/q1/tally", {"n": n})
    assert [json.loads(f.data)["payload"] for f in await slow.next()] == [{"n": 999}]


@given(
    payload=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    ).filter(lambda p: p is not None),
    topic=st.sampled_from(["round/q1/tally", "bridge/b1/handsets", "agenda"]),
)
def test_a_frame_made_from_the_json_at_hand_is_the_frame_made_from_the_payload(
    payload: object, topic: str
) -> None:
    # As this process publishes (one line, UTF-8); JSON has no infinities to compare.
    raw = msgspec.json.encode(payload)
    text = one_line(raw)
    assert text is not None
    made, reused = frame(topic, payload, t=1.5), frame(topic, payload, t=1.5, raw=text)
    assert json.loads(reused.data) == json.loads(made.data)
    assert (reused.topic, reused.kind) == (made.topic, made.kind)
    assert not {"\n", "\r"} & set(reused.data)  # one SSE data line


def test_json_on_several_lines_is_not_used_as_it_is() -> None:
    assert one_line(b'{\n "voters": 3\n}') is None
    assert one_line(b'{"a":"\xff"}') is None  # not UTF-8
    assert one_line(b'{"voters":3}') == '{"voters":3}'


async def test_no_frame_is_made_for_a_topic_no_client_wants() -> None:
    mirror = Mirror()
    display = mirror.join(["round/"])
    mirror.update("bridge/b1/handsets", {"handsets": {}}, b'{"handsets":{}}')
    mirror.update("round/q1/tally", {"voters": 1}, b'{"voters":1}')
    [only] = await display.next()
    assert only.topic == "round/q1/tally"
    assert json.loads(only.data)["payload"] == {"voters": 1}
    late = mirror.join(technician=True)  # primed from the JSON kept with each topic
    primed = {f.topic: json.loads(f.data)["payload"] for f in await late.next()}
    tables = {"handsets": {}, "complete": True}  # a table kept whole says whether it is
    assert primed == {"bridge/b1/handsets": tables, "round/q1/tally": {"voters": 1}}


def _table(seq: int, handsets: dict[str, Any], epoch: str = "e1") -> dict[str, Any]:
    return {"bridge": "b1", "epoch": epoch, "seq": seq, "t": 1.0, "handsets": handsets}


async def test_a_technician_gets_every_change_of_a_handset_table_in_order() -> None:
    mirror = Mirror()
    mirror.update("bridge/b1/handsets", _table(1, {"A": {"presses": 1}}))
    technician = mirror.join(technician=True)
    display = mirror.join()
    for seq in (2, 3, 4):  # each names another handset: none may stand in for another
        mirror.update("bridge/b1/handset_changes", _table(seq, {f"H{seq}": {"presses": seq}}))
    got = [json.loads(f.data) for f in await technician.next()]
    assert [(d["kind"], d["payload"]["seq"]) for d in got] == [
        ("handsets", 1),
        ("handset_changes", 2),
        ("handset_changes", 3),
        ("handset_changes", 4),
    ]
    kept = mirror.latest["bridge/b1/handsets"]
    assert kept["handsets"] == {"A": {"presses": 1}, **{f"H{n}": {"presses": n} for n in (2, 3, 4)}}
    assert (kept["seq"], kept["complete"]) == (4, True)
    assert "bridge/b1/handset_changes" not in mirror.latest  # a late joiner gets the table
    assert not display._pending  # handsets are the technician's only


async def test_a_technician_far_behind_gets_the_whole_table_instead_of_the_changes() -> None:
    mirror = Mirror()
    mirror.update("bridge/b1/handsets", _table(0, {}))
    technician = mirror.join(technician=True)
    await technician.next()
    last = MAX_PENDING_CHANGES + 5
    for seq in range(1, last + 1):
        mirror.update("bridge/b1/handset_changes", _table(seq, {f"H{seq}": {"presses": 1}}))
    got = [json.loads(f.data) for f in await technician.next()]
    assert got[0]["kind"] == "handsets"
    table = got[0]["payload"]
    rest = [d["payload"]["seq"] for d in got[1:]]
    assert table["seq"] + len(rest) == last  # the table, then only the changes after it
    assert rest == list(range(table["seq"] + 1, last + 1))
    assert len(got) <= MAX_PENDING_CHANGES + 1


async def test_a_table_older_than_the_one_kept_changes_nothing() -> None:
    mirror = Mirror()
    mirror.update("bridge/b1/handsets", _table(1, {"A": {"presses": 1}}))
    mirror.update("bridge/b1/handset_changes", _table(2, {"A": {"presses": 2}}))
    technician = mirror.join(technician=True)
    await technician.next()
    # The broker hands the retained table back after a reconnect: older than the copy.
    mirror.update("bridge/b1/handsets", _table(1, {"A": {"presses": 1}}))
    mirror.update("bridge/b1/handset_changes", _table(2, {"A": {"presses": 2}}))  # again
    assert mirror.latest["bridge/b1/handsets"]["handsets"] == {"A": {"presses": 2}}
    assert not technician._pending
    # A bridge started again: its new epoch's table replaces the old one.
    mirror.update("bridge/b1/handsets", _table(0, {}, epoch="e2"))
    assert mirror.latest["bridge/b1/handsets"]["handsets"] == {}


async def test_a_client_following_only_the_changes_is_let_go_when_far_behind() -> None:
    mirror = Mirror()
    mirror.update("bridge/b1/handsets", _table(0, {}))
    follower = mirror.join(["bridge/b1/handset_changes"], technician=True)
    dropped: list[str] = []
    follower.on_drop = lambda: dropped.append("follower")
    for seq in range(1, MAX_PENDING_CHANGES + 2):
        mirror.update("bridge/b1/handset_changes", _table(seq, {f"H{seq}": {"presses": 1}}))
    # It could not catch up with a whole table it does not follow: no change is lost silently.
    assert dropped == ["follower"]
    assert mirror.clients == 0


def test_table_readers_get_what_the_mirror_takes_and_one_that_fails_is_counted() -> None:
    mirror = Mirror()
    taken: list[int] = []

    def failing(doc: dict[str, Any]) -> None:
        raise RuntimeError("a reader that fails")

    mirror.table_listeners += [failing, lambda doc: taken.append(doc["seq"])]
    mirror.update("bridge/b1/handsets", _table(1, {"A": {"presses": 1}}))
    mirror.update("bridge/b1/handset_changes", _table(2, {"A": {"presses": 2}}))
    mirror.update("bridge/b1/handset_changes", _table(2, {"A": {"presses": 2}}))  # again
    mirror.update("bridge/b1/handsets", _table(1, {"A": {"presses": 1}}))  # older
    assert taken == [1, 2]  # neither the repeated change nor the older table
    assert mirror.table_listener_failures == 2
