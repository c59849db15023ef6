"""The mirror browsers see: one serialisation per change, handset tables for the technician
only, and a client that stops reading dropped (on a controlled clock)."""

from __future__ import annotations

import json

from bridge.mqtt.mirror import Mirror


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
