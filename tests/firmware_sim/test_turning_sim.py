"""The turning-clicker simulator: module shape, boot output, lines, retransmits over the air."""

from __future__ import annotations

import pytest

import firmware_sim.turning as sim_turning
from drivers.base import KeyFrame, ProtocolError
from drivers.turning.codec import Acknowledgement, Booted, RadioChannel, decode_all
from firmware_sim.audience import ID_FORMS, make_handset_ids
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import PING_KEY, AckReason, Air, RfConditions, Transmission
from firmware_sim.registry import load_simulator
from firmware_sim.turning import TurningSimulator

REFERENCE_LINES = b"incoming: 090fd335ae08 --> 5\r\noutgoing: 090fd3067b34\r\n"


def heard(handset: str, key: str) -> Transmission:
    return Transmission(at=0.0, handset=handset, key=key, seq=1, attempt=1, rssi=-50, battery=80)


def test_the_module_is_what_the_registry_expects() -> None:
    module = load_simulator("turning")
    assert module is sim_turning
    assert (module.FAMILY, module.HOST_ACKS, module.ONE_WAY) == ("turning", False, False)
    assert module.BAUDRATE == 115200
    assert module.ID_FAMILY in ID_FORMS


@pytest.mark.parametrize(("host_acks", "one_way"), [(True, False), (False, True)])
async def test_an_air_that_cannot_be_acknowledged_by_the_receiver_is_refused(
    host_acks: bool, one_way: bool
) -> None:
    async with PtyEndpoint() as endpoint:
        with pytest.raises(ValueError, match="acknowledges presses itself"):
            sim_turning.create_simulator(endpoint, Air(host_acks=host_acks, one_way=one_way))


async def test_the_boot_banner_is_the_sketch_output_the_driver_skips() -> None:
    async with PtyEndpoint() as endpoint:
        sim = sim_turning.create_simulator(endpoint, Air())
        frames = list(decode_all(sim.banner()))
        assert frames[0] == Booted()
        assert RadioChannel(41) in frames
        assert not any(isinstance(f, KeyFrame) for f in frames)
        other = TurningSimulator(endpoint, Air(), channel=7)
        assert RadioChannel(7) in list(decode_all(other.banner()))
        with pytest.raises(ProtocolError):
            TurningSimulator(endpoint, Air(), channel=200)


async def test_a_heard_press_prints_the_reference_lines() -> None:
    async with PtyEndpoint() as endpoint:
        sim = sim_turning.create_simulator(endpoint, Air())
        assert sim.encode(heard("090FD3", "E")) == REFERENCE_LINES
        assert sim.encode(heard("090FD3", PING_KEY)) == b""  # ResponseCards send no pings
        with pytest.raises(ProtocolError):
            sim.encode(heard("090FD3", "K"))
        assert sim.on_host(b"anything") == b""  # the sketch reads nothing from the host


def run_one_press(air: Air, sim: TurningSimulator, handset: str) -> list[Transmission]:
    air.press(handset, "C", 1.0)
    heard: list[Transmission] = []
    while (at := air.next_time()) is not None:
        heard.extend(air.advance(at))
    return heard


async def test_a_press_is_repeated_until_an_acknowledgement_gets_through() -> None:
    [handset] = make_handset_ids(1, "turning", seed=4)
    air = Air(RfConditions(loss=0.0, ack_loss=0.8), seed=1)  # nine attempts with this seed
    async with PtyEndpoint() as endpoint:
        sim = TurningSimulator(endpoint, air)
        txs = run_one_press(air, sim, handset)
        frames = list(decode_all(b"".join(sim.encode(tx) for tx in txs)))
    assert len(txs) > 1
    assert [tx.attempt for tx in txs] == list(range(1, len(txs) + 1))
    assert [f for f in frames if isinstance(f, KeyFrame)] == [KeyFrame(handset, "C")] * len(txs)
    assert sum(isinstance(f, Acknowledgement) for f in frames) == len(txs)
    assert air.outcome(handset) == [AckReason.ACCEPTED]


async def test_an_unacknowledged_press_is_abandoned_after_8_seconds() -> None:
    [handset] = make_handset_ids(1, "turning", seed=4)
    conditions = RfConditions(loss=0.0, ack_loss=0.99)
    air = Air(conditions, seed=1)
    async with PtyEndpoint() as endpoint:
        sim = TurningSimulator(endpoint, air)
        txs = run_one_press(air, sim, handset)
    assert air.outcome(handset) == []
    assert air.abandoned == 1
    assert len(txs) >= 15  # one every 0.25 s to 0.4 s
    last_gap = conditions.retry_interval_s + conditions.retry_jitter_s
    assert txs[-1].at - txs[0].at <= conditions.give_up_s + last_gap
