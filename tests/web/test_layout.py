"""The hall display with the example agenda's longest texts, at full HD and at 1280x720:
nothing cut off, the turnout never over 100 % and saying of what, a yes/no shown as the
decision it is, a ranking in rank order."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from arsbridge.simulation import plan_for
from bridge.event.questions import Question
from firmware_sim.audience import Audience
from tests.web.hall import Hall, clipped, eventually, hall

SIZES = [(1920, 1080), (1280, 720)]


async def show_round(h: Hall, page: Page, theme: dict[str, Any]) -> dict[str, Any]:
    """Open ``theme``'s vote, let 30 delegates answer, wait until the display shows them."""
    question = Question.model_validate(theme["question"])
    await h.post(f"/api/v1/rounds/{theme['id']}/open", {"timer": False})
    audience = Audience(h.delegates[:30], seed=5)
    plan = plan_for(audience, question, 3, change_rate=0, abstain_rate=0, ping_rate=0)
    h.receivers["rx1"].sim.load(plan)
    tally: dict[str, Any] = await eventually(
        lambda: h.get(f"/api/v1/rounds/{theme['id']}/tally"),
        lambda t: t["voters"] == plan.voters,
        f"the votes of {theme['id']}",
    )
    assert h.errors == []
    await expect(page.locator("#voters")).to_have_text(f"{plan.voters} voters")
    return tally


@pytest.mark.browser
async def test_every_theme_fits_the_screen_at_both_sizes(tmp_path: Path, browser: Browser) -> None:
    async with hall(tmp_path) as h:
        themes = (await h.get("/api/v1/agenda"))["themes"]
        page = await h.page(browser, "/display", *SIZES[0])
        for theme in themes:
            tally = await show_round(h, page, theme)
            for width, height in SIZES:
                await page.set_viewport_size({"width": width, "height": height})
                await expect(page.locator("body")).to_have_attribute(
                    "data-fit", re.compile(r"^[01]\.\d\d$")
                )
                problems = await clipped(page, whole_screen=True)
                assert problems == [], f"{theme['id']} at {width}x{height}: {problems}"
            if theme["question"]["kind"] == "ranking":
                # Once every pick is counted, the rows stand in the order of the result.
                async def orders(
                    round_id: str = theme["id"],
                ) -> tuple[list[str], list[str | None]]:
                    now = await h.get(f"/api/v1/rounds/{round_id}/tally")
                    rows = page.locator("#options li")
                    return now["summary"]["order"], [
                        await li.get_attribute("data-key") for li in await rows.all()
                    ]

                await eventually(orders, lambda o: o[0] == o[1], "a ranking in rank order")
            if theme["question"]["kind"] == "yesno":
                summary = page.locator("#summary")
                await expect(summary).to_have_class("summary decision")
                decided = tally["summary"]["yes_of_decided"]
                await expect(summary).to_contain_text(f"Yes: {decided:.1f} % of those who decided")
                leading = await page.locator("#options li.leading").get_attribute("data-key")
                assert leading in ("A", "B"), "abstaining is never painted as the leader"
            await h.post(f"/api/v1/rounds/{theme['id']}/close")


@pytest.mark.browser
async def test_turnout_is_of_the_paired_delegates_and_never_over_100(
    tmp_path: Path, browser: Browser
) -> None:
    async with hall(tmp_path, unpaired="count") as h:
        # Only two delegates are paired; 40 handsets vote, 38 of them unpaired, and the event
        # counts handsets nobody holds.
        roster = (await h.http.get("/api/v1/participants.csv")).text.splitlines()
        header, rows = roster[0], roster[1:]
        column = header.split(",").index("handset")
        unpaired = []
        for i, row in enumerate(rows):
            cells = row.split(",")
            if i >= 2:
                cells[column] = ""
            unpaired.append(",".join(cells))
        r = await h.http.put(
            "/api/v1/participants",
            content="\n".join([header, *unpaired]) + "\n",
            headers={"content-type": "text/csv"},
        )
        assert r.status_code == 200, r.text
        page = await h.page(browser, "/display", 1920, 1080)
        await h.post("/api/v1/rounds/profile/open", {"timer": False})
        plan = Audience(h.delegates[:40], seed=9).plan(
            "ABC", duration_s=3, change_rate=0, abstain_rate=0
        )
        assert set(h.delegates[:2]) <= {p.handset for p in plan.presses}
        h.receivers["rx1"].sim.load(plan)
        await expect(page.locator("#voters")).to_have_text(f"{plan.voters} voters")
        await expect(page.locator("#turnout")).to_have_text(
            f"2 of 2 paired delegates voted (100 %) · {plan.voters - 2} unpaired handsets"
        )
        tally = await h.get("/api/v1/rounds/profile/tally")
        assert tally["turnout"]["percent_paired"] == 100.0
        assert tally["turnout"]["unpaired_voters"] == plan.voters - 2
