"""The big screen follows the host's rounds on its own: the theme, bars and figures that match
the tally as votes arrive, a countdown that runs down to 0 when the timer closes the vote,
results hidden until the host reveals them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from firmware_sim.audience import Audience
from tests.web.hall import Hall, eventually, hall, seconds, shown


def expected(doc: dict[str, Any]) -> dict[str, Any]:
    """What the display should show for a (single-choice) tally or results document."""
    voters = doc["voters"]
    rows = []
    for option in doc["question"]["options"]:
        key = option["key"]
        count, pct = doc["counts"].get(key, 0), doc["percent"].get(key, 0.0)
        rows.append([key, pct, f"{pct:.1f} %", f"{count} vote{'' if count == 1 else 's'}"])
    return {
        "round": doc["round"],
        "voters": f"{voters} voter{'' if voters == 1 else 's'}",
        "options": rows,
    }


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


async def counted(h: Hall, round_id: str, want: dict[str, int]) -> dict[str, Any]:
    """The round's tally once it holds exactly ``want``."""
    tally: dict[str, Any] = await eventually(
        lambda: h.get_once_there(f"/api/v1/rounds/{round_id}/tally"),
        lambda t: nonzero(t.get("counts", {})) == nonzero(want),
        f"the votes of {round_id} counted",
    )
    return tally


@pytest.mark.browser
async def test_the_display_follows_rounds_bars_and_timer(tmp_path: Path, browser: Browser) -> None:
    async with hall(tmp_path) as h:
        rx = h.receivers["rx1"]
        page = await h.page(browser, "/display", 1920, 1080)
        await expect(page.locator("#theme")).to_have_text("Waiting for the host")
        await expect(page.locator("#link")).to_be_hidden()

        # The host starts the first theme: the screen follows without a click.
        await h.post("/api/v1/rounds/infrastructure/phase", {"phase": "presentation"})
        await expect(page.locator("#theme")).to_have_text("Infrastructure and mobility")
        await expect(page.locator("#event")).to_have_text("Vestegn Business Summit (example)")
        await expect(page.locator("#phase")).to_have_text("Presentation")
        await expect(page.locator("#countdown")).to_have_attribute("data-mode", "planned")
        assert 590 <= seconds(await page.locator("#countdown").inner_text()) <= 600
        agenda = await h.get("/api/v1/agenda")
        labels = [o["label"] for o in agenda["themes"][0]["question"]["options"]]
        await expect(page.locator("#options .label")).to_have_text(labels)

        # Voting: the countdown runs from the deadline and the bars follow the votes.
        state = await h.post("/api/v1/rounds/infrastructure/open", {"duration_s": 120})
        await expect(page.locator("#countdown")).to_have_attribute("data-mode", "voting")
        first = seconds(await page.locator("#countdown").inner_text())
        assert abs(first - (state["deadline"] - time.time())) <= 1.5
        await eventually(
            lambda: page.locator("#countdown").inner_text(),
            lambda text: seconds(text) < first,
            "the countdown runs down",
        )
        early = Audience(h.delegates[:60], seed=1).plan("ABCD", duration_s=5, change_rate=0)
        late = Audience(h.delegates[60:], seed=2).plan("ABCD", duration_s=5, change_rate=0)
        rx.sim.load(early)
        tally = await counted(h, "infrastructure", early.expected())
        one = await eventually(lambda: shown(page), lambda v: v == expected(tally), "bars at 1")
        rx.sim.load(late)
        both = {k: early.expected()[k] + late.expected()[k] for k in "ABCD"}
        tally = await counted(h, "infrastructure", both)
        two = await eventually(lambda: shown(page), lambda v: v == expected(tally), "bars at 2")
        assert one["voters"] != two["voters"]
        assert [o[1] for o in one["options"]] != [o[1] for o in two["options"]], "bars moved"

        # The host closes: the final results stay on the screen.
        await h.post("/api/v1/rounds/infrastructure/phase", {"phase": "results"})
        await expect(page.locator("#status")).to_have_text("final results")
        results = await h.get("/api/v1/rounds/infrastructure/results")
        assert await shown(page) == expected(results)
        # Closed before its time: no frozen "0:00" over the results.
        await expect(page.locator("#countdown")).to_have_text("")
        await expect(page.locator("#phase")).to_have_text("Voting closed")

        # A hidden vote on a short timer: voters show, figures do not; the timer closes it.
        state = await h.post(
            "/api/v1/rounds/business-development/open", {"visibility": "hidden", "duration_s": 4}
        )
        await expect(page.locator("#theme")).to_have_text("Business development")
        await expect(page.locator("#countdown")).to_have_attribute("data-mode", "voting")
        await expect(page.locator("#hidden")).to_be_visible()
        await expect(page.locator("#hidden")).to_have_text("Results hidden")
        start = seconds(await page.locator("#countdown").inner_text())
        assert start <= 4
        hidden_plan = Audience(h.delegates[:30], seed=3).plan("ABCD", duration_s=2, change_rate=0)
        rx.sim.load(hidden_plan)
        await expect(page.locator("#voters")).to_have_text(f"{hidden_plan.voters} voters")
        view = await shown(page)
        assert all(o[1:] == [0.0, "", ""] for o in view["options"]), "no figures while hidden"
        await eventually(
            lambda: page.locator("#countdown").inner_text(),
            lambda text: seconds(text) < start,
            "the countdown runs down",
        )
        await expect(page.locator("#countdown")).to_have_attribute("data-mode", "closed")
        await expect(page.locator("#countdown")).to_have_text("")
        await expect(page.locator("#phase")).to_have_text("Voting closed")
        closed = await h.get("/api/v1/rounds/business-development")
        assert closed["status"] == "closed"
        assert closed["closed_at"] == state["deadline"], "the timer closed it, not the host"
        await expect(page.locator("#hidden")).to_be_visible()

        # The host reveals them.
        await h.post("/api/v1/rounds/business-development/reveal", {"revealed": True})
        results = await eventually(
            lambda: h.http.get("/api/v1/rounds/business-development/results"),
            lambda r: r.status_code == 200,
            "results published",
        )
        assert nonzero(results.json()["counts"]) == nonzero(hidden_plan.expected())
        await eventually(lambda: shown(page), lambda v: v == expected(results.json()), "revealed")
        await expect(page.locator("#hidden")).to_be_hidden()
