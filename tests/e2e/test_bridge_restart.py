"""A bridge of its own killed mid-round and started again while the broker is down: it reads
its receiver at once, from the rounds and the roster kept in its own file, journals every
press while no broker answers, and sends them all once the broker is back; the results are
the recorded lecture's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from bridge.desk.store import BUS_ROSTER
from bridge.tally.replay import replay
from firmware_sim.link import PtyEndpoint
from firmware_sim.receiver import stream_bytes
from tests.brokers import Mosquitto
from tests.e2e.test_split_roles import (
    PUBLISHED,
    Roles,
    close_round,
    open_round,
    pieces,
    until,
    until_up,
    watching,
)

pytestmark = pytest.mark.mosquitto

ONLINE = "receiver rx1 (iskipper): online"  # the bridge's log, once the port is open


def kept_roster(journal: Path) -> bool:
    db = sqlite3.connect(journal)
    try:
        row = db.execute("SELECT 1 FROM documents WHERE name = ?", (BUS_ROSTER,)).fetchone()
        return row is not None
    finally:
        db.close()


async def test_a_bridge_restarted_while_the_broker_is_down_journals_at_once(
    tmp_path: Path, captures: Path
) -> None:
    data = (captures / "iskipper-2017-04-13" / "2017-04-13-q2.txt").read_bytes()
    presses = replay("iskipper", data).presses
    first, second = pieces(data, 2)
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(tmp_path / "broker", persist=True)
    await broker.start_async()
    try:
        async with PtyEndpoint() as endpoint:
            roles = Roles(tmp_path, broker.url, endpoint.url)
            try:
                async with (
                    watching(broker.url, f"{roles.base}/rx/rx1/availability") as receiver,
                    watching(broker.url, f"{roles.base}/bridge/venue1/acked") as acked,
                    httpx.AsyncClient(
                        base_url=f"http://127.0.0.1:{roles.api_port}", timeout=5
                    ) as http,
                ):
                    for role in ("api", "tally", "bridge"):
                        await roles.start(role)
                    await until_up(http)
                    await open_round(http, "q2")
                    await until(lambda: receiver.get("state") == "online", "the bridge reading")
                    await stream_bytes(endpoint, first, speed=50)
                    half = replay("iskipper", first).presses
                    await until(lambda: sum(roles.bridge_journal()[1].values()) == half, "half")
                    last, _ = roles.bridge_journal()
                    await until(lambda: acked.get("upto") == last, "the tally holds the half")
                    await until(lambda: kept_roster(tmp_path / "bridge.sqlite3"), "roster kept")

                await broker.stop_async()
                await roles.kill("bridge")
                log = tmp_path / "bridge.log"
                opened = log.read_text().count(ONLINE)
                await roles.start("bridge")  # while no broker answers
                # Opening a serial port drops what waited in it: the rest streams once it is open.
                await until(lambda: log.read_text().count(ONLINE) > opened, "reading again")
                await stream_bytes(endpoint, second, speed=50)
                await until(
                    lambda: sum(roles.bridge_journal()[1].values()) == presses,
                    "every press journaled with the broker down",
                )
                await until(lambda: "journaling meanwhile" in log.read_text(), "said so")

                await broker.start_async()
                last, _ = roles.bridge_journal()
                async with (
                    watching(broker.url, f"{roles.base}/bridge/venue1/acked") as acked,
                    httpx.AsyncClient(
                        base_url=f"http://127.0.0.1:{roles.api_port}", timeout=5
                    ) as http,
                ):
                    await until(lambda: acked.get("upto") == last, "the tally holds every press")
                    results = await close_round(http, "q2")
            finally:
                await roles.stop_all()
    finally:
        await broker.stop_async()
    assert results["voters"] == PUBLISHED["voters"]
    assert results["counts"] == PUBLISHED["counts"]
