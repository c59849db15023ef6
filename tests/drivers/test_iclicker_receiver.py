"""The production i>clicker driver against the emulated base, through pyusb's real code path.

Nothing here tells the driver it is emulated: it gets a pyusb backend and finds the base with
``usb.core.find`` as it would find hardware.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable

import pytest

from drivers.base import PollState, Press, ReceiverConfigError, ReceiverUnavailable
from drivers.iclicker import IClickerReceiver, Pacing
from drivers.iclicker import commands as cmds
from drivers.iclicker.codec import Generation, Response
from drivers.iclicker.transport import BaseSelector
from drivers.registry import load_driver
from firmware_sim.audience import Audience, VotePlan, make_handset_ids
from firmware_sim.iclicker_base import EmulatedBase
from firmware_sim.iclicker_usb import EmulatedUsbBackend, EmulatedUsbDevice
from firmware_sim.radio import Air, RfConditions

# Every pacing delay shrunk: the emulated base needs none, and tests never wait for real.
FAST = Pacing(
    config_gap_s=0,
    ack_timeout_s=2.0,
    lcd_gap_s=0,
    lcd_refresh_s=0.005,
    pull_interval_s=0.005,
    read_timeout_ms=5,
)
GENERATIONS = [Generation.V2, Generation.V1]
ROUND = PollState(True, "r1", "Strategy 2030: option choice")
CLOSED = PollState(False, "r1", "Strategy 2030: option choice")


def emulated(
    generation: Generation, *, seed: int = 3, loss: float = 0.05
) -> tuple[EmulatedUsbBackend, EmulatedBase, EmulatedUsbDevice]:
    """A bus with one base whose remotes lose ``loss`` of their packets (and acks)."""
    backend = EmulatedUsbBackend()
    air = Air(RfConditions(loss=loss), seed=seed, host_acks=True)
    base = EmulatedBase(generation, air=air, seed=seed)
    return backend, base, backend.plug(base)


def summit_round(n: int = 500, seed: int = 1) -> VotePlan:
    """``n`` delegates on options A-E; a third of the voters change their mind."""
    ids = make_handset_ids(n, "iclicker", seed=seed)
    return Audience(ids, seed=seed + 1).plan("ABCDE", duration_s=60.0, change_rate=0.3)


def drained(base: EmulatedBase) -> asyncio.Event:
    """Set (on this loop) once the base has handed out everything its remotes sent."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def signal() -> None:  # runs on the driver's USB thread
        loop.call_soon_threadsafe(done.set)

    base.on_drained = signal
    return done


def last_answers(presses: list[Press]) -> dict[str, str]:
    last: dict[str, str] = {}
    for p in presses:
        last[p.handset] = p.key
    return last


async def collect(rx: IClickerReceiver, into: list[Press]) -> None:
    async for event in rx.events():
        if isinstance(event, Press):
            into.append(event)


@pytest.mark.parametrize("generation", GENERATIONS)
async def test_open_detaches_usbhid_and_starts_the_base(generation: Generation) -> None:
    backend, base, device = emulated(generation)
    rx = IClickerReceiver("rx1", "usb", channel="CB", backend=backend, pacing=FAST)
    await rx.open()
    try:
        assert rx.generation is generation
        assert rx.identity is not None
        assert rx.identity.url == f"usb:1-{device.port}"
        assert rx.identity.address == device.address
        assert not device.kernel_driver
        assert device.claimed == {0}
        sent = [str(c) for c in base.commands if c.answered]
        assert sent == [str(c) for c in cmds.init_sequence(generation, "CB")]
        assert base.channel == "CB"
        assert base.lcd == ["arsbridge       ", "rx1 ch CB       "]
    finally:
        await rx.close()
        await rx.close()  # twice is fine
    assert rx.stats.extra.get("missing_acks", 0) == 0


@pytest.mark.parametrize("generation", GENERATIONS)
async def test_500_remotes_give_exactly_the_intended_tally(generation: Generation) -> None:
    backend, base, _ = emulated(generation)
    plan = summit_round()
    rx = IClickerReceiver("rx1", "usb", channel="BD", backend=backend, pacing=FAST)
    presses: list[Press] = []
    await rx.open()
    reader = asyncio.create_task(collect(rx, presses))
    done = drained(base)
    base.load(plan)
    await rx.set_poll(ROUND)
    await asyncio.wait_for(done.wait(), 60)
    await rx.set_poll(CLOSED)
    await rx.close()
    await reader

    assert plan.changes > 100  # the plan does change answers
    answers = last_answers(presses)
    assert answers == plan.answers()
    tally = Counter(answers.values())
    assert {k: tally[k] for k in plan.options} == plan.expected()
    assert len(presses) < len(base.delivered)  # repeats were dropped before the bridge
    assert all(p.seq is None and p.receiver == "rx1" for p in presses)
    extra = rx.stats.extra
    if generation is Generation.V2:
        assert extra["repeats"] > 0
        assert extra["ignored_codes"] == 4  # the codes after the change AA -> BD
    sent = [str(c) for c in base.commands if c.answered]
    start = [str(c) for c in cmds.start_sequence(generation)]
    stop = [str(c) for c in cmds.stop_sequence(generation)]
    opened = next(i for i in range(len(sent)) if sent[i : i + len(start)] == start)
    closed = next(i for i in range(opened, len(sent)) if sent[i : i + len(stop)] == stop)
    assert sent[-1] == "01 17 04"  # the summary ends the round
    if generation is Generation.V1:
        pulls = [c for c in sent[opened:closed] if c.startswith("01 17 01")]
        assert len(pulls) > 10
        assert all(c.startswith("01 17 01") for c in sent[closed + 1 : -1])
    assert base.lcd == ["Strategy 2030: o", f"Closed: {plan.voters}".ljust(16)]
    assert rx.voters == plan.voters


async def supervise(
    rx: IClickerReceiver,
    state: PollState,
    on_press: Callable[[Press], None],
    on_offline: Callable[[str], None],
    on_online: Callable[[], None],
) -> None:
    """What BridgeCore.supervise does: open, tell the open round, read; reopen when lost."""
    while True:
        try:
            await rx.open()
            await rx.set_poll(state)
            on_online()
            async for event in rx.events():
                if isinstance(event, Press):
                    on_press(event)
        except ReceiverUnavailable as exc:
            await rx.close()
            on_offline(str(exc))
            await asyncio.sleep(0)  # the backoff, shrunk
        else:
            return  # closed on purpose


@pytest.mark.parametrize("generation", GENERATIONS)
async def test_unplug_and_replug_mid_round_loses_nothing_the_base_reported(
    generation: Generation,
) -> None:
    backend, base, device = emulated(generation)
    plan = summit_round()
    url = f"usb:1-{device.port}"  # the port: the address changes when it is plugged back in
    rx = IClickerReceiver("rx1", url, backend=backend, pacing=FAST)
    presses: list[Press] = []
    offline: list[str] = []
    at_unplug: list[Response] = []
    before_loss: list[Press] = []

    def on_press(press: Press) -> None:
        presses.append(press)
        if len(presses) == 200:  # mid-round, while reports are streaming: pull the plug
            device.unplug()
            at_unplug.extend(base.delivered)  # everything the host had read from the base

    def on_offline(reason: str) -> None:
        offline.append(reason)
        if len(offline) == 1:
            before_loss.extend(presses)
        elif not device.present:
            device.replug()  # the first reopen failed: the technician plugs it back in

    back = asyncio.Event()
    online: list[int] = []

    def on_online() -> None:
        online.append(device.address)
        if len(online) == 2:
            back.set()

    done = drained(base)
    base.load(plan)
    address_before = device.address
    task = asyncio.create_task(supervise(rx, ROUND, on_press, on_offline, on_online))
    # The driver's thread may read the whole round before the loop reaches press 200, so the
    # round is closed once the receiver is back and the base has nothing left to hand out.
    await asyncio.wait_for(back.wait(), 60)
    await asyncio.wait_for(done.wait(), 60)
    await rx.set_poll(CLOSED)
    await rx.close()
    await task

    assert rx.identity is not None
    assert rx.identity.address != address_before
    assert len(offline) == 2
    assert device.present
    assert "unplugged" in offline[0]
    assert "no i>clicker base" in offline[1]
    reported = {(r.handset, r.key) for r in at_unplug}
    assert len(at_unplug) >= 200
    passed = {(p.handset, p.key) for p in before_loss}
    assert reported <= passed  # everything read before the unplug reached the bridge
    lost_in_base = {r.handset for r in base.lost_at_power_off}
    answers = last_answers(presses)
    expected = plan.answers()
    assert {h: answers.get(h) for h in expected if h not in lost_in_base} == {
        h: k for h, k in expected.items() if h not in lost_in_base
    }
    if generation is Generation.V2:
        assert len(lost_in_base) <= 2  # at most one report was waiting in the base


async def test_a_url_picks_the_base_by_position_serial_or_generation() -> None:
    backend = EmulatedUsbBackend()
    backend.plug(EmulatedBase(Generation.V2))
    second = backend.plug(EmulatedBase(Generation.V1), serial_number="RM-17")
    for url in (f"usb:1:{second.address}", "usb:1-2", "usb:RM-17"):
        rx = IClickerReceiver("rx", url, backend=backend, pacing=FAST)
        await rx.open()
        assert rx.generation is Generation.V1
        assert second.base.commands
        await rx.close()
        second.base.commands.clear()
    forced = IClickerReceiver("rx", "usb?generation=v1", backend=backend, pacing=FAST)
    await forced.open()
    assert forced.generation is Generation.V1  # the first base says v2; the URL wins
    await forced.close()
    missing = IClickerReceiver("rx", "usb:9:9", backend=backend, pacing=FAST)
    with pytest.raises(ReceiverUnavailable, match="no i>clicker base at usb:9:9"):
        await missing.open()
    await missing.close()


@pytest.mark.parametrize(
    ("url", "channel"),
    [
        ("serial:/dev/ttyUSB0", None),
        ("usb:1:x", None),
        ("usb:1-2.x", None),
        ("usb?gen=2", None),
        ("usb", "EE"),
    ],
)
def test_bad_urls_and_channels_are_configuration_errors(url: str, channel: str | None) -> None:
    module = load_driver("iclicker-usb")
    with pytest.raises(ReceiverConfigError):
        module.create_receiver("rx", url, channel=channel)


def test_selectors_name_a_port_an_address_a_serial_or_any_base() -> None:
    assert BaseSelector.parse("usb") == BaseSelector()
    assert BaseSelector.parse("usb:1-2.3") == BaseSelector(1, ports=(2, 3))
    assert BaseSelector.parse("usb:2:14") == BaseSelector(2, 14)
    assert BaseSelector.parse("usb:RM-17") == BaseSelector(serial="RM-17")
    v1 = BaseSelector.parse("USB:1-4?generation=v1")
    assert v1 == BaseSelector(1, ports=(4,), generation=Generation.V1)
    assert str(v1) == "usb:1-4"
    assert BaseSelector(1, ports=(2, 3)).matches(1, 40, (2, 3))
    assert not BaseSelector(1, ports=(2, 3)).matches(1, 40, (2,))
    assert not BaseSelector(2, 14).matches(2, 15, None)


async def test_the_registry_builds_the_driver_on_a_given_backend() -> None:
    backend, base, _ = emulated(Generation.V2)
    module = load_driver("iclicker-usb")
    assert module.FAMILY == "iclicker-usb"
    rx = module.create_receiver("rx", "usb", channel="DD", backend=backend)  # type: ignore[call-arg]
    assert isinstance(rx, IClickerReceiver)
    rx.pacing = FAST
    await rx.open()
    await rx.close()
    assert base.channel == "DD"


async def test_lcd_writes_keep_their_gap() -> None:
    backend, base, _ = emulated(Generation.V2)
    pacing = Pacing(config_gap_s=0, lcd_gap_s=0.05, lcd_refresh_s=10.0, read_timeout_ms=5)
    rx = IClickerReceiver("rx1", "usb", backend=backend, pacing=pacing)
    await rx.open()
    await rx.set_poll(ROUND)
    await rx.close()
    times = [t for t, _, _ in base.lcd_writes]
    assert len(times) == 4
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.045


async def test_a_base_in_use_is_refused_until_released() -> None:
    backend, _, device = emulated(Generation.V2)
    first = IClickerReceiver("rx1", "usb", backend=backend, pacing=FAST)
    second = IClickerReceiver("rx2", "usb", backend=backend, pacing=FAST)
    await first.open()
    with pytest.raises(ReceiverUnavailable, match="in use by another program"):
        await second.open()
    await first.close()
    assert device.owner is None
    await second.open()
    await second.close()


class DeafBase(EmulatedBase):
    """A base that takes every command and answers none."""

    def command(self, report: bytes) -> None:
        return None


async def test_a_base_that_does_not_answer_fails_to_open() -> None:
    backend = EmulatedUsbBackend()
    backend.plug(DeafBase())
    pacing = Pacing(config_gap_s=0, ack_timeout_s=0.05, read_timeout_ms=5)
    rx = IClickerReceiver("rx1", "usb", backend=backend, pacing=pacing)
    with pytest.raises(ReceiverUnavailable, match="did not answer 01 10 21 41"):
        await rx.open()
    with pytest.raises(ReceiverUnavailable, match="not open"):
        await rx.set_poll(ROUND)
