"""Handset tables as changes: between processes the bridge publishes its whole table once and
then only what changed, and the api process's technician board, read as changes too, ends
equal to the whole board and to the bridge's journal; in the bridge's own process the board
shows each press at its next poll."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiomqtt
import httpx

from bridge.mqtt.link import parse_broker_url
from drivers.iskipper.codec import encode_capture
from firmware_sim.audience import make_handset_ids
from firmware_sim.link import PtyEndpoint
from firmware_sim.receiver import stream_bytes
from tests.conftest import service_settings
from tests.e2e.harness import running
from tests.e2e.test_split_roles import Roles, open_round, pieces, until, until_up, watching

# Only the table of the bridge's start goes out whole in this test; everything else as changes.
MQTT = "handsets_interval_ms = 100\nhandsets_whole_interval_ms = 600000\n"


class Board:
    """The technician's board as the page keeps it: the whole board once, then changes."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.cursor: str | None = None
        self.answers: list[dict[str, Any]] = []

    async def poll(self, http: httpx.AsyncClient) -> None:
        params = {"after": self.cursor} if self.cursor else {}
        r = await http.get("/api/v1/handsets/changes", params=params)
        assert r.status_code == 200, r.text
        answer = r.json()
        self.answers.append(answer)
        if answer["whole"]:
            self.rows.clear()
        for handset in answer["gone"]:
            self.rows.pop(handset, None)
        self.rows.update({row["handset"]: row for row in answer["rows"]})
        self.cursor = answer["cursor"]


def journaled(path: Path) -> dict[str, int]:
    """Presses journaled per handset (every press a bridge hears is journaled)."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT handset, COUNT(*) FROM presses WHERE handset != '' GROUP BY 1")
        return {str(h): int(n) for h, n in rows}
    finally:
        db.close()


async def test_the_board_follows_a_bridge_in_another_process_by_changes(
    tmp_path: Path, captures: Path, mosquitto_url: str
) -> None:
    data = (captures / "iskipper-2017-04-13" / "2017-04-13-q2.txt").read_bytes()
    address = parse_broker_url(mosquitto_url)
    messages = {"handsets": 0, "handset_changes": 0}
    async with PtyEndpoint() as endpoint:
        roles = Roles(tmp_path, mosquitto_url, endpoint.url, mqtt=MQTT)
        tables = f"{roles.base}/bridge/venue1/"

        async def count() -> None:
            async with aiomqtt.Client(address.host, address.port, identifier="counter") as c:
                await c.subscribe(tables + "+", qos=1)
                async for message in c.messages:
                    kind = str(message.topic).removeprefix(tables)
                    if kind in messages:
                        messages[kind] += 1

        counter = asyncio.create_task(count())
        board = Board()
        try:
            async with (
                watching(mosquitto_url, f"{roles.base}/rx/rx1/availability") as receiver,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{roles.api_port}", timeout=5) as http,
            ):
                for role in ("api", "tally", "bridge"):
                    await roles.start(role)
                await until_up(http)
                await open_round(http, "q2")
                await until(lambda: receiver.get("state") == "online", "the bridge reading")
                for piece in pieces(data, 5):
                    await stream_bytes(endpoint, piece, speed=50)
                    await board.poll(http)
                heard = journaled(tmp_path / "bridge.sqlite3")
                async with asyncio.timeout(60):
                    while {h: r["presses"] for h, r in board.rows.items()} != heard:
                        await asyncio.sleep(0.1)
                        await board.poll(http)
                        heard = journaled(tmp_path / "bridge.sqlite3")
                whole = {row["handset"]: row for row in (await http.get("/api/v1/handsets")).json()}
        finally:
            counter.cancel()
            await asyncio.gather(counter, return_exceptions=True)
            await roles.stop_all()
    assert len(heard) > 100  # the lecture's handsets
    assert board.rows == whole
    assert board.answers[0]["whole"]
    assert not any(a["whole"] for a in board.answers[1:])
    # Each answer after the first holds only what changed since the one before.
    assert max(len(a["rows"]) for a in board.answers[1:]) < len(whole)
    assert messages["handsets"] == 1  # the whole table at the bridge's start, retained
    assert messages["handset_changes"] >= 2  # the rest, as the lecture went on


async def test_the_board_in_the_bridges_own_process_shows_a_press_at_its_next_poll(
    tmp_path: Path,
) -> None:
    """The board reads the bridge's changes itself (none are published here in the test's
    time): each handset heard is on the board at the first poll after it."""
    handsets = make_handset_ids(12, "iclicker", seed=41)
    async with PtyEndpoint() as endpoint:
        settings = service_settings(
            tmp_path,
            receivers=[{"name": "rx1", "driver": "iskipper", "url": endpoint.url}],
            mqtt={"handsets_interval_ms": 60000},
        )
        async with running(settings) as svc:
            core = svc.service.core
            assert core is not None
            await svc.until(lambda: core.status["rx1"].online, "the receiver online")
            board = Board()
            await board.poll(svc.http)
            for handset in handsets:
                await stream_bytes(endpoint, encode_capture(handset, "B"))
                await svc.until(lambda h=handset: h in core.handsets, f"{handset} heard")
                await board.poll(svc.http)
                assert handset in board.rows, f"{handset} missing from the board"
                assert board.rows[handset]["presses"] == 1
            whole = {r["handset"]: r for r in (await svc.http.get("/api/v1/handsets")).json()}
    assert [a["whole"] for a in board.answers] == [True] + [False] * len(handsets)
    assert set(board.rows) == set(handsets)
    assert board.rows == {h: whole[h] for h in handsets}
