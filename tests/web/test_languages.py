"""Every page in Danish and in English, switched on the page itself: no text left in the
other language, nothing cut off at 1920x1080 or 1280x720; and the Danish report printed to
PDF by chromium with Danish headings and Danish numbers."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from pypdf import PdfReader

from arsbridge.simulation import plan_for
from bridge.event.questions import Question
from firmware_sim.audience import Audience
from tests.web.hall import Hall, clipped, eventually, hall

STATIC = Path(__file__).resolve().parents[2] / "api" / "static" / "i18n"
SIZES = [(1920, 1080), (1280, 720)]
PAGES = ["/", "/display", "/host", "/technician"]

# Every text node the reader sees (not inside hidden or closed elements).
TEXTS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    const el = node.parentElement;
    if (!text || !el || el.closest("[hidden], dialog:not([open]), script, style")) continue;
    if (!el.getClientRects().length) continue;
    out.push(text);
  }
  for (const el of document.querySelectorAll("[placeholder], [title]")) {
    for (const a of ["placeholder", "title"]) if (el.getAttribute(a)) out.push(el.getAttribute(a));
  }
  out.push(document.title);
  return out;
}"""


def catalogue(language: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC / f"{language}.json").read_text("utf-8"))
    return data


def only_in(language: str) -> list[re.Pattern[str]]:
    """Patterns of the texts that exist in ``language`` only (those that differ from the
    other language's), placeholders matching anything."""
    mine, other = catalogue(language), catalogue("da" if language == "en" else "en")
    patterns = []
    for key, text in mine.items():
        if text == other[key] or len(text) < 3:
            continue
        parts = re.split(r"\{\w+\}", text)
        patterns.append(re.compile(".+?".join(re.escape(p) for p in parts), re.DOTALL))
    return patterns


# A catalogue key shown instead of its text (file names such as votes.csv are not keys).
KEYS = re.compile(r"^(?!.*\.(csv|html|json|xlsx)$)[a-z]+(\.[a-z_0-9]+)+$")


async def leftovers(page: Page, language: str) -> list[str]:
    """Texts on ``page`` that belong to the other language, or untranslated keys."""
    texts: list[str] = await page.evaluate(TEXTS)
    foreign = only_in("da" if language == "en" else "en")
    return [t for t in texts if KEYS.match(t) or any(p.fullmatch(t) for p in foreign)]


async def vote_on(h: Hall, theme_id: str) -> None:
    """The longest texts of the example agenda on the screens: a ranking, with votes."""
    theme = next(t for t in (await h.get("/api/v1/agenda"))["themes"] if t["id"] == theme_id)
    await h.post(f"/api/v1/rounds/{theme_id}/open", {"timer": False})
    question = Question.model_validate(theme["question"])
    plan = plan_for(Audience(h.delegates[:30], seed=3), question, 3, abstain_rate=0)
    h.receivers["rx1"].sim.load(plan)
    await eventually(
        lambda: h.get(f"/api/v1/rounds/{theme_id}/tally"),
        lambda t: t["voters"] == plan.voters,
        "the votes counted",
    )


@pytest.mark.browser
async def test_each_page_switches_language_with_nothing_left_over_or_cut_off(
    tmp_path: Path, browser: Browser
) -> None:
    async with hall(tmp_path) as h:
        await vote_on(h, "priorities")
        for path in PAGES:
            page = await h.page(browser, path, *SIZES[0])
            await expect(page.locator("html")).to_have_attribute("lang", "en")
            for language in ("da", "en"):
                await page.locator(f'#lang button[data-lang="{language}"]').click()
                await expect(page.locator("html")).to_have_attribute("lang", language)
                await expect(page.locator(f'#lang button[data-lang="{language}"]')).to_have_class(
                    re.compile("chosen")
                )
                if path == "/display":
                    await expect(page.locator("#options li")).to_have_count(5)
                    figure = page.locator("#options li .detail").first
                    decimal = r"\d+,\d %" if language == "da" else r"\d+\.\d %"
                    await expect(figure).to_have_text(re.compile(decimal))
                for width, height in SIZES:
                    await page.set_viewport_size({"width": width, "height": height})
                    left = await eventually(
                        lambda p=page, lang=language: leftovers(p, lang),  # type: ignore[misc]
                        lambda found: found == [],
                        f"{path} in {language} at {width}x{height}: untranslated",
                    )
                    assert left == []
                    cut = await clipped(page, whole_screen=path == "/display")
                    assert cut == [], f"{path} in {language} at {width}x{height}: {cut}"
                await page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})


@pytest.mark.browser
async def test_the_danish_report_prints_with_danish_headings_and_numbers(
    tmp_path: Path, browser: Browser
) -> None:
    async with hall(tmp_path) as h:
        await vote_on(h, "labour-market")  # yes/no: a share of the decided votes
        await h.post("/api/v1/rounds/labour-market/close")
        await eventually(
            lambda: h.http.get("/api/v1/rounds/labour-market/results"),
            lambda r: r.status_code == 200,
            "final results",
        )
        page = await h.page(browser, "/api/v1/report.html?lang=da")
        await expect(page.locator("html")).to_have_attribute("lang", "da")
        pdf = await page.pdf(format="A4", print_background=True)
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    for heading in ("Resultatrapport: én side pr. tema", "Tema 1 af 8", "Program", "Oplægsholder"):
        assert heading in text, heading
    assert "Ja blandt dem, der tog stilling:" in text
    assert "Ikke sat til afstemning" in text  # the themes not voted on
    assert re.search(r"\b\d{1,3},\d %", text), "percentages with a decimal comma"
    assert re.search(r"\b14\.00[–-]14\.25\b", text), "programme times as 14.00"
    assert "Results report" not in text
    assert "Turnout" not in text
