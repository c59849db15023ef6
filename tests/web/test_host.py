"""The host console runs a theme by clicks, and the API's round state follows each one; a
command that does not fit the round shows the API's own words."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.web.hall import Hall, eventually, hall

ROUND = "/api/v1/rounds/infrastructure"


async def round_state(h: Hall, path: str = ROUND) -> dict[str, Any]:
    """The round's state; empty while it does not exist yet (the console's command that
    creates it may still be on its way when the test first looks)."""
    r = await h.http.get(path)
    if r.status_code == 404:
        return {}
    assert r.status_code == 200, r.text
    state: dict[str, Any] = r.json()
    return state


async def round_where(h: Hall, want: dict[str, Any], what: str) -> dict[str, Any]:
    """The round's state once every field in ``want`` has that value."""
    state: dict[str, Any] = await eventually(
        lambda: round_state(h), lambda s: all(s.get(k) == v for k, v in want.items()), what
    )
    return state


@pytest.mark.browser
async def test_the_host_runs_a_theme(tmp_path: Path, browser: Browser) -> None:
    async with hall(tmp_path, families=()) as h:
        page = await h.page(browser, "/host", 1400, 1000)
        agenda = await h.get("/api/v1/agenda")
        items = page.locator("#agenda li[data-theme]")
        await expect(items).to_have_count(len(agenda["themes"]))
        await expect(page.locator("#agenda .break")).to_have_count(len(agenda["breaks"]))
        await page.locator('#agenda li[data-theme="infrastructure"] button').click()
        await expect(page.locator("#theme-title")).to_have_text("Infrastructure and mobility")
        await expect(page.locator("#duration")).to_have_value("180")  # the planned 3 minutes

        await page.click("#btn-presentation")
        await round_where(h, {"phase": "presentation", "status": "ready"}, "presentation")
        await expect(page.locator("#round-status")).to_have_text("presentation")
        await page.click("#btn-discussion")
        await round_where(h, {"phase": "discussion"}, "discussion")
        await expect(page.locator("#countdown")).to_have_attribute("data-mode", "planned")

        await page.click("#btn-open")
        state = await round_where(h, {"status": "open", "phase": "voting"}, "voting open")
        assert state["deadline"] - state["windows"][0]["start"] == 180
        await expect(page.locator("#countdown")).to_have_attribute("data-mode", "voting")
        await page.click("#btn-extend")
        await round_where(h, {"deadline": state["deadline"] + 30}, "extended by 30 s")

        await page.click("#btn-pause")
        await round_where(h, {"status": "paused"}, "paused")
        await expect(page.locator("#countdown")).to_have_text("paused")
        await expect(page.locator("#btn-pause")).to_have_text("Resume")
        await page.click("#btn-pause")
        await round_where(h, {"status": "open"}, "resumed")

        # Closing early asks first; "keep voting open" keeps it open.
        await page.click("#btn-close")
        dialog = page.locator("#confirm")
        await expect(dialog).to_be_visible()
        await expect(page.locator("#confirm-text")).to_contain_text("left on the timer")
        await dialog.get_by_role("button", name="Keep voting open").click()
        await expect(dialog).to_be_hidden()
        assert (await h.get(ROUND))["status"] == "open"
        await page.click("#btn-close")
        await page.click("#confirm-ok")
        await round_where(h, {"status": "closed", "phase": "results"}, "closed")
        await expect(page.locator("#agenda li[data-theme=infrastructure] .badge")).to_have_text(
            re.compile("voting closed|final results")
        )

        # A command that does not fit: the API refuses, and the console says what it said.
        await page.click("#btn-close")  # closed already: nothing left to confirm
        refusal = await h.http.post(f"{ROUND}/close")
        assert refusal.status_code == 409
        await expect(page.locator("#error")).to_be_visible()
        await expect(page.locator("#error")).to_have_text(refusal.json()["detail"])
        await page.click("#btn-open")
        await expect(page.locator("#error")).to_have_text(
            "round 'infrastructure' is closed; only a ready round opens"
        )

        links = page.locator("#links a")
        assert [await a.get_attribute("href") for a in await links.all()] == [
            f"{ROUND}/results",
            f"{ROUND}/results.csv",
            f"{ROUND}/votes.csv",
            f"{ROUND}/report.html",
        ]

        # A re-vote becomes the theme's round on the console.
        await page.click("#btn-revote")
        await expect(page.locator("#theme-meta")).to_contain_text("round infrastructure-2")
        revote = await h.get("/api/v1/rounds/infrastructure-2")
        assert revote["status"] == "ready"
        assert revote["attempt"] == 2
        await expect(page.locator("#error")).to_be_hidden()


@pytest.mark.browser
async def test_the_host_reveals_hidden_results(tmp_path: Path, browser: Browser) -> None:
    async with hall(tmp_path, families=()) as h:
        theme = next(
            t for t in (await h.get("/api/v1/agenda"))["themes"] if t["id"] == "business-areas"
        )
        r = await h.http.put(
            "/api/v1/agenda/themes/business-areas", json={**theme, "visibility": "hidden"}
        )
        assert r.status_code == 200, r.text
        page = await h.page(browser, "/host", 1400, 1000)
        await page.locator('#agenda li[data-theme="business-areas"] button').click()
        await expect(page.locator("#btn-reveal")).to_be_hidden()  # nothing ran yet
        await page.fill("#duration", "60")
        await page.click("#btn-open")
        state = await eventually(
            lambda: round_state(h, "/api/v1/rounds/business-areas"),
            lambda s: s.get("status") == "open",
            "voting open",
        )
        assert state["deadline"] - state["windows"][0]["start"] == 60
        await expect(page.locator("#hidden")).to_be_visible()
        await page.click("#btn-close")
        await page.click("#confirm-ok")
        await expect(page.locator("#round-status")).to_have_text("closed · results hidden")
        await page.click("#btn-reveal")
        await eventually(
            lambda: round_state(h, "/api/v1/rounds/business-areas"),
            lambda s: s.get("revealed") is True,
            "revealed",
        )
        await expect(page.locator("#btn-reveal")).to_have_text("Hide results")
        await expect(page.locator("#hidden")).to_be_hidden()


@pytest.mark.browser
async def test_with_an_api_token_the_console_needs_it(tmp_path: Path, browser: Browser) -> None:
    async with hall(tmp_path, families=(), token="hall-secret-7") as h:
        page = await h.page(browser, "/host", 1400, 1000)  # no token: refused, and said so
        await page.locator('#agenda li[data-theme="infrastructure"] button').click()
        await page.click("#btn-presentation")
        await expect(page.locator("#error")).to_contain_text("needs the API token")
        page = await h.page(browser, "/host?token=hall-secret-7", 1400, 1000)
        await page.locator('#agenda li[data-theme="infrastructure"] button').click()
        await page.click("#btn-presentation")
        await round_where(h, {"phase": "presentation"}, "presentation with the token")
        votes = page.locator("a", has_text="votes.csv")
        await expect(votes).to_have_attribute("href", re.compile(r"token=hall-secret-7"))
