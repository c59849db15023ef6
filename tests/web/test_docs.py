"""The API's interactive documentation, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), works
with no network: it is served by the service itself, and with every request that leaves the
service refused the operations are still listed."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Route, expect

from tests.conftest import service_settings
from tests.e2e.harness import serving

OPERATIONS = ("/api/v1/health", "/api/v1/rounds/{round_id}/open")


@pytest.mark.browser
@pytest.mark.parametrize(
    ("docs", "operation", "decoration"),
    [
        # Swagger UI: one summary line per operation, its path in data-path.
        ("/docs", '.opblock-summary-path[data-path="{path}"]', set()),
        # ReDoc: each operation's method and path; its menu's footer shows its maker's logo
        # from their CDN, and leaves it out when that fails.
        ("/redoc", '.http-verb + span:text-is("{path}")', {"image"}),
    ],
)
async def test_the_api_documentation_needs_no_network(
    tmp_path: Path, browser: Browser, docs: str, operation: str, decoration: set[str]
) -> None:
    async with serving(service_settings(tmp_path)) as (url, _):
        own = urlsplit(url).netloc
        refused: list[tuple[str, str]] = []

        async def only_the_service(route: Route) -> None:
            request = route.request
            if urlsplit(request.url).netloc == own:
                await route.continue_()
            else:
                refused.append((request.resource_type, request.url))
                await route.abort("internetdisconnected")

        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            await page.route("**/*", only_the_service)
            await page.goto(url + docs)
            for path in OPERATIONS:
                await expect(page.locator(operation.format(path=path))).to_be_visible()
        finally:
            await page.close()
    assert errors == []
    assert {kind for kind, _ in refused} <= decoration, f"asked outside the service: {refused}"
