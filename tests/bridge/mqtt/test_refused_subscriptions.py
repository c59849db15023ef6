"""Subscriptions a broker refuses on a connection it otherwise serves (SUBACK 0x80), as NATS
does while its JetStream cluster is short of a node: the link names them, asks for them again
on the same connection until they are granted, does not let the heartbeat reconnect for a
beat that cannot come back, and leaves a node that keeps refusing for the next one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import aiomqtt

from bridge.clock import ManualClock
from bridge.mqtt.heartbeat import Heartbeat
from bridge.mqtt.link import BrokerAddress, MqttLink
from tests.bridge.mqtt.refusing import RefusingBroker

WAIT_S = 10.0


async def until(condition: Callable[[], object], what: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110 - polling state
            await asyncio.sleep(0.01)
    assert condition(), what


def make_link(
    port: int, *, alternates: tuple[BrokerAddress, ...] = (), give_up_s: float = 60.0
) -> MqttLink:
    return MqttLink(
        "127.0.0.1",
        port,
        client_id="refused-link",
        timeout_s=2,
        reconnect_min_s=0.05,
        reconnect_max_s=0.1,
        resubscribe_min_s=0.05,
        resubscribe_max_s=0.1,
        resubscribe_give_up_s=give_up_s,
        alternates=alternates,
    )


@contextlib.asynccontextmanager
async def running(link: MqttLink) -> AsyncIterator[MqttLink]:
    task = asyncio.create_task(link.run(), name="link")
    try:
        await link.wait_connected(WAIT_S)
        yield link
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_refused_subscription_is_asked_for_again_until_granted() -> None:
    async with RefusingBroker() as broker:
        broker.retained["t/bridge/v1/acked"] = b'{"upto": 51}'
        broker.refuse["t/bridge/v1/acked"] = 3
        link = make_link(broker.port)
        heard: list[bytes] = []
        link.subscribe("t/round/+/state", lambda m: None)
        link.subscribe("t/bridge/v1/acked", lambda m: heard.append(bytes(m.payload)))  # type: ignore[arg-type]
        async with running(link):
            await until(lambda: heard == [b'{"upto": 51}'], "the retained mark, once granted")
            assert link.missing == {}
            assert broker.asked["t/bridge/v1/acked"] == 4
            assert broker.asked["t/round/+/state"] == 1
            assert link.refused == 3
            # On the same connection: nothing was lost or restarted for it.
            assert (link.connects, link.lost) == (1, 0)


async def test_the_heartbeat_does_not_reconnect_for_its_own_refused_subscription() -> None:
    async with RefusingBroker() as broker:
        topic = "t/link/refused-link"
        broker.refuse[topic] = 1_000_000
        link = make_link(broker.port)
        clock = ManualClock()
        beat = Heartbeat(link, topic, interval_s=5, misses=3, clock=clock)
        async with running(link):
            assert topic in link.missing
            beat.start()
            for _ in range(6):  # twice the misses that would reconnect a link
                clock.advance(5)
            assert (beat.sent, beat.restarts, link.lost) == (0, 0, 0)
            broker.refuse[topic] = 0
            await until(lambda: not link.missing, "the beat's subscription granted")
            for n in range(1, 4):
                clock.advance(5)
                await until(lambda n=n: beat.heard == n, f"beat {n} came back")  # type: ignore[misc]
            assert beat.degraded is None
            assert (beat.restarts, link.connects, link.lost) == (0, 1, 0)
            beat.stop()


async def test_a_node_that_keeps_refusing_is_left_for_the_next() -> None:
    async with RefusingBroker() as stuck, RefusingBroker() as well:
        stuck.refuse["t/rx/+/votes"] = 1_000_000
        link = make_link(
            stuck.port, alternates=(BrokerAddress("127.0.0.1", well.port),), give_up_s=0.3
        )
        votes: list[aiomqtt.Message] = []
        link.subscribe("t/rx/+/votes", votes.append)
        async with running(link):
            assert link.port == stuck.port
            await until(lambda: link.port == well.port and link.connected.is_set(), "next node")
            assert link.missing == {}
            assert link.lost == 1
            assert link.last_lost is not None
            assert "refused the subscription to t/rx/+/votes" in link.last_lost[1]
            await link.publish("t/rx/hall-a/votes", b"batch")
            await until(lambda: [m.payload for m in votes] == [b"batch"], "votes delivered")
