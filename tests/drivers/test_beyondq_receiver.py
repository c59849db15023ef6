"""The Beyond Question driver fed by its simulator over a real pty and over TCP.

The link is one-way: nothing acknowledges a keypad, so every press goes out as several
copies, some of which are lost or collide; low batteries lose more, one key jams. The last
answer per handset must still be what the simulated audience meant.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator
from dataclasses import dataclass

import pytest

import drivers.beyondq as beyondq
import firmware_sim.beyondq as sim_beyondq
from drivers.base import (
    BadFrame,
    Presence,
    Press,
    ReceiverConfigError,
    ReceiverUnavailable,
)
from drivers.beyondq.codec import BUTTON_LOG_ON, ButtonFrame, parse_keypad
from drivers.serial_receiver import SerialReceiver
from firmware_sim.audience import Audience, VotePlan, make_handset_ids
from firmware_sim.link import PtyEndpoint, SimEndpoint, TcpEndpoint
from firmware_sim.radio import Air, RfConditions
from tests.drivers.reading import collect

SPEED = 200.0  # simulated seconds per wall-clock second
SENTINEL = "1FFFFF"  # not in the audience: its log-on, sent last, marks the end of the round
COPIES = (5, 8)  # copies per press; one-way keypads cannot know whether one arrived
UNKNOWN_BUTTON = ButtonFrame(0x1234, 17).to_bytes()
GUARD_S = 30.0  # a hung link fails the test instead of hanging it


@dataclass
class Round:
    plan: VotePlan
    air: Air
    presses: list[Press]
    presence: list[Presence]
    bad: list[BadFrame]
    jammed: str
    low_battery: list[str]


async def vote(
    endpoint: SimEndpoint, receiver: SerialReceiver, *, handsets: int, seed: int, loss: float
) -> Round:
    """Play one round through ``endpoint`` into the open ``receiver``."""
    air = Air(RfConditions(loss=loss, copies=COPIES), seed=seed, one_way=sim_beyondq.ONE_WAY)
    sim = sim_beyondq.create_simulator(endpoint, air, speed=SPEED)
    ids = make_handset_ids(handsets, sim_beyondq.ID_FAMILY, seed=seed)
    assert SENTINEL not in ids
    plan = Audience(ids, seed=seed).plan("ABCDE", duration_s=20.0, change_rate=0.3, ping_rate=0.2)
    answers = plan.answers()
    voters = list(answers)
    low_battery = voters[:2]
    for handset in low_battery:
        air.set_battery(handset, 10.0)
    jammed = voters[2]  # held down after its owner's last press: the same answer, many times
    last_at = max(p.at for p in plan.presses if p.handset == jammed)
    air.jam(jammed, answers[jammed], last_at + 0.5)
    sim.load(plan)
    sentinel = ButtonFrame(parse_keypad(SENTINEL), BUTTON_LOG_ON).to_bytes()

    async def play() -> None:
        await sim.play()
        await endpoint.send(b"\x00garbage R:K" + UNKNOWN_BUTTON + sentinel)

    async with asyncio.timeout(GUARD_S):
        playing = asyncio.create_task(play(), name="sim-beyondq-play")
        try:
            events = await collect(
                receiver, lambda e: isinstance(e, Presence) and e.handset == SENTINEL
            )
        finally:
            await playing
    presses = [e for e in events if isinstance(e, Press)]
    presence = [e for e in events if isinstance(e, Presence) and e.handset != SENTINEL]
    bad = [e for e in events if isinstance(e, BadFrame)]
    return Round(plan, air, presses, presence, bad, jammed, low_battery)


def assert_intended_tally(r: Round) -> None:
    last: dict[str, str] = {}
    for press in r.presses:
        last[press.handset] = press.key
    assert last == r.plan.answers()
    counts = Counter(last.values())
    assert {k: counts.get(k, 0) for k in r.plan.options} == r.plan.expected()


def assert_copies_and_trouble_happened(r: Round) -> None:
    assert len(r.presses) > len(r.plan.presses)
    assert r.air.lost > 0
    repeats = Counter((p.handset, p.key) for p in r.presses if p.handset != r.jammed)
    assert max(repeats.values()) > 1
    assert sum(p.handset == r.jammed for p in r.presses) >= 10
    assert all(any(p.handset == h for p in r.presses) for h in r.low_battery)
    # Pings go out as the log-on button and arrive as presence, never as votes.
    assert {p.handset for p in r.presence} == {p.handset for p in r.plan.pings}


async def test_the_audience_tally_arrives_over_a_real_pty() -> None:
    async with PtyEndpoint() as endpoint:
        receiver = beyondq.create_receiver("rx-pty", endpoint.url)
        assert isinstance(receiver, SerialReceiver)
        assert receiver.baudrate == 38400
        await receiver.open()
        try:
            r = await vote(endpoint, receiver, handsets=60, seed=3, loss=0.1)
        finally:
            await receiver.close()
    assert_intended_tally(r)
    assert_copies_and_trouble_happened(r)
    assert [b.reason for b in r.bad] == ["unknown button: code 17"]
    assert receiver.stats.rejected == 1
    assert receiver.stats.noise == 1  # the garbage before the unknown button, one run
    assert receiver.stats.presses == len(r.presses)


async def test_the_audience_tally_arrives_over_tcp() -> None:
    async with await TcpEndpoint.start() as endpoint:
        receiver = beyondq.create_receiver("rx-tcp", endpoint.url)
        assert isinstance(receiver, SerialReceiver)
        await receiver.open()
        try:
            assert isinstance(endpoint, TcpEndpoint)
            await endpoint.wait_connected()
            r = await vote(endpoint, receiver, handsets=25, seed=8, loss=0.15)
        finally:
            await receiver.close()
    assert_intended_tally(r)
    assert_copies_and_trouble_happened(r)


async def test_a_vanished_port_ends_the_events_with_receiver_unavailable() -> None:
    endpoint = PtyEndpoint()
    receiver = beyondq.create_receiver("rx-gone", endpoint.url)
    await receiver.open()
    try:
        await endpoint.send(ButtonFrame.for_key("00BEEF", "C").to_bytes())
        stream = receiver.events()
        assert isinstance(stream, AsyncGenerator)
        async with asyncio.timeout(GUARD_S):
            first = await anext(stream)
            assert isinstance(first, Press)
            assert (first.receiver, first.handset, first.key) == ("rx-gone", "00BEEF", "C")
            await endpoint.close()
            with pytest.raises(ReceiverUnavailable):
                await anext(stream)
        await stream.aclose()
    finally:
        await receiver.close()
        await endpoint.close()


def test_a_channel_is_a_configuration_error() -> None:
    with pytest.raises(ReceiverConfigError, match="no channel"):
        beyondq.create_receiver("rx", "/dev/null", channel="41")
