"""Round commands over MQTT, answered with the transaction echoed (real Mosquitto)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from bridge.mqtt.link import parse_broker_url
from bridge.service import Service
from tests.conftest import service_settings

pytestmark = pytest.mark.mosquitto


async def test_commands_and_errors_over_mqtt(tmp_path: Path, mosquitto_url: str) -> None:
    settings = service_settings(tmp_path, mosquitto_url)
    address = parse_broker_url(mosquitto_url)
    topics = Service(settings).topics  # only for the names
    bridge = settings.bridge_id
    async with (
        Service(settings) as service,
        aiomqtt.Client(address.host, address.port, identifier="console") as client,
    ):
        await client.subscribe(f"{topics.base}/bridge/{bridge}/response/+", qos=1)

        async def ask(cmd: str, body: Any) -> dict[str, Any]:
            payload = body if isinstance(body, bytes) else json.dumps(body)
            await client.publish(topics.request(bridge, cmd), payload, qos=1)
            async with asyncio.timeout(10):
                async for message in client.messages:
                    if str(message.topic).endswith(f"/response/{cmd}"):
                        return json.loads(message.payload)  # type: ignore[arg-type,no-any-return]
            raise AssertionError("no answer")

        typo = await ask("open", {"round": "q9", "duration_s": 60})
        assert typo["status"] == "error"
        assert "neither a theme of the agenda nor a round created before" in typo["error"]
        created = await ask("create", {"round": "q1", "title": "First question"})
        assert created["data"]["status"] == "ready"
        opened = await ask("open", {"round": "q1", "duration_s": 60, "transaction": 7})
        assert opened["status"] == "ok"
        assert opened["transaction"] == 7
        assert opened["data"]["status"] == "open"
        assert service.controller is not None
        assert service.controller.get("q1").deadline is not None
        extended = await ask("extend", {"round": "q1", "seconds": 30, "transaction": "x"})
        assert extended["data"]["deadline"] == opened["data"]["deadline"] + 30
        closed = await ask("close", {"round": "q1"})
        assert closed["data"]["status"] == "closed"
        again = await ask("close", {"round": "q1", "transaction": 9})
        assert again == {
            "status": "error",
            "transaction": 9,
            "error": "round 'q1' is closed; only an open round closes",
        }
        bad = await ask("open", {"round": "q 2"})
        assert bad["status"] == "error"
        assert "round" in bad["error"]
        unknown = await ask("launch", {"round": "q1"})
        assert "unknown command" in unknown["error"]
        garbage = await ask("open", b"not json")
        assert garbage["status"] == "error"
