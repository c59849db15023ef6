"""The ARS-RX driver against the simulated receiver, over a real pty and over TCP.

The test plays the bridge's part: it reads events and answers every press with
``receiver.acknowledge`` as the bridge does once the journal has committed the press.
Timers are shrunk through :class:`Timing` and the simulated air runs fast; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from arsbridge.cli import main as arsbridge
from bridge.tally.replay import replay
from drivers.arsrx import create_receiver
from drivers.arsrx.codec import Frame
from drivers.arsrx.frames import Hello, PollOpen, PressEvent
from drivers.arsrx.receiver import ArsRxReceiver, LinkState
from drivers.arsrx.session import CommandRefused, Timing
from drivers.arsrx.spec import DisplayTarget, ErrorCode, FrameType, Reason, RxState
from drivers.base import (
    Ack,
    BadFrame,
    PollState,
    Presence,
    Press,
    ReceiverConfigError,
    ReceiverUnavailable,
)
from firmware_sim.arsrx import FIRMWARE, ArsRxSimulator
from firmware_sim.audience import Audience, VotePlan, make_handset_ids
from firmware_sim.link import PtyEndpoint, SimEndpoint, TcpEndpoint
from firmware_sim.radio import AckReason, Air, RfConditions

FAST = Timing(
    command_timeout_s=0.25,
    command_attempts=3,
    handshake_attempts=3,
    link_timeout_s=2.0,
    keepalive_s=0.5,
)
SPEED = 20.0  # simulated seconds per wall-clock second
AUDIENCE = 220
LOSS = 0.15


@contextlib.asynccontextmanager
async def link(kind: str) -> AsyncIterator[SimEndpoint]:
    endpoint: SimEndpoint = PtyEndpoint() if kind == "pty" else await TcpEndpoint.start()
    try:
        yield endpoint
    finally:
        await endpoint.close()


@contextlib.asynccontextmanager
async def serving(sim: ArsRxSimulator) -> AsyncIterator[None]:
    """The simulator answers the host (handshake, commands) with nothing loaded on the air."""
    task = asyncio.create_task(sim.run(), name="sim-arsrx-serving")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class Bridge:
    """Plays the bridge: reads events and answers each press as ``decide`` says."""

    receiver: ArsRxReceiver
    decide: Callable[[Press], Ack] = lambda press: Ack.ACCEPTED
    presses: list[Press] = field(default_factory=list)
    presence: list[Presence] = field(default_factory=list)
    bad: list[BadFrame] = field(default_factory=list)
    ended: ReceiverUnavailable | None = None

    async def run(self) -> None:
        try:
            async for event in self.receiver.events():
                if isinstance(event, Press):
                    self.presses.append(event)
                    await self.receiver.acknowledge(event, self.decide(event))
                elif isinstance(event, Presence):
                    self.presence.append(event)
                else:
                    self.bad.append(event)
        except ReceiverUnavailable as exc:
            self.ended = exc

    def answers(self) -> dict[str, str]:
        return {press.handset: press.key for press in self.presses}


async def vote(sim: ArsRxSimulator, rx: ArsRxReceiver, bridge: Bridge, plan: VotePlan) -> None:
    """Play ``plan`` on the air until it falls quiet, with ``bridge`` answering presses."""
    reading = asyncio.create_task(bridge.run(), name="bridge-reading")
    sim.air.load(plan)
    await sim.play()
    await rx.close()
    await reading


def air(loss: float = LOSS) -> Air:
    return Air(RfConditions(loss=loss), seed=5, host_acks=True)


# The whole chain.


@pytest.mark.parametrize("kind", ["pty", "tcp"])
async def test_audience_with_loss_gets_its_intended_tally(kind: str) -> None:
    async with link(kind) as endpoint:
        sim = ArsRxSimulator(endpoint, air(), speed=SPEED)
        handsets = make_handset_ids(AUDIENCE, "arsrx", seed=11)
        plan = Audience(handsets, seed=12).plan("ABCDE", duration_s=20.0)
        rx = create_receiver("rx1", endpoint.url, channel="41")
        rx.timing = FAST
        async with serving(sim):
            await rx.open()
            await rx.set_poll(PollState(True, "theme-1", "Ring road or light rail?", 5))
        assert (sim.state, sim.round, sim.options) == (RxState.POLLING, 1, 5)
        assert sim.display[DisplayTarget.RECEIVER] == "Ring road or light rail?"
        bridge = Bridge(rx)
        await vote(sim, rx, bridge, plan)

    counts = dict.fromkeys(plan.options, 0) | Counter(bridge.answers().values())
    assert counts == plan.expected()
    for handset in plan.answers():
        assert sim.air.outcome(handset)[-1:] == [AckReason.ACCEPTED], handset
    repeats = Counter((press.handset, press.seq) for press in bridge.presses)
    assert sim.air.lost > 0
    assert sim.air.sent > len(plan.presses)
    assert max(repeats.values()) > 1  # answers were lost, handsets sent again, host answered
    assert sim.replies[Reason.ACCEPTED] >= plan.voters
    assert rx.stats.presses == len(bridge.presses)
    assert rx.stats.rejected == 0
    assert all(p.rssi is not None and p.battery is not None for p in bridge.presses)
    assert isinstance(bridge.ended, ReceiverUnavailable)
    assert rx.state is LinkState.CLOSED


@pytest.mark.parametrize(
    ("ack", "shown"),
    [
        (Ack.ACCEPTED, AckReason.ACCEPTED),
        (Ack.CLOSED, AckReason.CLOSED),
        (Ack.NOT_PAIRED, AckReason.NOT_PAIRED),
        (Ack.INVALID_KEY, AckReason.INVALID_KEY),
    ],
)
async def test_the_handset_stops_and_shows_the_reason(ack: Ack, shown: AckReason) -> None:
    async with link("pty") as endpoint:
        sim = ArsRxSimulator(endpoint, air(loss=0.0), speed=SPEED)
        rx = ArsRxReceiver("rx1", endpoint.url, timing=FAST)
        async with serving(sim):
            await rx.open()
        bridge = Bridge(rx, decide=lambda press: ack)
        plan = VotePlan(("A", "B"), 5.0, ())
        sim.air.press("3C0042", "B", 0.5)
        await vote(sim, rx, bridge, plan)

    assert sim.air.outcome("3C0042") == [shown]
    assert sim.air.abandoned == 0  # it stopped because it was answered, not because it gave up
    assert len(bridge.presses) == sim.air.sent  # nothing lost on the air: every send reached us


async def test_a_refused_key_is_followed_by_a_valid_one() -> None:
    async with link("pty") as endpoint:
        sim = ArsRxSimulator(endpoint, air(loss=0.0), speed=SPEED)
        rx = ArsRxReceiver("rx1", endpoint.url, timing=FAST)
        async with serving(sim):
            await rx.open()
        bridge = Bridge(rx, decide=lambda p: Ack.INVALID_KEY if p.key == "Z" else Ack.ACCEPTED)
        sim.air.press("3C0042", "Z", 0.5)
        sim.air.press("3C0042", "A", 3.0)
        await vote(sim, rx, bridge, VotePlan(("A",), 5.0, ()))

    assert sim.air.outcome("3C0042") == [AckReason.INVALID_KEY, AckReason.ACCEPTED]
    assert [p.key for p in bridge.presses][-1] == "A"


# Commands, handshake and link failures.


async def test_a_command_never_answered_is_retried_then_fails_the_link() -> None:
    async with link("pty") as endpoint:
        sim = ArsRxSimulator(endpoint, air(), speed=SPEED)
        sim.muted = {FrameType.SET_CHANNEL}
        rx = ArsRxReceiver("rx1", endpoint.url, timing=replace(FAST, command_timeout_s=0.05))
        async with serving(sim):
            await rx.open()
            with pytest.raises(
                ReceiverUnavailable, match="did not answer SET_CHANNEL after 3 attempts"
            ):
                await rx.set_channel(42)
            assert sim.commands[FrameType.SET_CHANNEL] == 3
            assert rx.state is LinkState.FAILED
            assert rx.stats.extra["command_retries"] == 2
            assert rx.stats.extra["command_failures"] == 1
            with pytest.raises(ReceiverUnavailable, match="did not answer SET_CHANNEL"):
                async for _ in rx.events():
                    pass
            with pytest.raises(ReceiverUnavailable, match="did not answer SET_CHANNEL"):
                await rx.set_pairing(True)  # the failed session refuses further commands
            await rx.close()
    assert sim.channel == 41


async def test_an_unanswered_handshake_fails_the_open_cleanly() -> None:
    async with link("pty") as endpoint:
        sim = ArsRxSimulator(endpoint, air(), speed=SPEED)
        sim.muted = {FrameType.HELLO}
        rx = ArsRxReceiver("rx1", endpoint.url, timing=replace(FAST, command_timeout_s=0.05))
        async with serving(sim):
            with pytest.raises(ReceiverUnavailable, match="did not answer HELLO after 3 attempts"):
                await rx.open()
    assert sim.commands[FrameType.HELLO] == 3
    assert rx.state is LinkState.CLOSED


async def test_incompatible_versions_are_a_configuration_error() -> None:
    async with link("pty") as endpoint:
        sim = ArsRxSimulator(endpoint, air(), speed=SPEED, versions=(2, 3))
        rx = ArsRxReceiver("rx1", endpoint.url, timing=FAST)
        async with serving(sim):
            with pytest.raises(
                ReceiverConfigError, match=r"speaks ARS-RX versions 2\.\.3; this host speaks 1\.\.1"
            ):
                await rx.open()
    assert not ReceiverConfigError.retryable


async def test_a_bad_channel_setting_is_a_configuration_error() -> None:
    rx = ArsRxReceiver("rx1", "/dev/null-not-opened", channel="forty-one", timing=FAST)
    with pytest.raises(ReceiverConfigError):
        rx._channel_number()


async def test_a_silent_receiver_is_a_lost_link() -> None:
    async with link("pty") as endpoint:
        sim = ArsRxSimulator(endpoint, air(), speed=SPEED, status_period_s=None)
        timing = replace(FAST, link_timeout_s=0.3, keepalive_s=60.0)
        rx = ArsRxReceiver("rx1", endpoint.url, timing=timing)
        async with serving(sim):
            await rx.open()
            with pytest.raises(ReceiverUnavailable, match=r"sent nothing sound for 0\.3 s"):
                async for _ in rx.events():
                    pass
            await rx.close()


async def test_a_receiver_that_restarted_is_reopened() -> None:
    async with link("tcp") as endpoint:
        sim = ArsRxSimulator(endpoint, air(), speed=SPEED, status_period_s=0.05)
        rx = ArsRxReceiver("rx1", endpoint.url, timing=FAST)
        async with serving(sim):
            await rx.open()
            await rx.set_poll(PollState(True, "r1"))
            sim.state = RxState.UNCONFIGURED  # what a rebooted receiver reports
            with pytest.raises(ReceiverUnavailable, match="reports UNCONFIGURED"):
                async for _ in rx.events():
                    pass
            await rx.close()
            await rx.open()  # a new handshake: the receiver is in a session again
            assert sim.state is RxState.IDLE
            await rx.close()


async def test_a_receiver_refusing_a_command_raises_command_refused() -> None:
    async with link("pty") as endpoint:
        sim = ArsRxSimulator(endpoint, air(), speed=SPEED)
        rx = ArsRxReceiver("rx1", endpoint.url, timing=FAST)
        async with serving(sim):
            await rx.open()
            with pytest.raises(CommandRefused, match="refused SET_CHANNEL: BAD_CHANNEL"):
                await rx.set_channel(200)
            assert rx.state is LinkState.READY  # a NAK is an answer: the link is fine
            await rx.close()


# Status, pairing, errors and bad frames.


async def test_status_info_errors_and_bad_frames_reach_the_technician(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with link("pty") as endpoint:
        sim = ArsRxSimulator(endpoint, air(), speed=SPEED)
        rx = ArsRxReceiver("rx1", endpoint.url, timing=FAST)
        bridge = Bridge(rx)
        async with serving(sim):
            await rx.open()
            reading = asyncio.create_task(bridge.run(), name="bridge-reading")
            assert rx.info is not None
            assert rx.info.firmware == FIRMWARE
            corrupted = bytearray(Frame(200, PressEvent("12AB0F", 1, "A")).to_bytes())
            corrupted[-2] ^= 0xFF
            await sim.endpoint.send(bytes(corrupted))
            await sim.endpoint.send(sim.report_error(ErrorCode.CARRIER, "carrier on 41"))
            with caplog.at_level(logging.WARNING):
                status = await rx.request_status()  # answered after the bytes above
            await rx.close()
            await reading
    assert status.state is RxState.IDLE
    assert status.channel == 41
    assert rx.stats.extra["rx_channel"] == 41
    assert rx.stats.extra["rx_errors"] == 1
    assert "reports CARRIER: carrier on 41" in caplog.text
    (bad,) = bridge.bad
    assert "CRC mismatch" in bad.reason
    assert rx.stats.rejected == 1


async def test_pairing_mode_reports_joins() -> None:
    async with link("pty") as endpoint:
        sim = ArsRxSimulator(endpoint, air(loss=0.1), speed=SPEED)
        rx = ArsRxReceiver("rx1", endpoint.url, timing=FAST)
        async with serving(sim):
            await rx.open()
            await rx.set_pairing(True)
        assert sim.pairing
        handsets = make_handset_ids(30, "arsrx", seed=3)
        plan = Audience(handsets, seed=4).plan(
            "AB", duration_s=5.0, abstain_rate=1.0, ping_rate=1.0
        )
        bridge = Bridge(rx)
        await vote(sim, rx, bridge, plan)
    assert {p.handset for p in bridge.presence} == set(handsets)
    assert rx.stats.extra["joins"] == len(bridge.presence)
    assert all(sim.air.outcome(h) == [AckReason.ACCEPTED] for h in handsets)
    assert bridge.presses == []


# Replay of a raw capture.


def _capture(plan: VotePlan) -> bytes:
    """What a receiver sends for ``plan``, the host answering every press (as on a live link)."""
    sim = ArsRxSimulator(_Nowhere(), air(), speed=SPEED)
    out = bytearray(sim.banner())
    sim.on_host(Frame(0, Hello()).to_bytes() + Frame(1, PollOpen(1, 5)).to_bytes())
    sim.air.load(plan)
    while (at := sim.air.next_time()) is not None:
        for tx in sim.air.advance(at):
            out += sim.encode(tx)
            sim.air.ack(tx.handset, tx.seq)
    return bytes(out)


class _Nowhere(SimEndpoint):
    url = "null://"

    async def send(self, data: bytes) -> None:
        pass

    async def close(self) -> None:
        pass


def test_replay_recounts_a_raw_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = Audience(make_handset_ids(120, "arsrx", seed=8), seed=9).plan("ABCD", duration_s=30.0)
    data = b"\x7f\x13 partial frame from before the capture started" + _capture(plan)
    result = replay("arsrx", data)
    assert {k: v for k, v in result.counts.items() if k in plan.options} == plan.expected()
    assert result.voters == plan.voters
    assert result.noise == 1
    assert result.rejected == 0
    capture = tmp_path / "arsrx.bin"
    capture.write_bytes(data)
    assert arsbridge(["replay", "--driver", "arsrx", "--input", str(capture), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["voters"] == plan.voters
