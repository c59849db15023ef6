"""The real IskipperReceiver against the simulated firmware and real captures, over a pty and
TCP, opened through the production serial path (pyserial-asyncio-fast)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from drivers.base import (
    BadFrame,
    Presence,
    Press,
    Receiver,
    ReceiverConfigError,
    ReceiverEvent,
    ReceiverUnavailable,
)
from drivers.iskipper import IskipperReceiver, create_receiver
from drivers.iskipper.codec import CaptureForm, encode_capture
from firmware_sim.audience import Audience, make_handset_ids
from firmware_sim.iskipper import create_simulator, replay_capture
from firmware_sim.link import PtyEndpoint, SimEndpoint, open_endpoint
from firmware_sim.radio import Air, RfConditions

SENTINEL = "00000000"  # a ping no audience sends: once it arrives, everything before it has
SPEED = 200.0  # simulated seconds per wall-clock second
REPLAY_SPEED = 100.0
TIMEOUT_S = 30.0  # a safety net only; the tests wait for the sentinel, never for time
CAPTURES = "iskipper-2017-04-13"
PUBLISHED = {
    "q2": (147, {"A": 15, "B": 118, "C": 8, "D": 6, "E": 0}),
    "q3": (150, {"A": 17, "B": 2, "C": 9, "D": 119, "E": 3}),
}


async def events_until_sentinel(receiver: Receiver) -> list[ReceiverEvent]:
    """Every event the receiver yields before the sentinel ping."""
    events: list[ReceiverEvent] = []
    async for event in receiver.events():
        if isinstance(event, Presence) and event.handset == SENTINEL:
            break
        events.append(event)
    return events


@asynccontextmanager
async def reading(
    endpoint: SimEndpoint, *, channel: str | None = None
) -> AsyncIterator[tuple[IskipperReceiver, asyncio.Task[list[ReceiverEvent]]]]:
    """An open receiver on ``endpoint`` and the task collecting its events; both end after."""
    receiver = create_receiver("rx1", endpoint.url, channel=channel)
    assert isinstance(receiver, IskipperReceiver)
    await receiver.open()
    task = asyncio.create_task(events_until_sentinel(receiver), name="read-iskipper")
    try:
        yield receiver, task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await receiver.close()


def last_answers(events: list[ReceiverEvent]) -> dict[str, str]:
    answers: dict[str, str] = {}
    for event in events:
        if isinstance(event, Press):
            answers[event.handset] = event.key
    return answers


def tally(answers: dict[str, str]) -> dict[str, int]:
    return dict.fromkeys("ABCDE", 0) | dict(Counter(answers.values()))


@pytest.mark.parametrize("form", ["sketch", "software"])
@pytest.mark.parametrize("link", ["pty", "tcp"])
async def test_simulated_audience_arrives_with_its_intended_tally(
    link: str, form: CaptureForm
) -> None:
    ids = make_handset_ids(220, "iclicker", seed=5)
    assert SENTINEL not in ids
    plan = Audience(ids, seed=5).plan("ABCDE", duration_s=30.0, change_rate=0.3, ping_rate=0.2)
    air = Air(RfConditions(loss=0.1), seed=5)
    async with await open_endpoint(link) as endpoint:
        sim = create_simulator(endpoint, air, speed=SPEED, form=form)
        async with reading(endpoint, channel="BC") as (receiver, task):
            if form == "software":
                # The firmware prompts; the receiver connects, sets the channel and captures.
                serving = asyncio.create_task(sim.run())
                await asyncio.wait_for(sim.capturing.wait(), TIMEOUT_S)
                serving.cancel()
                await asyncio.gather(serving, return_exceptions=True)
                assert sim.channel == "BC"
            sim.load(plan)
            await sim.play()
            await endpoint.send(encode_capture(SENTINEL, "P", form))
            events = await asyncio.wait_for(task, TIMEOUT_S)

    presses = [e for e in events if isinstance(e, Press)]
    assert last_answers(events) == plan.answers()
    assert tally(last_answers(events)) == plan.expected()
    assert air.lost > 0  # the loss really happened ...
    assert len(presses) > len(plan.presses)  # ... and retransmits made up for it
    assert len(presses) + sum(isinstance(e, Presence) for e in events) == sim.captures_sent
    assert {e.handset for e in events if isinstance(e, Presence)} <= {p.handset for p in plan.pings}
    assert not [e for e in events if isinstance(e, BadFrame)]
    assert receiver.stats.noise > 0  # the debug lines were there and skipped
    assert receiver.stats.presses == len(presses)
    if form == "sketch":
        assert endpoint.received.empty()  # the capture sketch is never sent a byte


@pytest.mark.parametrize("question", ["q2", "q3"])
async def test_real_capture_replayed_over_a_pty_gives_the_published_tally(
    captures: Path, question: str
) -> None:
    path = captures / CAPTURES / f"2017-04-13-{question}.txt"
    async with PtyEndpoint() as endpoint, reading(endpoint) as (receiver, task):
        await replay_capture(endpoint, path, speed=REPLAY_SPEED)
        await endpoint.send(encode_capture(SENTINEL, "P"))
        events = await asyncio.wait_for(task, TIMEOUT_S)
    answers = last_answers(events)
    assert (len(answers), tally(answers)) == PUBLISHED[question]
    assert receiver.stats.rejected == 0
    assert receiver.stats.presses == path.read_bytes().count(b"Captured: ") - 1  # one ping


async def test_missing_port_raises_unavailable_naming_the_port() -> None:
    url = "/dev/ttyISKIPPER-not-plugged-in"
    receiver = create_receiver("rx1", url)
    with pytest.raises(ReceiverUnavailable, match=f"{url}.*does not exist") as info:
        await receiver.open()
    assert info.value.retryable


async def test_refused_tcp_port_raises_unavailable_naming_it() -> None:
    endpoint = await open_endpoint("tcp")
    url = endpoint.url
    await endpoint.close()  # nothing listens there any more
    receiver = create_receiver("rx1", url)
    with pytest.raises(ReceiverUnavailable, match=url.removeprefix("socket://")):
        await receiver.open()


async def test_link_lost_mid_stream_raises_unavailable() -> None:
    endpoint = await open_endpoint("tcp")
    try:
        async with reading(endpoint) as (_, task):
            await endpoint.send(encode_capture("428071B3", "A"))
            await endpoint.close()
            with pytest.raises(ReceiverUnavailable, match="rx1"):
                await asyncio.wait_for(task, TIMEOUT_S)
    finally:
        await endpoint.close()


@pytest.mark.parametrize("channel", ["AE", "ZZ", "A"])
def test_bad_channel_is_a_configuration_error(channel: str) -> None:
    with pytest.raises(ReceiverConfigError, match="channel"):
        create_receiver("rx1", "/dev/null", channel=channel)
