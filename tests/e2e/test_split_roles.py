"""The roles in separate processes on Mosquitto: the tally is killed with SIGKILL mid-round and
started again, several times, and the results are still exactly the recorded lecture's.

The bridge keeps every press until the tally says it holds it durably, and sends again what it
has not acknowledged; the tally counts each press of each bridge once."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import httpx

from arsbridge.cli import main as cli_main
from bridge.mqtt.access import load_credentials
from bridge.mqtt.link import parse_broker_url
from bridge.tally.replay import replay
from firmware_sim.link import PtyEndpoint
from firmware_sim.receiver import stream_bytes
from tests.brokers import Mosquitto
from tests.conftest import free_port

WAIT_S = 60.0
PUBLISHED = {"voters": 147, "counts": {"A": 15, "B": 118, "C": 8, "D": 6, "E": 0}}
ROLES = {"bridge": "bridge", "tally": "tally", "standby": "tally", "api": "api"}


def pieces(data: bytes, n: int) -> list[bytes]:
    """``data`` cut into ``n`` pieces at the start of ``Captured`` lines."""
    cuts = [0]
    for i in range(1, n):
        cuts.append(data.index(b"Captured", len(data) * i // n))
    cuts.append(len(data))
    return [data[a:b] for a, b in itertools.pairwise(cuts)]


class Roles:
    """One ``arsbridge`` process per role, each with its own config and journal file."""

    def __init__(
        self,
        tmp_path: Path,
        broker: str,
        receiver_url: str,
        *,
        base: str | None = None,
        passwords: dict[str, str] | None = None,
        mqtt: str = "",
    ) -> None:
        self.tmp = tmp_path
        self.base = base or f"arstest-{os.getpid()}-{free_port()}"
        self.api_port = free_port()
        common = f'bridge_id = "venue1"\n[mqtt]\nurl = "{broker}"\nbase = "{self.base}"\n'
        common += "batch_interval_ms = 10\nresend_after_s = 1.0\nresend_max_s = 2.0\n" + mqtt
        rest = "[rounds]\ngrace_s = 0.3\n[supervisor]\nbackoff_min_s = 0.05\n"
        for name, role in ROLES.items():
            text = common
            if passwords is not None:  # each process logs in as its role's user
                text += f'username = "{role}"\npassword = "{passwords[role]}"\n'
            text += rest + f'[journal]\npath = "{tmp_path / name}.sqlite3"\n'
            if name == "standby":
                text += "[tally]\nstandby = true\nrenew_s = 0.2\nlease_s = 2.0\n"
            elif role == "tally":
                text += "[tally]\nrenew_s = 0.2\nlease_s = 2.0\n"
            if role == "api":
                text += f"[api]\nport = {self.api_port}\n"
            if role == "bridge":
                text += (
                    f'[[receivers]]\nname = "rx1"\ndriver = "iskipper"\nurl = "{receiver_url}"\n'
                )
            (tmp_path / f"{name}.toml").write_text(text)
        self.procs: dict[str, asyncio.subprocess.Process] = {}

    async def start(self, name: str) -> None:
        self.procs[name] = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "arsbridge.cli",
            ROLES[name],
            "--config",
            str(self.tmp / f"{name}.toml"),
            cwd=self.tmp,
            env=os.environ,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=(self.tmp / f"{name}.log").open("ab"),
        )

    async def kill(self, role: str) -> None:
        proc = self.procs.pop(role)
        proc.send_signal(signal.SIGKILL)  # no shutdown, no flush, no goodbye
        await proc.wait()

    async def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 30)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    def bridge_journal(self) -> tuple[int, dict[str, int]]:
        """The bridge's highest record id and its decisions, read from its journal file."""
        db = sqlite3.connect(self.tmp / "bridge.sqlite3")
        try:
            (last,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM presses").fetchone()
            rows = db.execute("SELECT decision, COUNT(*) FROM presses GROUP BY decision")
            return int(last), {str(d): int(n) for d, n in rows}
        finally:
            db.close()

    def resends(self) -> int:
        """How many times the bridge sent unacknowledged records again (its log says so)."""
        return (self.tmp / "bridge.log").read_text().count("again (")

    def tally_record(self, name: str = "tally") -> int:
        db = sqlite3.connect(self.tmp / f"{name}.sqlite3")
        try:
            (n,) = db.execute("SELECT COUNT(*) FROM tally_presses").fetchone()
            return int(n)
        finally:
            db.close()


@contextlib.asynccontextmanager
async def watching(
    broker: str, topic: str, login: tuple[str, str] | None = None
) -> AsyncIterator[dict[str, Any]]:
    """The latest JSON document on ``topic``, kept up to date while the block runs; ``login``
    is a user and password where the broker asks for one."""
    address = parse_broker_url(broker)
    latest: dict[str, Any] = {}
    auth = {} if login is None else {"username": login[0], "password": login[1]}

    async def follow() -> None:
        async with aiomqtt.Client(
            address.host, address.port, identifier=f"watch-{topic}", **auth
        ) as c:
            await c.subscribe(topic, qos=1)
            async for message in c.messages:
                latest.clear()
                latest.update(json.loads(message.payload))  # type: ignore[arg-type]

    task = asyncio.create_task(follow())
    try:
        yield latest
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(condition: Any, what: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110 - polling state of other processes
            await asyncio.sleep(0.05)
    assert condition(), what


async def test_the_tally_killed_mid_round_again_and_again_loses_nothing(
    tmp_path: Path, captures: Path, mosquitto_url: str
) -> None:
    data = (captures / "iskipper-2017-04-13" / "2017-04-13-q2.txt").read_bytes()
    presses = replay("iskipper", data).presses
    async with PtyEndpoint() as endpoint:
        roles = Roles(tmp_path, mosquitto_url, endpoint.url)
        acked_topic = f"{roles.base}/bridge/venue1/acked"
        try:
            async with (
                watching(mosquitto_url, acked_topic) as acked,
                watching(mosquitto_url, f"{roles.base}/rx/rx1/availability") as receiver,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{roles.api_port}", timeout=5) as http,
            ):
                for role in ("api", "tally", "bridge"):
                    await roles.start(role)
                await until_up(http)
                await open_round(http, "q2")
                await until(lambda: receiver.get("state") == "online", "the bridge reading")
                for n, piece in enumerate(pieces(data, 4)):
                    if n:
                        await roles.kill("tally")
                    # The bridge journals and sends this piece while no tally listens.
                    await stream_bytes(endpoint, piece[: len(piece) // 2], speed=50)
                    if n:
                        await roles.start("tally")
                    await stream_bytes(endpoint, piece[len(piece) // 2 :], speed=50)
                await until(lambda: sum(roles.bridge_journal()[1].values()) == presses, "journaled")
                last, decisions = roles.bridge_journal()
                await until(lambda: acked.get("upto") == last, "the tally holds every press")
                results = await close_round(http, "q2")
                held = roles.tally_record()
                resent = roles.resends()
        finally:
            await roles.stop_all()
    print(
        f"journaled {sum(decisions.values())}, duplicates {decisions.get('duplicate', 0)}, "
        f"sent {sum(decisions.values()) - decisions.get('duplicate', 0)}, resent {resent} "
        f"times, held by the tally {held}, counted {results['voters']} voters"
    )
    assert held == sum(decisions.values()) - decisions.get("duplicate", 0)
    assert results["voters"] == PUBLISHED["voters"]
    assert results["counts"] == PUBLISHED["counts"]


async def open_round(http: httpx.AsyncClient, round_id: str) -> None:
    r = await http.post(f"/api/v1/rounds/{round_id}/open", json={"title": "A vote", "timer": False})
    assert r.status_code == 200, r.text


async def close_round(http: httpx.AsyncClient, round_id: str) -> dict[str, Any]:
    """Close the round; its results once the tally has published them."""
    r = await http.post(f"/api/v1/rounds/{round_id}/close")
    assert r.status_code == 200, r.text
    async with asyncio.timeout(WAIT_S):
        while (r := await http.get(f"/api/v1/rounds/{round_id}/results")).status_code != 200:  # noqa: ASYNC110 - polling a process over HTTP
            await asyncio.sleep(0.05)
    doc: dict[str, Any] = r.json()
    return doc


async def until_up(http: httpx.AsyncClient) -> None:
    async with asyncio.timeout(WAIT_S):
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/api/v1/health")).status_code == 200:
                    return
            await asyncio.sleep(0.05)


async def test_a_standby_tally_takes_over_when_the_active_one_dies(
    tmp_path: Path, captures: Path, mosquitto_url: str
) -> None:
    data = (captures / "iskipper-2017-04-13" / "2017-04-13-q3.txt").read_bytes()
    presses = replay("iskipper", data).presses
    first, second = pieces(data, 2)
    async with PtyEndpoint() as endpoint:
        roles = Roles(tmp_path, mosquitto_url, endpoint.url)
        try:
            async with (
                watching(mosquitto_url, f"{roles.base}/tally/state") as lease,
                watching(mosquitto_url, f"{roles.base}/bridge/venue1/acked") as acked,
                watching(mosquitto_url, f"{roles.base}/rx/rx1/availability") as receiver,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{roles.api_port}", timeout=5) as http,
            ):
                for name in ("api", "tally", "bridge"):
                    await roles.start(name)
                await until_up(http)
                await until(lambda: lease.get("state") == "active", "an active tally")
                active = lease["tally"]
                await roles.start("standby")  # it stands by: the active tally renews its lease
                await open_round(http, "q3")
                await until(lambda: receiver.get("state") == "online", "the bridge reading")
                await stream_bytes(endpoint, first, speed=50)
                await roles.kill("tally")
                killed = asyncio.get_running_loop().time()
                await until(lambda: lease.get("tally") not in (None, active), "a takeover")
                takeover_s = asyncio.get_running_loop().time() - killed
                await stream_bytes(endpoint, second, speed=50)
                await until(lambda: sum(roles.bridge_journal()[1].values()) == presses, "journaled")
                last, decisions = roles.bridge_journal()
                await until(lambda: acked.get("upto") == last, "the new tally holds every press")
                assert acked["tally"] == lease["tally"]
                results = await close_round(http, "q3")
                held = roles.tally_record("standby")
                resent = roles.resends()
        finally:
            await roles.stop_all()
    print(
        f"takeover after {takeover_s:.2f} s; journaled {sum(decisions.values())}, duplicates "
        f"{decisions.get('duplicate', 0)}, resent {resent} times, held by the new tally {held}, "
        f"counted {results['voters']} voters"
    )
    assert results["epoch"] == lease["epoch"]
    assert results["voters"] == 150
    assert results["counts"] == {"A": 17, "B": 2, "C": 9, "D": 119, "E": 3}


async def test_split_roles_on_a_mosquitto_with_the_generated_users_and_acls(
    tmp_path: Path, captures: Path
) -> None:
    """The deployment docs/operations.md describes: ``arsbridge broker-config`` writes
    Mosquitto's password and ACL files, each process logs in as its role. The round runs
    whole, a display user reads the live tally, and forgeries by anonymous clients and by
    valid users outside their grants are refused by the broker before the service sees them."""
    data = (captures / "iskipper-2017-04-13" / "2017-04-13-q2.txt").read_bytes()
    presses = replay("iskipper", data).presses
    base = f"arstest-{os.getpid()}-{free_port()}"
    creds, out = tmp_path / "credentials.toml", tmp_path / "mosquitto"
    event = tmp_path / "event.toml"
    event.write_text(f'[mqtt]\nbase = "{base}"\n[broker]\ncredentials = "{creds}"\n')
    command = ["broker-config", "--config", str(event), "--out", str(out)]
    assert await asyncio.to_thread(cli_main, command) == 0
    passwords = load_credentials(creds, [])
    conf = (out / "mosquitto.conf").read_text()
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(tmp_path / "broker")
    listener = f"listener {broker.port} 127.0.0.1"
    broker.conf.write_text(conf.replace("listener 1883", listener) + broker_extras())
    await broker.start_async()
    url = broker.url
    login = {user: (user, passwords[user]) for user in ("bridge", "display", "integration")}
    try:
        async with PtyEndpoint() as endpoint:
            roles = Roles(tmp_path, url, endpoint.url, base=base, passwords=passwords)
            try:
                async with (
                    watching(url, f"{base}/bridge/venue1/acked", login["bridge"]) as acked,
                    watching(url, f"{base}/round/q2/tally", login["display"]) as tally,
                    watching(url, f"{base}/round/q2/state", login["display"]) as state,
                    watching(url, f"{base}/rx/rx1/availability", login["integration"]) as receiver,
                    httpx.AsyncClient(
                        base_url=f"http://127.0.0.1:{roles.api_port}", timeout=5
                    ) as http,
                ):
                    for role in ("api", "tally", "bridge"):
                        await roles.start(role)
                    await until_up(http)
                    await open_round(http, "q2")
                    await until(lambda: state.get("status") == "open", "the display sees it open")
                    await until(lambda: receiver.get("state") == "online", "the bridge reading")
                    first, second = pieces(data, 2)
                    await stream_bytes(endpoint, first, speed=50)
                    await forge(url, base, passwords)
                    await stream_bytes(endpoint, second, speed=50)
                    await until(
                        lambda: sum(roles.bridge_journal()[1].values()) == presses, "journaled"
                    )
                    last, decisions = roles.bridge_journal()
                    await until(lambda: acked.get("upto") == last, "the tally holds every press")
                    await until(lambda: tally.get("voters") == PUBLISHED["voters"], "live tally")
                    health = (await http.get("/api/v1/health")).json()
                    results = await close_round(http, "q2")
            finally:
                await roles.stop_all()
    finally:
        await broker.stop_async()
    log = broker.log.read_text(errors="replace")
    denied = [line for line in log.splitlines() if "Denied PUBLISH from forger-" in line]
    print(
        f"journaled {sum(decisions.values())}, counted {results['voters']} voters; "
        f"anonymous allowed: {health['mqtt']['anonymous_allowed']}, "
        f"bus rejected {health['bus']['rejected']}, denied by the broker {len(denied)}"
    )
    assert health["mqtt"]["connected"] is True
    assert health["mqtt"]["anonymous_allowed"] is False
    assert health["bus"]["rejected"] == 0  # the broker refused every forgery itself
    assert len(denied) == 5, denied
    assert results["voters"] == PUBLISHED["voters"]
    assert results["counts"] == PUBLISHED["counts"]


def broker_extras() -> str:
    """What a test's Mosquitto adds to the generated config: no store, and (run as root) no
    switch to a user that cannot read the folder."""
    return "persistence false\nlog_type all\n" + ("user root\n" if os.geteuid() == 0 else "")


async def forge(url: str, base: str, passwords: dict[str, str]) -> None:
    """Forgeries mid-round: an anonymous client is refused at the door; a display and a bridge
    with valid passwords publish outside their grants, and Mosquitto drops what they send."""
    address = parse_broker_url(url)
    with contextlib.suppress(aiomqtt.MqttError):
        async with aiomqtt.Client(address.host, address.port, identifier="anonymous") as anon:
            await anon.publish(f"{base}/round/q2/state", b'{"state":"closed"}', qos=1)
            raise AssertionError("an anonymous client got in")
    closed = json.dumps({"round": "q2", "state": "closed", "revision": 1_000_000})
    forged_batch = json.dumps({"bridge": "venue1", "batch": 1, "presses": [[1, "X", "A"]]})
    for user, topic, payload in (
        ("display", f"{base}/rx/rx1/votes", forged_batch),
        ("display", f"{base}/round/q2/state", closed),
        ("bridge", f"{base}/round/q2/state", closed),
        ("bridge", f"{base}/round/q2/results", json.dumps({"voters": 1})),
        ("bridge", f"{base}/bridge/venue1/request/close", json.dumps({"round": "q2"})),
    ):
        login = {"username": user, "password": passwords[user]}
        async with aiomqtt.Client(
            address.host, address.port, identifier=f"forger-{user}", **login
        ) as forger:
            await forger.publish(topic, payload, qos=1)
