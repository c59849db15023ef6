"""An anonymous round's turnout by table comes from the bridges, for the round's last reset."""

from __future__ import annotations

import json

import aiomqtt

from bridge.clock import ManualClock
from bridge.event.rounds import RoundState, RoundStatus, Window
from bridge.mqtt.link import MqttLink
from bridge.mqtt.topics import Topics
from bridge.tally.batches import BatchCheck
from bridge.tally.engine import TallyEngine


def turnout(topics: Topics, doc: dict[str, object]) -> aiomqtt.Message:
    return aiomqtt.Message(
        topics.round_turnout(str(doc["round"])), json.dumps(doc).encode(), 1, True, 1, None
    )


def test_turnout_of_an_earlier_reset_does_not_count() -> None:
    topics = Topics("ars")
    link = MqttLink("127.0.0.1", 1, client_id="turnout-test")  # never connected
    check = BatchCheck(["bridge1"], max_bytes=65536, max_records=100, max_record_jump=1000)
    engine = TallyEngine(link, topics, check=check, clock=ManualClock(100.0))
    state = RoundState(
        round="r", anonymous=True, status=RoundStatus.OPEN, windows=[Window(start=1.0)], revision=1
    )
    engine.update_round(state)
    engine._on_turnout(
        turnout(topics, {"round": "r", "since": None, "bridge": "b1", "tables": {"1": 3}})
    )
    engine._on_turnout(
        turnout(topics, {"round": "r", "since": None, "bridge": "b2", "tables": {"1": 1, "2": 2}})
    )
    assert engine.tallies["r"].turnout == {"1": 4, "2": 2}
    reset = state.model_copy(update={"since": 50.0, "revision": 2, "windows": [Window(start=60.0)]})
    engine.update_round(reset)
    assert engine.tallies["r"].turnout == {}  # the bridges have not reported the new attempt
    engine._on_turnout(
        turnout(topics, {"round": "r", "since": 50.0, "bridge": "b1", "tables": {"2": 1}})
    )
    assert engine.tallies["r"].turnout == {"2": 1}
    engine._on_turnout(turnout(topics, {"round": "r", "bridge": "b1"}))  # malformed: ignored
    assert engine.tallies["r"].turnout == {"2": 1}
    engine.close()
