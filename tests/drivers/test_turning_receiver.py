"""The TurningPoint driver fed by its simulator over a real pty and over TCP.

The production serial path (pyserial-asyncio-fast) opens the simulator's port; handsets lose
packets and acknowledgements, retransmit, run low on battery and jam, and the last answer
per handset must still be what the simulated audience meant.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import pytest

import drivers.turning as turning
import firmware_sim.turning as sim_turning
from drivers.base import BadFrame, Press, ReceiverConfigError, ReceiverUnavailable
from drivers.turning.codec import Response, incoming_line
from drivers.turning.receiver import TurningReceiver
from firmware_sim.audience import Audience, VotePlan, make_handset_ids
from firmware_sim.link import PtyEndpoint, SimEndpoint, TcpEndpoint
from firmware_sim.radio import Air, RfConditions
from tests.drivers.reading import collect

SPEED = 200.0  # simulated seconds per wall-clock second
SENTINEL = "FFFFFF"  # not in the audience: its press, sent last, marks the end of the round
DAMAGED = b"incoming: 090fd335ae09 --> 5\r\n"  # the reference press with its last bit flipped
GUARD_S = 30.0  # a hung link fails the test instead of hanging it


@dataclass
class Round:
    plan: VotePlan
    air: Air
    presses: list[Press]
    bad: list[BadFrame]
    jammed: str
    low_battery: list[str]


async def vote(
    endpoint: SimEndpoint, receiver: TurningReceiver, *, handsets: int, seed: int, loss: float
) -> Round:
    """Play one round through ``endpoint`` into the open ``receiver``."""
    air = Air(RfConditions(loss=loss), seed=seed)
    sim = sim_turning.create_simulator(endpoint, air, speed=SPEED)
    ids = make_handset_ids(handsets, sim_turning.ID_FAMILY, seed=seed)
    assert SENTINEL not in ids
    plan = Audience(ids, seed=seed).plan("ABCDE", duration_s=20.0, change_rate=0.3)
    answers = plan.answers()
    voters = list(answers)
    low_battery = voters[:2]
    for handset in low_battery:
        air.set_battery(handset, 10.0)
    # A key held down after its owner's last press: the same answer, sent over and over.
    jammed = voters[2]
    last_at = max(p.at for p in plan.presses if p.handset == jammed)
    air.jam(jammed, answers[jammed], last_at + 0.5)
    sim.load(plan)

    async def play() -> None:
        await sim.play()
        await endpoint.send(b"\x00\xfe line noise\r\n" + DAMAGED)
        await endpoint.send(incoming_line(Response.for_key(SENTINEL, "?")))

    async with asyncio.timeout(GUARD_S):
        playing = asyncio.create_task(play(), name="sim-turning-play")
        try:
            events = await collect(
                receiver, lambda e: isinstance(e, Press) and e.handset == SENTINEL
            )
        finally:
            await playing
    presses = [e for e in events if isinstance(e, Press) and e.handset != SENTINEL]
    bad = [e for e in events if isinstance(e, BadFrame)]
    return Round(plan, air, presses, bad, jammed, low_battery)


def assert_intended_tally(r: Round) -> None:
    last: dict[str, str] = {}
    for press in r.presses:
        last[press.handset] = press.key
    assert last == r.plan.answers()
    counts = Counter(last.values())
    assert {k: counts.get(k, 0) for k in r.plan.options} == r.plan.expected()


def assert_retransmits_happened(r: Round) -> None:
    assert len(r.presses) > len(r.plan.presses)
    assert r.air.lost > 0
    repeats = Counter((p.handset, p.key) for p in r.presses if p.handset != r.jammed)
    assert max(repeats.values()) > 1  # an ack was lost, so the handset sent the press again
    assert sum(p.handset == r.jammed for p in r.presses) >= 10
    assert all(any(p.handset == h for p in r.presses) for h in r.low_battery)


async def test_the_audience_tally_arrives_over_a_real_pty() -> None:
    async with PtyEndpoint() as endpoint:
        receiver = turning.create_receiver("rx-pty", endpoint.url, channel="41")
        assert isinstance(receiver, TurningReceiver)
        await receiver.open()
        try:
            r = await vote(endpoint, receiver, handsets=60, seed=11, loss=0.15)
        finally:
            await receiver.close()
    assert_intended_tally(r)
    assert_retransmits_happened(r)
    # Every heard press was acknowledged by the firmware; the damaged line was rejected.
    assert receiver.stats.extra["acks"] == len(r.presses)
    assert receiver.stats.presses == len(r.presses) + 1  # the sentinel
    assert receiver.stats.rejected == 1
    assert [b.reason.split(":")[0] for b in r.bad] == ["bad CRC"]
    assert receiver.stats.noise >= 15  # the boot dump and the line noise
    assert receiver.stats.extra["boots"] == 1
    assert receiver.radio_channel == 41
    assert "channel_mismatch" not in receiver.stats.extra


async def test_the_audience_tally_arrives_over_tcp() -> None:
    async with await TcpEndpoint.start() as endpoint:
        receiver = TurningReceiver("rx-tcp", endpoint.url, channel=42)
        await receiver.open()
        try:
            assert isinstance(endpoint, TcpEndpoint)
            await endpoint.wait_connected()
            r = await vote(endpoint, receiver, handsets=25, seed=5, loss=0.2)
        finally:
            await receiver.close()
    assert_intended_tally(r)
    assert_retransmits_happened(r)
    # The firmware says channel 41; the configuration says 42: counted, not fatal.
    assert receiver.radio_channel == 41
    assert receiver.stats.extra["channel_mismatch"] == 1


async def test_a_vanished_port_ends_the_events_with_receiver_unavailable() -> None:
    endpoint = PtyEndpoint()
    receiver = turning.create_receiver("rx-gone", endpoint.url)
    await receiver.open()
    try:
        await endpoint.send(incoming_line(Response.for_key("090FD3", "E")))
        stream = receiver.events()
        assert isinstance(stream, AsyncGenerator)
        async with asyncio.timeout(GUARD_S):
            first = await anext(stream)
            assert isinstance(first, Press)
            assert (first.receiver, first.handset, first.key) == ("rx-gone", "090FD3", "E")
            await endpoint.close()
            with pytest.raises(ReceiverUnavailable):
                await anext(stream)
        await stream.aclose()
    finally:
        await receiver.close()
        await endpoint.close()


@pytest.mark.parametrize("channel", ["x", "126", "-1", ""])
def test_a_bad_channel_is_a_configuration_error(channel: str) -> None:
    with pytest.raises(ReceiverConfigError):
        turning.create_receiver("rx", "/dev/null", channel=channel)


async def test_a_missing_port_is_unavailable() -> None:
    receiver = turning.create_receiver("rx", "/dev/does-not-exist-turning")
    with pytest.raises(ReceiverUnavailable):
        await receiver.open()
