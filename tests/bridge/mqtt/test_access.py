"""Who may publish and read what, enforced by the embedded broker: managed Mosquitto (from the
files ``arsbridge broker-config`` writes too) and amqtt alike."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from arsbridge.cli import main
from bridge.mqtt.access import covers, load_credentials, role_grants, user_grants
from bridge.mqtt.broker import EmbeddedBroker, find_mosquitto
from tests.conftest import free_port

BASE = "acl"
WAIT_S = 10.0

SERVERS = [
    pytest.param(
        "mosquitto",
        marks=pytest.mark.skipif(find_mosquitto() is None, reason="needs the mosquitto binary"),
    ),
    "amqtt",
]


@pytest.fixture(params=SERVERS)
async def broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    grants = user_grants(BASE)
    passwords = load_credentials(tmp_path / "credentials.toml", grants)
    server = EmbeddedBroker(
        "127.0.0.1", free_port(), passwords=passwords, grants=grants, server=request.param
    )
    async with server:
        yield server


@contextlib.asynccontextmanager
async def client(
    broker: EmbeddedBroker, user: str | None, name: str
) -> AsyncIterator[aiomqtt.Client]:
    login = {} if user is None else {"username": user, "password": broker.passwords[user]}
    async with aiomqtt.Client(broker.host, broker.port, identifier=name, **login) as c:
        yield c


async def collect(c: aiomqtt.Client, until: str) -> list[tuple[str, bytes]]:
    """Messages on ``c`` up to and including the first on topic ``until``."""
    got: list[tuple[str, bytes]] = []
    async with asyncio.timeout(WAIT_S):
        async for message in c.messages:
            assert isinstance(message.payload, bytes)
            got.append((str(message.topic), message.payload))
            if str(message.topic) == until:
                return got
    raise AssertionError("unreachable")


def test_filters_cover_only_what_they_match() -> None:
    assert covers("a/+/votes", "a/rx1/votes")
    assert covers("a/+/votes", "a/+/votes")
    assert covers("a/#", "a/b/c")
    assert not covers("a/+/votes", "a/#")
    assert not covers("a/+/votes", "a/+/+")
    assert not covers("a/round/+/tally", "a/round/#")
    assert not covers("a/b", "a/b/c")
    grants = role_grants(BASE)
    # Nobody but the tally reads vote batches; only bridges publish them.
    readers = {
        r for r, g in grants.items() if any(covers(f, "acl/rx/x/votes") for f in g.subscribe)
    }
    writers = {r for r, g in grants.items() if any(covers(f, "acl/rx/x/votes") for f in g.publish)}
    assert readers == {"tally"}
    assert writers == {"bridge"}
    # Per-handset tables never reach displays or integrations.
    for role in ("display", "integration"):
        assert not any(covers(f, "acl/bridge/b1/handsets") for f in grants[role].subscribe)


async def test_anonymous_and_wrong_passwords_are_refused(broker: EmbeddedBroker) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with client(broker, None, "anonymous"):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            broker.host, broker.port, identifier="guess", username="tally", password="guess"
        ):
            pass


async def test_a_refused_client_with_a_connected_clients_id_changes_nothing(
    broker: EmbeddedBroker,
) -> None:
    topic = f"{BASE}/round/q1/tally"
    async with client(broker, "tally", "arsbridge-bridge1-tally-1234") as tally:
        await tally.subscribe(topic, qos=1)
        for login in ({}, {"username": "tally", "password": "guess"}):
            with pytest.raises(aiomqtt.MqttError):
                async with aiomqtt.Client(
                    broker.host, broker.port, identifier="arsbridge-bridge1-tally-1234", **login
                ):
                    pass
        async with client(broker, "tally", "publisher") as publisher:
            await publisher.publish(topic, b"still here", qos=1)
        got = await collect(tally, topic)
    assert got == [(topic, b"still here")]


async def test_each_role_gets_only_its_topics(broker: EmbeddedBroker) -> None:
    votes = f"{BASE}/rx/rx1/votes"
    state = f"{BASE}/round/q1/state"
    done = f"{BASE}/round/q1/tally"
    async with (
        client(broker, "tally", "tally-1") as tally,
        client(broker, "display", "display-1") as display,
        client(broker, "bridge", "bridge-1") as bridge,
        client(broker, "api", "api-1") as api,
    ):
        await tally.subscribe(f"{BASE}/rx/+/votes", qos=1)
        await tally.subscribe(f"{BASE}/round/+/state", qos=1)
        await display.subscribe(f"{BASE}/#", qos=1)  # asks for everything
        await display.subscribe(f"{BASE}/round/+/tally", qos=1)
        await display.subscribe(f"{BASE}/round/+/state", qos=1)
        # Forbidden: a display or the api writing votes or states it does not own.
        await display.publish(votes, b"forged-by-display", qos=1)
        await display.publish(state, b"forged-by-display", qos=1)
        await api.publish(votes, b"forged-by-api", qos=1)
        await bridge.publish(state, b"forged-by-bridge", qos=1)
        # Allowed, each followed by its own sentinel so that order tells what arrived.
        await bridge.publish(votes, b"batch", qos=1)
        await api.publish(state, b"open", qos=1)
        got_tally = await collect(tally, state)
        if (votes, b"batch") not in got_tally:
            got_tally += await collect(tally, votes)
        async with client(broker, "tally", "tally-2") as tally2:
            await tally2.publish(done, b"tally", qos=1)
        got_display = await collect(display, done)
    assert sorted(got_tally) == sorted([(votes, b"batch"), (state, b"open")])
    assert votes not in {t for t, _ in got_display}
    assert (state, b"open") in got_display
    assert not any(p.startswith(b"forged") for _, p in got_display)


async def test_retained_messages_only_for_the_clients_own_subscriptions(
    broker: EmbeddedBroker,
) -> None:
    one = f"{BASE}/round/one/results"
    two = f"{BASE}/round/two/results"
    async with client(broker, "tally", "tally-r") as tally:
        await tally.publish(one, b"results-one", qos=1, retain=True)
        await tally.publish(two, b"results-two", qos=1, retain=True)
    async with client(broker, "display", "display-a") as a:
        await a.subscribe(one, qos=1)  # a subscription another client holds
        async with client(broker, "display", "display-b") as b:
            await b.subscribe(two, qos=1)
            got = await collect(b, two)
    assert got == [(two, b"results-two")]


async def test_broker_config_writes_files_mosquitto_takes(tmp_path: Path) -> None:
    mosquitto = find_mosquitto()
    if mosquitto is None:
        pytest.skip("needs the mosquitto binary")
    config = tmp_path / "arsbridge.toml"
    creds = tmp_path / "creds.toml"
    config.write_text(f'[mqtt]\nbase = "{BASE}"\n[broker]\ncredentials = "{creds}"\n')
    out = tmp_path / "mosq"
    assert (
        await asyncio.to_thread(main, ["broker-config", "--config", str(config), "--out", str(out)])
        == 0
    )
    passwords = load_credentials(creds, [])
    port = free_port()
    conf = (
        (out / "mosquitto.conf").read_text().replace("listener 1883", f"listener {port} 127.0.0.1")
    )
    (out / "mosquitto.conf").write_text(conf + "user root\npersistence false\n")
    proc = await asyncio.create_subprocess_exec(
        mosquitto,
        "-c",
        str(out / "mosquitto.conf"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(WAIT_S):
            while True:
                try:
                    _, w = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                w.close()
                break
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", port, identifier="anon"):
                pass
        login = {"username": "integration", "password": passwords["integration"]}
        async with aiomqtt.Client("127.0.0.1", port, identifier="int", **login) as reader:
            await reader.subscribe(f"{BASE}/#", qos=1)
            bridge = {"username": "bridge", "password": passwords["bridge"]}
            async with aiomqtt.Client("127.0.0.1", port, identifier="b", **bridge) as b:
                await b.publish(f"{BASE}/rx/rx1/votes", b"batch", qos=1)
                await b.publish(f"{BASE}/bridge/b1/state", json.dumps({"state": "online"}), qos=1)
            got = await collect(reader, f"{BASE}/bridge/b1/state")
        assert [t for t, _ in got] == [f"{BASE}/bridge/b1/state"]
    finally:
        proc.terminate()
        await proc.wait()
