"""The round endpoints against a running service (embedded broker), without receivers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.app import create_app
from tests.conftest import service_settings


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service_settings(tmp_path))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c,
    ):
        yield c


async def test_health_reports_the_broker_link(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["mqtt"]["connected"] is True
    assert body["mqtt"]["embedded"] is True
    assert body["roles"] == ["api", "bridge", "tally"]


async def test_open_close_and_tally_of_an_empty_round(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/rounds/q1/open", json={"title": "Which first?"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open"
    r = await client.get("/api/v1/rounds/q1/tally")
    assert r.status_code == 200
    assert r.json()["voters"] == 0
    assert r.json()["counts"] == {"A": 0, "B": 0, "C": 0, "D": 0, "E": 0}
    r = await client.post("/api/v1/rounds/q1/close")
    assert r.json()["status"] == "closed"
    for _ in range(100):
        tally = (await client.get("/api/v1/rounds/q1/tally")).json()
        if tally["final"]:
            break
        await asyncio.sleep(0.02)
    assert tally["final"] is True
    assert tally["status"] == "closed"


async def test_bad_requests_say_what_is_wrong(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/rounds/q1/close")
    assert r.status_code == 404
    assert "q1" in r.json()["detail"]
    r = await client.post("/api/v1/rounds/bad%20id/open")
    assert r.status_code == 422
    r = await client.post("/api/v1/rounds/q1/open", json={"duration_s": -5})
    assert r.status_code == 422
    assert "duration_s" in r.text
    r = await client.post("/api/v1/rounds/q1/open", json={"colour": "red"})
    assert r.status_code == 422
    assert "colour" in r.text
    assert (await client.post("/api/v1/rounds/q1/open", json={"title": "Q1"})).status_code == 200
    r = await client.post("/api/v1/rounds/q2/open", json={"title": "Q2"})
    assert r.status_code == 409
    assert "q1" in r.json()["detail"]
    r = await client.get("/api/v1/rounds/nope/tally")
    assert r.status_code == 404


async def wait_final(client: httpx.AsyncClient, round_id: str) -> dict[str, object]:
    for _ in range(200):
        tally: dict[str, object] = (await client.get(f"/api/v1/rounds/{round_id}/tally")).json()
        if tally["final"]:
            return tally
        await asyncio.sleep(0.02)
    raise AssertionError("no final tally")


async def test_results_after_close_are_hidden_while_voting(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/rounds/q1/open", json={"visibility": "after_close"})
    tally = (await client.get("/api/v1/rounds/q1/tally")).json()
    assert tally["hidden"] is True
    assert "counts" not in tally
    assert (await client.get("/api/v1/rounds/q1/results")).status_code == 409
    await client.post("/api/v1/rounds/q1/close")
    tally = await wait_final(client, "q1")
    assert "counts" in tally
    assert (await client.get("/api/v1/rounds/q1/results")).status_code == 200


async def test_hidden_results_wait_for_the_host_to_reveal_them(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/rounds/q1/open", json={"visibility": "hidden"})
    await client.post("/api/v1/rounds/q1/close")
    tally = await wait_final(client, "q1")
    assert tally["hidden"] is True
    r = await client.get("/api/v1/rounds/q1/results")
    assert r.status_code == 403
    assert "reveal" in r.json()["detail"]
    assert (
        await client.get("/api/v1/rounds/q1/results", params={"policy": "first"})
    ).status_code == 403
    assert (await client.post("/api/v1/rounds/q1/reveal")).json()["revealed"] is True
    for _ in range(200):
        tally = (await client.get("/api/v1/rounds/q1/tally")).json()
        if "counts" in tally:
            break
        await asyncio.sleep(0.02)
    assert "counts" in tally
    assert (await client.get("/api/v1/rounds/q1/results")).status_code == 200


async def test_with_a_token_changes_and_personal_data_need_it(tmp_path: Path) -> None:
    app = create_app(service_settings(tmp_path, api={"token": "s3cret-token"}))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c,
    ):
        refused = await c.post("/api/v1/rounds/q1/open", json={"title": "Q1"})
        assert refused.status_code == 401
        assert "token" in refused.json()["detail"]
        assert (
            await c.post(
                "/api/v1/rounds/q1/open",
                json={"title": "Q1"},
                headers={"authorization": "Bearer wrong-token"},
            )
        ).status_code == 401
        opened = await c.post(
            "/api/v1/rounds/q1/open",
            json={"title": "Q1"},
            headers={"authorization": "Bearer s3cret-token"},
        )
        assert opened.status_code == 200
        # The hall display reads without a secret; people and presses need it.
        assert (await c.get("/api/v1/rounds/q1/tally")).status_code == 200
        assert (await c.get("/api/v1/health")).status_code == 200
        assert (await c.get("/api/v1/handsets")).status_code == 401
        assert (await c.get("/api/v1/rounds/q1/votes.csv")).status_code == 401
        for personal in ("/api/v1/audit", "/api/v1/audit.csv", "/api/v1/pairings.csv"):
            assert (await c.get(personal)).status_code == 401, personal
        audit = await c.get("/api/v1/audit", headers={"authorization": "Bearer s3cret-token"})
        assert [e["action"] for e in audit.json()] == ["create", "open"]
        assert (
            await c.get("/api/v1/rounds/q1/votes.csv", params={"token": "s3cret-token"})
        ).status_code == 200


AGENDA = {
    "title": "Vestegn summit",
    "themes": [
        {
            "id": "infrastructure",
            "title": "Infrastructure",
            "question": {
                "text": "Which first?",
                "options": [{"key": "A", "label": "Rail"}, {"key": "B", "label": "Road"}],
            },
        }
    ],
}


async def test_rounds_exist_for_agenda_themes_or_when_created(client: httpx.AsyncClient) -> None:
    # No agenda yet: a mistyped ID is refused, and nothing is created.
    r = await client.post("/api/v1/rounds/infrastucture/open")
    assert r.status_code == 404
    assert "no agenda is loaded" in r.json()["detail"]
    assert (await client.put("/api/v1/agenda", json=AGENDA)).status_code == 200
    r = await client.post("/api/v1/rounds/infrastucture/open")
    assert r.status_code == 404
    assert "the agenda's themes are infrastructure" in r.json()["detail"]
    r = await client.post("/api/v1/rounds/infrastucture/phase", json={"phase": "presentation"})
    assert r.status_code == 404
    assert (await client.get("/api/v1/rounds")).json() == []
    # Close or extend of a theme that has not started says so, not "does not exist".
    for command, body in (("close", None), ("extend", {"seconds": 30})):
        r = await client.post(f"/api/v1/rounds/infrastructure/{command}", json=body)
        assert r.status_code == 409
        assert "'infrastructure' (Infrastructure) has not started yet" in r.json()["detail"]
    # A round of no theme is created explicitly, and deleted again while it holds nothing.
    created = await client.post("/api/v1/rounds/warmup", json={"title": "Test round"})
    assert created.status_code == 200
    assert (await client.delete("/api/v1/rounds/warmup")).status_code == 204
    assert (await client.get("/api/v1/rounds/warmup")).status_code == 404
    assert (await client.delete("/api/v1/rounds/warmup")).status_code == 404
    # A theme's round opens by its ID alone; once voted on it cannot be deleted.
    assert (await client.post("/api/v1/rounds/infrastructure/open")).status_code == 200
    await client.post("/api/v1/rounds/infrastructure/close")
    r = await client.delete("/api/v1/rounds/infrastructure")
    assert r.status_code == 409
    assert "stays in the record" in r.json()["detail"]
    # The same refusals in Danish, when the request asks for it.
    r = await client.post("/api/v1/rounds/infrastructure/close", params={"lang": "da"})
    assert r.json()["detail"] == ("runden 'infrastructure' er lukket; kun en åben runde kan lukkes")
    r = await client.post("/api/v1/rounds/infrastucture/open", params={"lang": "da"})
    assert r.json()["detail"].startswith("runden 'infrastucture' er hverken et tema i programmet")
    assert [s["round"] for s in (await client.get("/api/v1/rounds")).json()] == ["infrastructure"]
