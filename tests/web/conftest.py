"""Browser tests of the pages: the ``browser`` fixture is in tests/conftest.py."""

from __future__ import annotations

from playwright.async_api import expect

# A page on a loaded two-core machine may take a while to catch up; conditions, not sleeps.
expect.set_options(timeout=15_000)
