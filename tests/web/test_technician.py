"""The technician's board: receivers online and offline, the handsets heard with who holds
them, battery and silence warnings, and pairing by typed ID and by the next key press."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from firmware_sim.audience import make_handset_ids
from tests.web.hall import Hall, Receiver, eventually, hall

QUIET_S = 2  # the board's ?quiet= threshold here, so that silence shows within the test


async def handsets(h: Hall) -> dict[str, dict[str, Any]]:
    return {row["handset"]: row for row in await h.get("/api/v1/handsets")}


async def presses(h: Hall, handset: str) -> int:
    row = (await handsets(h)).get(handset)
    return row["presses"] if row else 0


async def press_and_hear(h: Hall, rx: Receiver, handset: str) -> None:
    """One press of ``handset``, once the service has heard it."""
    before = await presses(h, handset)
    rx.press(handset)
    await eventually(lambda: presses(h, handset), lambda n: n > before, f"{handset} heard")


@pytest.mark.browser
async def test_the_technician_board(tmp_path: Path, browser: Browser) -> None:
    async with hall(tmp_path, families=("iskipper", "arsrx")) as h:
        rx1, rx2 = h.receivers["rx1"], h.receivers["rx2"]
        page = await h.page(browser, f"/technician?quiet={QUIET_S}", 1400, 1100)
        for name, family in (("rx1", "iskipper"), ("rx2", "arsrx")):
            row = page.locator(f'#receivers tr[data-receiver="{name}"]')
            await expect(row).to_have_attribute("data-state", "online")
            await expect(row.locator("td").nth(1)).to_have_text(family)

        # Delegates and strangers press; an ARS-RX handset reports a flat battery.
        flat = make_handset_ids(1, "arsrx", seed=5)[0]
        rx2.air.set_battery(flat, 12.0)
        rx2.press(flat)
        heard = [*h.delegates[:5], *h.strangers[:2]]
        for handset in heard:
            rx1.press(handset)
        await eventually(lambda: handsets(h), lambda t: set(t) >= {*heard, flat}, "all heard")
        people = {p["id"]: p for p in await h.get("/api/v1/participants")}
        for i, handset in enumerate(h.delegates[:5], 1):
            holder = people[f"p{i:03d}"]
            await expect(
                page.locator(f'#handsets tr[data-handset="{handset}"] .participant')
            ).to_have_text(f"{holder['id']} {holder['name']}")
        flat_row = page.locator(f'#handsets tr[data-handset="{flat}"]')
        await expect(flat_row.locator(".flags")).to_contain_text("low battery")
        await expect(flat_row.locator(".battery")).to_have_text(
            f"{(await handsets(h))[flat]['bat']} %"
        )
        await expect(flat_row.locator("td").nth(4)).to_contain_text("dBm")
        await expect(
            page.locator(f'#handsets tr[data-handset="{h.strangers[0]}"] .flags')
        ).to_contain_text("unpaired")
        unpaired = [p for p in people.values() if not p["handset"]]
        await expect(page.locator("#unpaired li")).to_have_count(len(unpaired))
        await expect(page.locator("#unpaired-count")).to_have_text(
            f"({len(unpaired)} of {len(people)})"
        )

        # Pairing by the printed ID, typed as it comes (lower case).
        first, second = unpaired[0]["id"], unpaired[1]["id"]
        await page.select_option("#pair-participant", first)
        await page.fill("#pair-handset", h.strangers[0].lower())
        await page.click("#btn-pair")
        await expect(page.locator("#pair-result")).to_contain_text(
            f"{first} {people[first]['name']} now holds handset {h.strangers[0]}"
        )
        assert (await h.get(f"/api/v1/participants/{first}"))["handset"] == h.strangers[0]
        await expect(page.locator(f'#unpaired li[data-participant="{first}"]')).to_have_count(0)
        await expect(
            page.locator(f'#handsets tr[data-handset="{h.strangers[0]}"] .participant')
        ).to_have_text(f"{first} {people[first]['name']}")

        # A mistyped ID: the API's words, and nobody paired.
        await page.select_option("#pair-participant", second)
        await page.fill("#pair-handset", "12G4")
        await page.click("#btn-pair")
        refusal = await h.http.post(
            "/api/v1/pairing", json={"participant": second, "handset": "12G4"}
        )
        assert refusal.status_code == 422
        await expect(page.locator("#pair-error")).to_have_text(refusal.json()["detail"])

        # Pairing by the next key press: the delegate presses until the service has it.
        await page.click("#btn-pair-next")
        await expect(page.locator("#pair-result")).to_contain_text("press any key")
        stranger = h.strangers[1]
        for _ in range(20):
            holder = await h.get(f"/api/v1/participants/{second}")
            if holder["handset"] == stranger:
                break
            # A press from before the request reached the service is ignored: press again.
            await press_and_hear(h, rx1, stranger)
        await expect(page.locator("#pair-result")).to_contain_text(
            f"{second} {people[second]['name']} now holds handset {stranger}"
        )
        await expect(page.locator("#pair-error")).to_be_hidden()

        # Handsets silent for longer than the threshold are flagged.
        await expect(
            page.locator(f'#handsets tr[data-handset="{h.delegates[0]}"] .flags')
        ).to_contain_text("not heard for")

        # The link to a receiver drops: the board marks it offline.
        await rx2.unplug()
        row = page.locator('#receivers tr[data-receiver="rx2"]')
        await expect(row).to_have_attribute("data-state", "offline")
        await expect(row.locator(".error-text")).not_to_be_empty()
        health = await h.get("/api/v1/health")
        assert health["receivers"]["rx2"]["online"] is False
        await expect(page.locator('#receivers tr[data-receiver="rx1"]')).to_have_attribute(
            "data-state", "online"
        )


@pytest.mark.browser
async def test_a_roll_call_finds_a_broken_handset_that_is_replaced_from_the_board(
    tmp_path: Path, browser: Browser
) -> None:
    async with hall(tmp_path) as h:
        rx1 = h.receivers["rx1"]
        table = [p for p in await h.get("/api/v1/participants") if p["table"] == "1"]
        assert [p["handset"] for p in table] == h.delegates[:7]
        broken, spare = h.delegates[3], h.strangers[0]
        page = await h.page(browser, "/technician", 1400, 1100)

        # The technician calls table 1; everyone there presses a key but one.
        await page.select_option("#rollcall-table", "1")
        await page.click("#btn-rollcall")
        await expect(page.locator("#rollcall-status")).to_contain_text("0 of 7 heard")
        for handset in h.delegates[:7]:
            if handset != broken:
                await press_and_hear(h, rx1, handset)
        await expect(page.locator("#rollcall-status")).to_contain_text("6 of 7 heard")
        missing = page.locator("#rollcall-missing li")
        await expect(missing).to_have_count(1)
        await expect(missing).to_have_attribute("data-handset", broken)
        await expect(missing).to_contain_text(f"{table[3]['id']} {table[3]['name']}")

        # The board shows it flagged among the handsets of table 1.
        await page.fill("#filter-table", "1")
        await expect(page.locator("#handsets tbody tr")).to_have_count(7)
        row = page.locator(f'#handsets tr[data-handset="{broken}"]')
        await expect(row.locator(".flags")).to_contain_text("never heard")
        await expect(page.locator("#handsets tbody tr").first).to_have_attribute(
            "data-handset", broken
        )

        # Replace it: the broken handset is unpaired, the spare pairs with its first press.
        await row.locator("button.replace").click()
        await expect(page.locator("#pair-result")).to_contain_text("press any key")
        for _ in range(20):
            holder = await h.get(f"/api/v1/participants/{table[3]['id']}")
            if holder["handset"] == spare:
                break
            await press_and_hear(h, rx1, spare)
        await expect(page.locator("#pair-result")).to_contain_text(
            f"{table[3]['id']} {table[3]['name']} now holds handset {spare}"
        )
        assert broken not in {p["handset"] for p in await h.get("/api/v1/participants")}
        await expect(page.locator("#rollcall-status")).to_contain_text("7 of 7 heard")
        await expect(missing).to_have_count(0)
        await expect(page.locator(f'#handsets tr[data-handset="{spare}"] .table')).to_have_text("1")
        await expect(page.locator(f'#handsets tr[data-handset="{broken}"]')).to_have_count(0)
        await page.click("#btn-rollcall-end")
        assert (await h.get("/api/v1/rollcall")) == {"running": False}
        assert h.errors == []
