"""A hall under test: the service on a real uvicorn server with the example agenda and
roster, simulated receivers on ptys heard by a paired audience, and Debian's chromium."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from playwright.async_api import Browser, Page

from bridge.service import Service
from bridge.settings import DEFAULT_CONFIG
from firmware_sim.audience import PlannedPress, VotePlan, make_handset_ids
from firmware_sim.link import PtyEndpoint
from firmware_sim.radio import Air, RfConditions
from firmware_sim.receiver import SimulatedReceiver
from firmware_sim.registry import load_simulator
from tests.conftest import service_settings
from tests.e2e.harness import WAIT_S, serving

AGENDA = DEFAULT_CONFIG.parent / "agendas" / "vestegn-summit.toml"
ROSTER = DEFAULT_CONFIG.parent / "rosters" / "vestegn-summit.csv"
SPEED = 20.0  # simulated seconds per wall-clock second: an audience votes in a blink
PAIRED = 140  # delegates with a handset (of the roster's 220); the rest have none yet
POLL_S = 0.05  # how often a waiting test looks again

T = TypeVar("T")


@dataclass(slots=True)
class Receiver:
    """A simulated receiver on a pty, its air and the task that plays it."""

    name: str
    endpoint: PtyEndpoint
    air: Air
    sim: SimulatedReceiver
    task: asyncio.Task[None]

    def press(self, handset: str, key: str = "A") -> None:
        """One delegate presses one key, now."""
        self.sim.load(VotePlan((key,), 1.0, (PlannedPress(0.0, handset, key),)))

    async def unplug(self) -> None:
        """The link drops: the firmware stops and the pty vanishes."""
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.endpoint.close()


@dataclass(slots=True)
class Hall:
    url: str
    service: Service
    http: httpx.AsyncClient
    receivers: dict[str, Receiver]
    delegates: list[str]  # handsets paired with p001, p002... in roster order
    strangers: list[str]  # handsets nobody holds
    errors: list[str] = field(default_factory=list)  # script errors in any page opened
    pages: list[Page] = field(default_factory=list)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = await self.http.post(path, json=body)
        assert r.status_code == 200, r.text
        doc: dict[str, Any] = r.json()
        return doc

    async def get(self, path: str) -> Any:
        r = await self.http.get(path)
        assert r.status_code == 200, r.text
        return r.json()

    async def get_once_there(self, path: str) -> Any:
        """``path``'s document, or ``{}`` while it does not exist yet (a click in flight)."""
        r = await self.http.get(path)
        if r.status_code == 404:
            return {}
        assert r.status_code == 200, r.text
        return r.json()

    async def page(
        self, browser: Browser, path: str, width: int = 1600, height: int = 900, via: str = ""
    ) -> Page:
        """A page of the service (``via`` another origin, such as a relay); its script errors
        are collected in :attr:`errors`."""
        page = await browser.new_page(viewport={"width": width, "height": height})
        page.on("pageerror", lambda exc: self.errors.append(f"{path}: {exc}"))
        self.pages.append(page)
        await page.goto((via or self.url) + path)
        return page

    async def close_pages(self) -> None:
        # Before the server stops: it would otherwise wait out its grace for their streams.
        for page in self.pages:
            await page.close()


SHOWN = """() => ({
  round: document.body.dataset.round,
  voters: document.getElementById("voters").textContent,
  options: [...document.querySelectorAll("#options li")].map((li) => [
    li.dataset.key,
    parseFloat(li.querySelector(".bar").style.width || "0"),
    li.querySelector(".figure").textContent,
    li.querySelector(".detail").textContent,
  ]),
})"""


async def shown(page: Page) -> dict[str, Any]:
    """What a page shows of a round's figures (round, voters, each option's key, bar width,
    figure and detail), read from the DOM."""
    view: dict[str, Any] = await page.evaluate(SHOWN)
    return view


# Every element that shows text, and what cuts it off: the window, or a box around it that
# hides what overflows it (a box that scrolls hides nothing). ``whole`` (a hall display):
# the window's height counts too; a console page may scroll down. One line per element.
CLIPPED = """(whole) => {
  const out = [];
  const within = (r, b, vertical) =>
    r.left >= b.left - 1 && r.right <= b.right + 1 &&
    (!vertical || (r.top >= b.top - 1 && r.bottom <= b.bottom + 1));
  const view = { left: 0, top: 0, right: innerWidth, bottom: innerHeight };
  const hides = (style) => ["hidden", "clip"].includes(style.overflowX) ||
    ["hidden", "clip"].includes(style.overflowY);
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (el.closest("dialog:not([open]), [hidden], script, style")) continue;
    const text = el.textContent.trim().slice(0, 40);
    const name = `${el.tagName.toLowerCase()}#${el.id}.${el.className} "${text}"`;
    if (!within(r, view, whole)) out.push(`${name} leaves the window`);
    if (hides(getComputedStyle(el)) &&
        (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1)) {
      out.push(`${name} overflows itself`);
    }
    for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      if (a === document.body && !whole) break;
      if (!hides(getComputedStyle(a))) continue;
      const box = a.getBoundingClientRect();
      if (!within(r, box, true)) out.push(`${name} is cut off by ${a.tagName}`);
    }
  }
  return out;
}"""


async def clipped(page: Page, whole_screen: bool) -> list[str]:
    """The texts on ``page`` that are cut off (see :data:`CLIPPED`)."""
    found: list[str] = await page.evaluate(CLIPPED, whole_screen)
    return found


async def eventually(read: Callable[[], Awaitable[T]], want: Callable[[T], bool], what: str) -> T:
    """Read until ``want`` holds (the value read), failing after WAIT_S with the last value."""
    value = await read()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(WAIT_S):
            while not want(value):
                await asyncio.sleep(POLL_S)  # polling a condition, not waiting out a time
                value = await read()
    assert want(value), f"{what}: last {value!r}"
    return value


def seconds(text: str) -> int:
    """Seconds shown as ``m:ss``."""
    match = re.fullmatch(r"(\d+):(\d\d)", text.strip())
    assert match, f"not a countdown: {text!r}"
    return int(match[1]) * 60 + int(match[2])


@contextlib.asynccontextmanager
async def hall(
    tmp_path: Path,
    families: tuple[str, ...] = ("iskipper",),
    token: str | None = None,
    agenda: Path | None = AGENDA,
    unpaired: str = "hold",
) -> AsyncIterator[Hall]:
    """The service with one simulated receiver per family (``rx1``, ``rx2``...), the example
    agenda (or ``agenda``; None for none) and roster, its first :data:`PAIRED` delegates
    holding handsets; with ``token``, the API wants it (the test's own HTTP client sends
    it); ``unpaired = "count"`` counts handsets nobody holds."""
    ids = make_handset_ids(PAIRED + 8, "iclicker", seed=7)
    delegates, strangers = ids[:PAIRED], ids[PAIRED:]
    async with contextlib.AsyncExitStack() as stack:
        receivers: dict[str, Receiver] = {}
        for n, family in enumerate(families, 1):
            module = load_simulator(family)
            endpoint = PtyEndpoint()
            stack.push_async_callback(endpoint.close)
            air = Air(RfConditions(loss=0.1), seed=n, host_acks=module.HOST_ACKS)
            sim = module.create_simulator(endpoint, air, speed=SPEED)
            task = asyncio.create_task(sim.run(), name=f"sim-rx{n}")
            stack.push_async_callback(_stop, task)
            receivers[f"rx{n}"] = Receiver(f"rx{n}", endpoint, air, sim, task)
        settings = service_settings(
            tmp_path,
            event={"agenda": agenda, "roster": ROSTER, "unpaired": unpaired},
            mqtt={"handsets_interval_ms": 50},
            api={"token": token},
            receivers=[
                {"name": name, "driver": family, "url": rx.endpoint.url}
                for (name, rx), family in zip(receivers.items(), families, strict=True)
            ],
        )
        url, service = await stack.enter_async_context(serving(settings))
        headers = {"authorization": f"Bearer {token}"} if token else {}
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=url, timeout=WAIT_S, headers=headers)
        )
        roster = (await http.get("/api/v1/participants.csv")).text.splitlines()
        rows = [roster[0]] + [
            line + (delegates[i] if i < PAIRED else "") for i, line in enumerate(roster[1:])
        ]
        r = await http.put(
            "/api/v1/participants",
            content="\n".join(rows) + "\n",
            headers={"content-type": "text/csv"},
        )
        assert r.status_code == 200, r.text
        the_hall = Hall(url, service, http, receivers, delegates, strangers)
        stack.push_async_callback(the_hall.close_pages)
        yield the_hall
    assert the_hall.errors == [], "the pages' scripts failed"


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
