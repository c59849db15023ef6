"""The vote-batch check: what a batch from the bus must be before a record of it is counted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.mqtt.guard import BusGuard, Rejected
from bridge.tally.batches import BatchCheck

TOPIC = "ars/rx/rx1/votes"


def _press(i: int, **over: Any) -> dict[str, Any]:
    return {
        "id": i,
        "t": 1764700000.0 + i,
        "hs": "428071B3",
        "k": "A",
        "a": "A",
        "r": "q1",
        "d": "counted",
        **over,
    }


def _batch(number: int = 1, presses: list[dict[str, Any]] | None = None, **over: Any) -> bytes:
    presses = [_press(1)] if presses is None else presses
    # The cycle the batch is the only part of: every journal id up to its last press.
    ids = [p["id"] for p in presses if isinstance(p.get("id"), int) and p["id"] > 0]
    doc = {
        "bridge": "bridge1",
        "receiver": "rx1",
        "boot": 1764700000.5,
        "batch": number,
        "cover": [0, max(ids, default=1)],
        "part": 1,
        "parts": 1,
        "dup": 0,
        "presses": presses,
        **over,
    }
    return json.dumps(doc).encode()


def _check(**over: Any) -> BatchCheck:
    options: dict[str, Any] = {"max_bytes": 4096, "max_records": 10, "max_record_jump": 100}
    options.update(over)
    return BatchCheck(["bridge1"], **options)


def _reason(check: BatchCheck, data: bytes, receiver: str = "rx1") -> str:
    with pytest.raises(Rejected) as caught:
        check.check(f"ars/rx/{receiver}/votes", receiver, data)
    return caught.value.reason


def test_a_good_batch_gives_its_records() -> None:
    batch = _check().check(TOPIC, "rx1", _batch(presses=[_press(1), _press(2, d="changed")]))
    assert [r.id for r in batch.records] == [1, 2]
    assert (batch.bridge, batch.receiver, batch.number) == ("bridge1", "rx1", 1)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff not json", "malformed"),
        (b"[1, 2]", "malformed"),
        (b"x" * 5000, "too large"),
        (_batch(bridge="intruder"), "unknown bridge"),
        (_batch(receiver="rx2"), "wrong receiver"),
        (_batch(batch=0), "malformed"),
        (_batch(batch=True), "malformed"),
        (_batch(boot=float("inf")), "malformed"),
        (_batch(presses=[_press(i) for i in range(1, 12)]), "malformed"),
        (_batch(presses=[_press(1, extra="x")]), "malformed"),
        (_batch(presses=[_press(1, id="1")]), "malformed"),
        (_batch(presses=[_press(1, id=-3)]), "malformed"),
        (_batch(presses=[_press(1, hs="=HYPERLINK(1)")]), "malformed"),
        (_batch(presses=[_press(1, d="duplicate")]), "malformed"),
        (_batch(presses=[_press(1, r="a/b")]), "malformed"),
        (_batch(presses=[_press(1, a="A" * 65)]), "malformed"),
        (_batch(presses=[_press(1, t="soon")]), "malformed"),
        (_batch(presses=[_press(10**15, t=1764700000.0)]), "record id leap"),
        (_batch(cover=None), "malformed"),
        (_batch(cover=[5, 9], presses=[_press(3)]), "malformed"),
        (_batch(part=3, parts=2), "malformed"),
        (_batch(presses=[_press(1, v="p017")]), "malformed"),
    ],
)
def test_what_is_refused(data: bytes, reason: str) -> None:
    assert _reason(_check(), data) == reason


def test_sequence_may_repeat_but_not_go_back() -> None:
    check = _check()
    check.check(TOPIC, "rx1", _batch(5, [_press(1)]))
    check.check(TOPIC, "rx1", _batch(5, [_press(1)]))  # a QoS 1 redelivery
    assert _reason(check, _batch(4, [_press(2)])) == "out of sequence"
    assert _reason(check, _batch(1, [_press(2)], boot=1764600000.0)) == "out of sequence"
    # A new boot of the bridge starts its numbers again.
    assert check.check(TOPIC, "rx1", _batch(1, [_press(2)], boot=1764800000.0)).number == 1


def test_ids_may_run_ahead_only_as_far_as_the_setting() -> None:
    check = _check()
    check.seen("bridge1", 1000)  # what the journal held at start
    assert check.check(TOPIC, "rx1", _batch(1, [_press(1100)])).records[0].id == 1100
    assert _reason(check, _batch(2, [_press(1202)])) == "record id leap"
    # A rejected batch moves nothing on: the next real one is taken.
    assert check.check(TOPIC, "rx1", _batch(2, [_press(1101)])).number == 2


def test_receivers_and_own_echoes() -> None:
    sent = {_batch()}
    check = _check(
        receivers_of=lambda bridge: {"rx1"}, own=("bridge1", lambda topic, data: data in sent)
    )
    assert check.check(TOPIC, "rx1", _batch()).records
    assert _reason(check, _batch(presses=[_press(2)])) == "not sent by this bridge"
    assert _reason(check, _batch(receiver="evil"), "evil") == "unknown receiver"


def test_the_guard_counts_and_names_each_drop() -> None:
    guard = BusGuard()
    for _ in range(3):
        guard.reject(TOPIC, Rejected("unknown bridge", "'intruder'"))
    guard.reject(TOPIC, Rejected("malformed", "not JSON"))
    report = guard.report()
    assert report["rejected"] == 4
    assert report["by_reason"] == {"malformed": 1, "unknown bridge": 3}
    recent = report["recent"]
    assert isinstance(recent, list)
    assert recent[-1]["topic"] == TOPIC
