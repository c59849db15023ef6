"""Roster uploads at the API's edge: the organiser's file whole or not at all, and bad input
refused with a 4xx that says what is wrong."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.app import create_app
from tests.conftest import service_settings

GOOD = "\ufeffid;name;table;handset;municipality\r\np1;Åse;1;428071B3;Ishøj\r\n"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = service_settings(tmp_path, event={"roster_max_bytes": 2048, "roster_max_rows": 3})
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c,
    ):
        yield c


async def put(client: httpx.AsyncClient, body: str | bytes, kind: str) -> httpx.Response:
    content = body.encode("utf-8") if isinstance(body, str) else body
    return await client.put("/api/v1/participants", content=content, headers={"content-type": kind})


async def test_a_bad_upload_changes_nothing_and_says_where(client: httpx.AsyncClient) -> None:
    r = await put(client, GOOD, "text/csv")
    assert r.status_code == 200, r.text
    assert r.json()[0]["attributes"] == {"municipality": "Ishøj"}

    broken = GOOD + f"p2;Bo;1;XYZ;Ishøj\r\np3;Ib;{'9' * 25};;\r\n"
    r = await put(client, broken, "text/csv")
    assert r.status_code == 422
    problems = r.json()["problems"]
    assert problems[0].startswith("uploaded roster line 3, column D (handset): ")
    assert problems[1].startswith("uploaded roster line 4, column C (table): ")
    assert r.json()["detail"].startswith(problems[0])
    assert [p["id"] for p in (await client.get("/api/v1/participants")).json()] == ["p1"]

    r = await put(client, b"PK\x03\x04 broken", XLSX)
    assert r.status_code == 422
    assert "not a readable .xlsx" in r.json()["detail"]
    r = await put(client, GOOD, "application/json")
    assert r.status_code == 415
    r = await put(client, GOOD + "x" * 3000, "text/csv")
    assert r.status_code == 413
    assert "[event] roster_max_bytes" in r.json()["detail"]
    r = await put(client, "id\np1\np2\np3\np4\n", "text/csv")
    assert r.status_code == 413
    assert "[event] roster_max_rows" in r.json()["detail"]
    assert len((await client.get("/api/v1/participants")).json()) == 1
