"""What stands by each bar depends on the question: percent of votes cast, share of voters
for multi-select, points for a ranking; the display's figures match the tally's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from firmware_sim.audience import Audience
from tests.web.hall import Hall, eventually, hall, shown


def number(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:.1f}"


def expected(doc: dict[str, Any]) -> list[list[Any]]:
    """Each option's [key, bar width, figure, detail] as the display should draw them."""
    kind, voters = doc["question"]["kind"], doc["voters"]
    rows = []
    for option in doc["question"]["options"]:
        key = option["key"]
        count, pct = doc["counts"].get(key, 0), doc["percent"].get(key, 0.0)
        if kind == "ranking":
            figure, detail = f"{number(count)} pts", f"{pct:.1f} % of points"
        elif kind == "multi":
            figure, detail = f"{pct:.1f} %", f"{count} of {voters} voters"
        else:
            figure, detail = f"{pct:.1f} %", f"{count} vote{'' if count == 1 else 's'}"
        rows.append([key, pct, figure, detail])
    if kind == "ranking" and voters:  # shown in the order of the result, best first
        order = doc["summary"]["order"]
        rows.sort(key=lambda row: order.index(row[0]))
    return rows


async def vote(h: Hall, page: Page, theme: dict[str, Any], picks: int) -> dict[str, Any]:
    """Run ``theme``'s vote with 40 delegates picking ``picks`` options each; its tally once
    every answer is complete and the display shows it."""
    question = theme["question"]
    keys = "".join(o["key"] for o in question["options"])
    await h.post(f"/api/v1/rounds/{theme['id']}/open", {"timer": False})
    plan = Audience(h.delegates[:40], seed=len(keys)).plan(
        keys, duration_s=4, change_rate=0, picks=picks
    )
    h.receivers["rx1"].sim.load(plan)
    # Every voter's whole answer is in: each pick counted (a ranking's at its weight).
    per_voter = sum(question["weights"]) if question["kind"] == "ranking" else picks
    tally: dict[str, Any] = await eventually(
        lambda: h.get_once_there(f"/api/v1/rounds/{theme['id']}/tally"),
        lambda t: (
            t.get("voters") == plan.voters
            and sum(t.get("counts", {}).values()) == plan.voters * per_voter
        ),
        f"every answer to {theme['id']} counted",
    )
    await eventually(
        lambda: shown(page), lambda v: v["options"] == expected(tally), f"{theme['id']} drawn"
    )
    await h.post(f"/api/v1/rounds/{theme['id']}/close")
    return tally


@pytest.mark.browser
async def test_figures_follow_the_question_kind(tmp_path: Path, browser: Browser) -> None:
    async with hall(tmp_path) as h:
        themes = {t["id"]: t for t in (await h.get("/api/v1/agenda"))["themes"]}
        page = await h.page(browser, "/display", 1920, 1080)

        await vote(h, page, themes["skills"], picks=2)  # multi-select, two of five
        await expect(page.locator("#summary")).to_have_text(
            "Percent of voters: each voter picks several options"
        )
        ranking = await vote(h, page, themes["priorities"], picks=3)
        assert sum(ranking["percent"].values()) == pytest.approx(100, abs=0.5)
        await expect(page.locator("#summary")).to_have_text("Points: 1st choice scores most")
        leader = ranking["summary"]["order"][0]
        await expect(page.locator("#options li.leading")).to_have_attribute("data-key", leader)

        yesno = await vote(h, page, themes["labour-market"], picks=1)
        decided = yesno["summary"]["yes_of_decided"]
        await expect(page.locator("#summary")).to_contain_text(
            f"Yes: {decided:.1f} % of those who decided"
        )
