"""A running service under test: the real app, its lifespan, an HTTP client and MQTT."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiomqtt
import httpx
from asgi_lifespan import LifespanManager

from api.app import create_app
from api.server import server_config
from bridge.mqtt.access import credentials_path, load_credentials
from bridge.mqtt.link import parse_broker_url
from bridge.service import Service
from bridge.settings import Settings
from drivers.base import Receiver

WAIT_S = 30.0  # the longest any condition in an end-to-end test may take to come true


@dataclass(slots=True)
class Running:
    settings: Settings
    service: Service
    http: httpx.AsyncClient

    @property
    def broker(self) -> tuple[str, int]:
        if self.settings.mqtt.url == "embedded":
            return self.settings.broker.host, self.settings.broker.port
        address = parse_broker_url(self.settings.mqtt.url)
        return address.host, address.port

    def login(self, role: str) -> dict[str, str]:
        """aiomqtt's ``username`` and ``password`` for ``role`` on the embedded broker (the
        service made them); none on a broker of the test's own."""
        if self.settings.mqtt.url != "embedded":
            return {}
        return {
            "username": role,
            "password": load_credentials(credentials_path(self.settings), [role])[role],
        }

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Wait until ``condition`` holds; fail naming ``what`` after :data:`WAIT_S`."""
        async with asyncio.timeout(WAIT_S):
            while not condition():  # noqa: ASYNC110 - polling a state the service exposes
                await asyncio.sleep(0.02)
        assert condition(), what

    async def delivered(self) -> None:
        """Wait until every press journaled so far is held durably by the tally (the bridge's
        acknowledged mark has caught up with its journal)."""
        journal, publisher = self.service.journal, self.service.publisher
        assert journal is not None
        assert publisher is not None
        await journal.flush()
        await self.until(
            lambda: (
                journal.pending == 0
                and publisher.backlog == 0
                and journal.published >= journal.last_id
            ),
            "every journaled press acknowledged by the tally",
        )

    async def retained(
        self, topic: str, accept: Callable[[dict[str, Any]], bool], role: str = "display"
    ) -> dict[str, Any]:
        """The first message on ``topic`` (retained or live) that ``accept`` takes, read as
        the broker user ``role``."""
        host, port = self.broker
        login = self.login(role)
        async with aiomqtt.Client(host, port, identifier=f"watch-{id(self)}", **login) as client:
            await client.subscribe(topic, qos=1)
            async with asyncio.timeout(WAIT_S):
                async for message in client.messages:
                    body = json.loads(message.payload)  # type: ignore[arg-type]
                    if accept(body):
                        return body  # type: ignore[no-any-return]
        raise AssertionError(f"no accepted message on {topic}")


@contextlib.asynccontextmanager
async def running(settings: Settings, receivers: Sequence[Receiver] = ()) -> AsyncIterator[Running]:
    """The API app with its lifespan (which starts the whole service) and an HTTP client;
    ``receivers`` are built by the test (on an emulated USB backend, say)."""
    app = create_app(settings, service=Service(settings, receivers=receivers))
    async with (
        LifespanManager(app, startup_timeout=30, shutdown_timeout=30),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        yield Running(settings, app.state.service, http)


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, receivers: Sequence[Receiver] = ()
) -> AsyncIterator[tuple[str, Service]]:
    """The app under a real uvicorn server on a free port: ``(base URL, service)``."""
    import uvicorn

    from tests.conftest import free_port

    port = free_port()
    service = Service(settings, receivers=receivers)
    app = create_app(settings, service=service)
    server = uvicorn.Server(
        server_config(
            app,
            settings,
            host="127.0.0.1",
            port=port,
            log_config=None,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
    )
    task = asyncio.create_task(server.serve(), name="uvicorn")
    try:
        async with asyncio.timeout(WAIT_S):
            while not server.started:
                if task.done():
                    await task
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}", service
    finally:
        server.should_exit = True
        await task
