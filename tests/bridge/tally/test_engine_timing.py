"""Tally snapshots on the leading edge, on the controlled clock and a real broker: the first
change goes out at once, later ones at most every interval while changes keep coming."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.clock import ManualClock
from bridge.event.questions import Question
from bridge.event.rounds import RoundState, RoundStatus, Window
from bridge.event.votes import Decision, Record
from bridge.mqtt.access import load_credentials, user_grants
from bridge.mqtt.broker import EmbeddedBroker
from bridge.mqtt.link import MqttLink
from bridge.mqtt.topics import Topics
from bridge.tally.batches import BatchCheck
from bridge.tally.engine import TallyEngine
from tests.conftest import free_port

INTERVAL_S = 0.02
WAIT_S = 5.0


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110 - the engine exposes what it published only
            await asyncio.sleep(0.001)


@pytest.fixture
async def engine(
    tmp_path: Path,
) -> AsyncIterator[tuple[TallyEngine, ManualClock, list[dict[str, Any]]]]:
    clock = ManualClock()
    grants = user_grants("timing")
    passwords = load_credentials(tmp_path / "credentials.toml", grants)
    async with EmbeddedBroker(
        "127.0.0.1", free_port(), passwords=passwords, grants=grants
    ) as broker:
        link = MqttLink(
            broker.host,
            broker.port,
            client_id="tally-timing-test",
            username="tally",
            password=passwords["tally"],
        )
        check = BatchCheck(["b1"], max_bytes=1 << 20, max_records=1000, max_record_jump=10000)
        engine = TallyEngine(
            link, Topics("timing"), interval_s=INTERVAL_S, clock=clock, check=check
        )
        snapshots: list[dict[str, Any]] = []
        engine.listeners.append(
            lambda kind, doc: snapshots.append(doc) if kind == "tally" else None
        )
        tasks = [asyncio.create_task(link.run()), asyncio.create_task(engine.run())]
        try:
            await link.wait_connected(WAIT_S)
            yield engine, clock, snapshots
        finally:
            engine.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def vote(n: int, clock: ManualClock) -> Record:
    return Record(n, clock.time(), "rx1", f"HS{n:06d}", "A", Decision.COUNTED, "r", "A")


async def test_first_change_at_once_then_at_most_every_interval(
    engine: tuple[TallyEngine, ManualClock, list[dict[str, Any]]],
) -> None:
    tally, clock, snapshots = engine
    state = RoundState(
        round="r",
        question=Question.single("ABCDE"),
        status=RoundStatus.OPEN,
        windows=[Window(start=clock.time())],
        revision=1,
    )
    tally.update_round(state)
    await until(lambda: len(snapshots) == 1)  # the opened round, without the clock moving
    clock.advance(INTERVAL_S)  # a quiet spell

    tally.apply([vote(1, clock)])
    await until(lambda: len(snapshots) == 2)  # the first press after it: at once
    assert snapshots[-1]["voters"] == 1
    assert clock.pending() == []  # no timer was needed for it

    tally.apply([vote(2, clock)])
    tally.apply([vote(3, clock)])
    # Within the interval: both wait for one snapshot at its end.
    assert clock.pending() == [pytest.approx(clock.time() + INTERVAL_S)]
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(snapshots) == 2

    clock.advance(INTERVAL_S)
    await until(lambda: len(snapshots) == 3)
    assert snapshots[-1]["voters"] == 3
    assert clock.pending() == []


async def test_changes_that_keep_coming_publish_once_per_interval(
    engine: tuple[TallyEngine, ManualClock, list[dict[str, Any]]],
) -> None:
    tally, clock, snapshots = engine
    state = RoundState(round="r", status=RoundStatus.OPEN, windows=[Window(start=clock.time())])
    tally.update_round(state)
    await until(lambda: len(snapshots) == 1)
    # 50 presses, 2 ms apart, for 100 ms: the first right away, then one per 20 ms at most.
    for n in range(1, 51):
        tally.apply([vote(n, clock)])
        clock.advance(0.002)
        for _ in range(5):
            await asyncio.sleep(0)
    clock.advance(INTERVAL_S)
    await until(lambda: snapshots[-1]["voters"] == 50)
    # Snapshots are at least one interval apart on the clock: 120 ms hold 7 at most (fewer
    # when the broker is slower than the clock, which only coalesces more).
    published = len(snapshots) - 1
    assert 1 <= published <= 7, published
