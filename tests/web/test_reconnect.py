"""The display must not freeze: when its link to the server drops it says so discreetly,
keeps its clock running, and once the link is back it shows the newest state."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, expect

from tests.web.hall import eventually, hall, seconds
from tests.web.relay import Relay


@pytest.mark.browser
async def test_the_display_reconnects_and_catches_up(tmp_path: Path, browser: Browser) -> None:
    async with hall(tmp_path, families=()) as h:
        port = urlsplit(h.url).port
        assert port is not None
        async with Relay(port) as relay:
            page = await h.page(browser, "/display", 1280, 720, via=relay.url)
            await h.post("/api/v1/rounds/infrastructure/phase", {"phase": "discussion"})
            await expect(page.locator("#phase")).to_have_text("Discussion")
            marker = page.locator("#link")
            await expect(marker).to_be_hidden()

            await relay.cut()
            await expect(marker).to_be_visible()
            await expect(marker).to_have_text("reconnecting…")
            # Cut off, the screen still counts down the discussion's planned time.
            left = seconds(await page.locator("#countdown").inner_text())
            await eventually(
                lambda: page.locator("#countdown").inner_text(),
                lambda text: seconds(text) < left,
                "the clock runs while the link is down",
            )
            # Meanwhile the host opens the vote; the display cannot know yet.
            state = await h.post("/api/v1/rounds/infrastructure/open", {"duration_s": 90})
            assert state["status"] == "open"
            await expect(page.locator("#phase")).to_have_text("Discussion")

            await relay.restore()
            await expect(marker).to_be_hidden()
            await expect(page.locator("#countdown")).to_have_attribute("data-mode", "voting")
            await expect(page.locator("#status")).to_have_text("voting open")
            assert seconds(await page.locator("#countdown").inner_text()) <= 90
            await page.close()  # before the relay goes: its links end with the page
