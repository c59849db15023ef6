"""The Beyond Question simulator: module shape, frames, one-way copies over the air."""

from __future__ import annotations

import pytest

import firmware_sim.beyondq as sim_beyondq
from drivers.base import KeyFrame, PingFrame, ProtocolError
from drivers.beyondq.codec import ButtonFrame, decode_all
from firmware_sim.audience import ID_FORMS, make_handset_ids
from firmware_sim.beyondq import BeyondQSimulator
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import PING_KEY, Air, RfConditions, Transmission
from firmware_sim.registry import load_simulator


def heard(handset: str, key: str) -> Transmission:
    return Transmission(at=0.0, handset=handset, key=key, seq=1, attempt=1, rssi=-50, battery=80)


def test_the_module_is_what_the_registry_expects() -> None:
    module = load_simulator("beyondq")
    assert module is sim_beyondq
    assert (module.FAMILY, module.HOST_ACKS, module.ONE_WAY) == ("beyondq", False, True)
    assert module.BAUDRATE == 38400
    assert module.ID_FAMILY in ID_FORMS


@pytest.mark.parametrize(("host_acks", "one_way"), [(False, False), (True, False)])
async def test_an_air_that_expects_acknowledgements_is_refused(
    host_acks: bool, one_way: bool
) -> None:
    async with PtyEndpoint() as endpoint:
        with pytest.raises(ValueError, match="never acknowledges"):
            sim_beyondq.create_simulator(endpoint, Air(host_acks=host_acks, one_way=one_way))


async def test_presses_and_pings_become_frames_the_driver_reads() -> None:
    handsets = make_handset_ids(20, "beyondq", seed=9)
    async with PtyEndpoint() as endpoint:
        sim = sim_beyondq.create_simulator(endpoint, Air(one_way=True))
        assert sim.banner() == b""
        assert sim.on_host(b"anything") == b""
        data = b"".join(sim.encode(heard(h, "ABCDEFGHIJ0"[n % 11])) for n, h in enumerate(handsets))
        data += sim.encode(heard(handsets[0], PING_KEY))
        frame_b = ButtonFrame.for_key(handsets[1], "B").to_bytes()
        assert sim.encode(heard(handsets[1], "B")) == frame_b
        with pytest.raises(ProtocolError):
            sim.encode(heard(handsets[0], "?"))  # no such key on a Beyond Question keypad
    expected: list[object] = [KeyFrame(h, "ABCDEFGHIJ0"[n % 11]) for n, h in enumerate(handsets)]
    assert list(decode_all(data)) == [*expected, PingFrame(handsets[0])]


async def test_each_press_goes_out_as_the_configured_number_of_copies() -> None:
    [handset] = make_handset_ids(1, "beyondq", seed=2)
    air = Air(RfConditions(loss=0.0, copies=(3, 3)), seed=1, one_way=True)
    async with PtyEndpoint() as endpoint:
        sim = BeyondQSimulator(endpoint, air)
        air.press(handset, "D", 0.5)
        txs = []
        while (at := air.next_time()) is not None:
            txs.extend(air.advance(at))
        frames = list(decode_all(b"".join(sim.encode(tx) for tx in txs)))
    assert frames == [KeyFrame(handset, "D")] * 3
    assert air.outcome(handset) == []  # nothing acknowledged it
