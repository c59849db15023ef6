"""The fault watch on simulated air: each fault raised by the simulated fault that should
raise it, on the simulators of every family that can produce it (every serial family for a
held key or a handset on two receivers; ARS-RX alone reports sequence numbers, signal and
battery), and 220 delegates voting normally raising none on any of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from bridge.event.votes import Decision
from bridge.press.watch import FaultWatch
from bridge.settings import FaultSettings
from drivers.arsrx.spec import RxState
from drivers.base import Press, ReceiverStats
from firmware_sim.arsrx import ArsRxSimulator
from firmware_sim.audience import Audience, PlannedPress, VotePlan, make_handset_ids
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import Air, RfConditions
from firmware_sim.receiver import SimulatedReceiver
from firmware_sim.registry import SIMULATORS, load_simulator
from tests.bridge.press.onair import T0, bridge

FAMILIES = sorted(SIMULATORS)  # every serial family: ARS-RX, iSkipper (i>clicker), ...


def simulator(driver: str, endpoint: PtyEndpoint, air: Air) -> SimulatedReceiver:
    sim = load_simulator(driver).create_simulator(endpoint, air)
    if isinstance(sim, ArsRxSimulator):
        sim.state = RxState.POLLING  # the host's handshake is done
    return sim


def ids(driver: str, n: int, seed: int) -> list[str]:
    return make_handset_ids(n, load_simulator(driver).ID_FAMILY, seed=seed)


def air_for(driver: str, seed: int, loss: float = 0.1) -> Air:
    module = load_simulator(driver)
    return Air(
        RfConditions(loss=loss), seed=seed, host_acks=module.HOST_ACKS, one_way=module.ONE_WAY
    )


def one(handset: str, key: str, at: float) -> VotePlan:
    return VotePlan(("A", "B", "C", "D"), at + 1, (PlannedPress(at, handset, key),))


@pytest.mark.parametrize("driver", FAMILIES)
async def test_220_delegates_voting_normally_raise_no_flag(tmp_path: Path, driver: str) -> None:
    handsets = ids(driver, 220, seed=4)
    audience = Audience(handsets, seed=5)
    async with PtyEndpoint() as endpoint, bridge(tmp_path) as b:
        air = air_for(driver, seed=6, loss=0.15)
        b.listen("rx1", driver, simulator(driver, endpoint, air))
        # Two rounds' worth: answers, changes of answer (some quickly), pings, retransmits.
        air.load(audience.plan("ABCD", duration_s=30, change_rate=0.5, ping_rate=0.3))
        air.load(audience.plan("ABCD", duration_s=30, change_rate=0.5), offset_s=40)
        b.play(90)
        records = await b.records()
    assert air.sent > 500
    decisions = {r.decision for r in records}
    assert {Decision.COUNTED, Decision.CHANGED, Decision.DUPLICATE} <= decisions
    assert Decision.SUSPECT not in decisions
    assert b.flags() == {}


@pytest.mark.parametrize("driver", FAMILIES)
async def test_a_key_held_down_is_flagged_stuck(tmp_path: Path, driver: str) -> None:
    handsets = ids(driver, 30, seed=7)
    stuck = handsets[0]
    async with PtyEndpoint() as endpoint, bridge(tmp_path) as b:
        air = air_for(driver, seed=8)
        b.listen("rx1", driver, simulator(driver, endpoint, air))
        air.load(Audience(handsets, seed=9).plan("ABCD", duration_s=10, change_rate=0.3))
        air.jam(stuck, "C", at=2.0)  # held down for 5 s
        b.play(20)
        records = await b.records()
    assert b.flags() == {stuck: ["stuck"]}
    reason = b.core.watch.flags_of(stuck)[0]["reason"]
    assert reason.endswith("transmissions in 5 s (a key held down?)")
    assert sum(r.handset == stuck for r in records) > 20


async def test_a_forged_press_with_a_higher_sequence_is_held_not_counted(tmp_path: Path) -> None:
    handsets = make_handset_ids(20, "arsrx", seed=10)
    victim = handsets[0]
    async with PtyEndpoint() as endpoint, bridge(tmp_path) as b:
        air = air_for("arsrx", seed=11, loss=0.0)
        b.listen("rx1", "arsrx", simulator("arsrx", endpoint, air))
        forger = air_for("arsrx", seed=12, loss=0.0)  # a second transmitter, same receiver
        b.listen("rx1", "arsrx", simulator("arsrx", endpoint, forger))
        air.load(one(victim, "A", 1.0))
        forger.handset(victim).seq = 99  # a forger guesses far ahead of the victim
        forger.handset(victim).rssi = air.handset(victim).rssi  # and sounds like it
        forger.load(one(victim, "B", 5.0))
        air.load(one(victim, "C", 9.0))  # the delegate's own next press still counts
        b.play(12)
        records = await b.records()
    mine = [(r.key, r.decision) for r in records if r.handset == victim]
    assert ("B", Decision.SUSPECT) in mine
    assert (mine[0], mine[-1]) == (("A", Decision.COUNTED), ("C", Decision.CHANGED))
    held = next(r for r in records if r.decision is Decision.SUSPECT)
    assert held.detail == "sequence jumped from 1 to 100"
    assert b.flags() == {victim: ["spoofing"]}


async def test_one_handset_at_two_signal_strengths_at_once_is_held(tmp_path: Path) -> None:
    handsets = make_handset_ids(20, "arsrx", seed=13)
    victim = handsets[0]
    async with PtyEndpoint() as endpoint, bridge(tmp_path) as b:
        air = air_for("arsrx", seed=14, loss=0.0)
        b.listen("rx1", "arsrx", simulator("arsrx", endpoint, air))
        forger = air_for("arsrx", seed=15, loss=0.0)
        b.listen("rx1", "arsrx", simulator("arsrx", endpoint, forger))
        air.handset(victim).rssi = -80  # at the back of the hall
        forger.handset(victim).rssi = -40  # next to the receiver
        forger.handset(victim).seq = 1  # one ahead: no sequence jump to give it away
        air.load(one(victim, "A", 1.0))
        forger.load(one(victim, "B", 1.4))
        b.play(5)
        records = await b.records()
    held = [r for r in records if r.decision is Decision.SUSPECT]
    assert [r.key for r in held] == ["B"]
    assert held[0].detail.startswith("heard at -")
    assert "dBm on rx1 within" in held[0].detail
    assert {r.answer for r in records if r.decision is Decision.COUNTED} == {"A"}
    assert b.flags() == {victim: ["spoofing"]}


@pytest.mark.parametrize("driver", FAMILIES)
async def test_one_handset_heard_on_two_distant_receivers_at_once_is_held(
    tmp_path: Path, driver: str
) -> None:
    victim = ids(driver, 1, seed=16)[0]
    far = {"far_apart": [("hall-a", "hall-c")]}
    async with PtyEndpoint() as endpoint, bridge(tmp_path, **far) as b:
        near = air_for(driver, seed=17, loss=0.0)
        b.listen("hall-a", driver, simulator(driver, endpoint, near))
        away = air_for(driver, seed=18, loss=0.0)
        b.listen("hall-c", driver, simulator(driver, endpoint, away))
        away.handset(victim).seq = 1
        near.load(one(victim, "A", 1.0))
        away.load(one(victim, "D", 1.5))
        b.play(5)
        records = await b.records()
    held = [r for r in records if r.decision is Decision.SUSPECT]
    assert [(r.receiver, r.key) for r in held][:1] == [("hall-c", "D")]
    assert held[0].detail == "heard on hall-a and hall-c, which are far apart"
    assert {r.answer for r in records if r.decision is Decision.COUNTED} == {"A"}
    assert b.flags() == {victim: ["spoofing"]}


async def test_a_flat_battery_is_flagged(tmp_path: Path) -> None:
    handsets = make_handset_ids(10, "arsrx", seed=19)
    async with PtyEndpoint() as endpoint, bridge(tmp_path) as b:
        air = air_for("arsrx", seed=20)
        b.listen("rx1", "arsrx", simulator("arsrx", endpoint, air))
        for h in handsets:
            air.set_battery(h, 60)
        air.set_battery(handsets[3], 12)
        air.load(Audience(handsets, seed=21).plan("ABCD", duration_s=5, abstain_rate=0))
        b.play(10)
    assert b.flags() == {handsets[3]: ["battery"]}
    assert b.core.watch.flags_of(handsets[3])[0]["reason"].startswith("battery at 1")


def test_a_receiver_backlog_is_flagged_and_flags_expire_after_flag_keep_s() -> None:
    watch = FaultWatch(FaultSettings(backlog_max=32, flag_keep_s=60))
    stats = ReceiverStats(extra={"rx_queue_depth": 40})
    watch.review(T0, {"rx1": stats})
    assert watch.document()["receivers"]["rx1"][0]["reason"] == "40 events queued for the host"
    stats.extra["rx_queue_depth"] = 3  # drained
    watch.review(T0 + 59, {"rx1": stats})
    assert "rx1" in watch.receivers  # still shown for a while
    watch.review(T0 + 61, {"rx1": stats})
    assert watch.document() == {"handsets": {}, "receivers": {}}
    assert watch.raised == {"backlog": 1}


def test_clearing_a_handset_starts_its_sequence_afresh() -> None:
    watch = FaultWatch(FaultSettings())
    first = Press("rx1", "0A1B2C", "A", T0, seq=5)
    assert watch.suspect(first) is None
    watch.accepted(first)
    later = Press("rx1", "0A1B2C", "B", T0 + 60, seq=200 - 128)  # 67 ahead
    assert watch.suspect(later) == "sequence jumped from 5 to 72"
    assert watch.clear("0A1B2C")
    assert watch.suspect(later) is None  # the technician checked the handset
    assert not watch.clear("0A1B2C")


def test_a_high_stuck_threshold_is_still_reached() -> None:
    watch = FaultWatch(FaultSettings(stuck_max_frames=100, stuck_window_s=10))
    for i in range(101):
        watch.heard("0A1B2C", "rx1", T0 + i * 0.05, None, None)
    assert watch.flags_of("0A1B2C")[0]["reason"] == "101 transmissions in 10 s (a key held down?)"


async def test_a_held_press_the_technician_vouches_for_is_decided_then(tmp_path: Path) -> None:
    victim = make_handset_ids(1, "arsrx", seed=22)[0]
    async with PtyEndpoint() as endpoint, bridge(tmp_path) as b:
        air = air_for("arsrx", seed=23, loss=0.0)
        b.listen("rx1", "arsrx", simulator("arsrx", endpoint, air))
        air.load(one(victim, "A", 1.0))
        b.play(3)
        air.handset(victim).seq = 60  # the delegate swapped batteries: the counter jumped
        air.load(one(victim, "D", 0.5))
        b.play(6)
        assert b.core.release("0A0A0A") is None  # nothing held for that handset
        released = b.core.release(victim)
        records = await b.records()
    assert released is not None
    assert (released.key, released.decision, released.answer) == ("D", Decision.CHANGED, "D")
    assert released.detail == "released by the technician"
    assert [r.decision for r in records if r.handset == victim][-1] is Decision.CHANGED
    assert Decision.SUSPECT in {r.decision for r in records}
    assert b.flags() == {}


async def test_the_handset_table_made_piecemeal_equals_one_made_whole(tmp_path: Path) -> None:
    """Entries are made again only for handsets heard since the last table and for those
    whose flags may have changed: at every tick the table is what a whole rebuild gives,
    through a key held down, its flag raised, and the technician clearing it."""

    def whole(b: Any) -> dict[str, Any]:
        return {
            h.handset: {
                "rx": h.receiver,
                "last": round(h.last_heard, 3),
                "presses": h.presses,
                "held": h.held,
                "rssi": h.rssi,
                "bat": h.battery,
                "flags": b.core.watch.flags_of(h.handset),
            }
            for h in b.core.handsets.values()
        }

    def published(b: Any) -> dict[str, Any]:
        """The table as it goes on the bus (JSON: an entry's flags a list)."""
        table = b.core.handsets_document()["handsets"]
        doc: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(table))
        return doc

    handsets = ids("arsrx", 40, seed=21)
    stuck = handsets[0]
    async with PtyEndpoint() as endpoint, bridge(tmp_path) as b:
        air = air_for("arsrx", seed=22)
        b.listen("rx1", "arsrx", simulator("arsrx", endpoint, air))
        air.load(Audience(handsets, seed=23).plan("ABCD", duration_s=10, change_rate=0.3))
        air.jam(stuck, "C", at=2.0)
        ticks = 0
        for second in range(1, 16):
            b.play(second)
            assert published(b) == whole(b), f"at {second} s"
            ticks += 1
        assert b.flags() == {stuck: ["stuck"]}
        assert b.core.handsets_document()["handsets"][stuck]["flags"][0]["kind"] == "stuck"
        assert b.core.watch.clear(stuck)
        table = published(b)
        assert table == whole(b)
        assert table[stuck]["flags"] == []
    assert ticks == 15


def test_the_sightings_of_handsets_quiet_past_every_window_are_forgotten() -> None:
    watch = FaultWatch(FaultSettings(stuck_window_s=5.0, stuck_max_frames=3))
    t0 = 1000.0
    for n in range(500):
        watch.heard(f"Q{n:05d}", "rx1", t0, -60, None)
    watch.heard("LIVE", "rx1", t0 + 14.0, -60, None)
    watch.review(t0 + 15.0, {})
    assert set(watch._heard) == {"LIVE"}  # quiet for 15 s: nothing left to count
    # What is kept still counts: the live handset held down is flagged stuck.
    for k in range(4):
        watch.heard("LIVE", "rx1", t0 + 15.0 + k * 0.1, -60, None)
    assert [f["kind"] for f in watch.flags_of("LIVE")] == ["stuck"]
    # A forgotten handset heard again starts afresh, without a flag.
    watch.heard("Q00001", "rx1", t0 + 16.0, -60, None)
    assert watch.flags_of("Q00001") == []
