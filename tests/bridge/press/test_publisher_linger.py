"""Vote batches on the controlled clock and a real broker: at once by default; grouped over
``linger_s`` where a tally in the same process has the records already."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from bridge.clock import ManualClock
from bridge.event.batches import decode_batch
from bridge.event.votes import Decision, Record
from bridge.mqtt.broker import EmbeddedBroker
from bridge.mqtt.link import MqttLink
from bridge.mqtt.topics import Topics
from bridge.press.journal import Journal
from bridge.press.publisher import VotePublisher
from tests.conftest import free_port

WAIT_S = 5.0


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110 - batches arrive over the broker
            await asyncio.sleep(0.002)


def rec(n: int) -> Record:
    return Record(n, 1.0 + n, "rx1", f"HS{n:06d}", "A", Decision.COUNTED, "r", "A")


async def batches_of(tmp_path: Path, linger_s: float) -> list[list[int]]:
    """Enqueue two commits, advance the clock past ``linger_s``; the ids of each batch."""
    clock = ManualClock()
    received: list[list[int]] = []
    async with EmbeddedBroker(port=free_port()) as broker:
        link = MqttLink(broker.host, broker.port, client_id="linger-publisher")
        watcher = MqttLink(broker.host, broker.port, client_id="linger-watcher")
        watcher.subscribe(
            "lg/rx/+/votes",
            lambda m: received.append([p.id for p in decode_batch(m.payload).presses]),  # type: ignore[arg-type]
        )
        journal = Journal(tmp_path / "journal.sqlite3")
        journal.open()
        publisher = VotePublisher(
            link, Topics("lg"), journal, bridge_id="b1", linger_s=linger_s, clock=clock
        )
        tasks = [asyncio.create_task(t) for t in (link.run(), watcher.run(), publisher.run())]
        try:
            await link.wait_connected(WAIT_S)
            await watcher.wait_connected(WAIT_S)
            publisher.enqueue([rec(1)])
            if linger_s == 0:
                await until(lambda: len(received) == 1)
            else:
                for _ in range(20):
                    await asyncio.sleep(0)
                assert publisher.batches == 0  # waiting for the clock, not for time
            publisher.enqueue([rec(2), rec(3)])
            clock.advance(linger_s)
            await until(lambda: sum(map(len, received)) == 3)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await journal.close()
    return received


async def test_batches_go_out_at_once_without_linger(tmp_path: Path) -> None:
    assert await batches_of(tmp_path, 0.0) == [[1], [2, 3]]


async def test_linger_groups_the_commits_of_its_interval(tmp_path: Path) -> None:
    assert await batches_of(tmp_path, 0.02) == [[1, 2, 3]]
