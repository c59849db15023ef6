"""Test-wide settings: Hypothesis profiles and the hygiene every test keeps."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

CAPTURES = Path(__file__).resolve().parents[2] / "shared" / "captures"


@pytest.fixture
def captures() -> Path:
    """The folder of real receiver captures (read-only)."""
    if not CAPTURES.is_dir():
        pytest.skip(f"captures not found at {CAPTURES}")
    return CAPTURES


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves tasks running on its event loop."""
    yield
    current = asyncio.current_task()
    leftover = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    for task in leftover:
        task.cancel()
    assert not leftover, f"tasks left running: {[t.get_name() for t in leftover]}"


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    """Fail a test that leaves non-daemon threads behind."""
    before = set(threading.enumerate())
    yield
    after = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    assert not after, f"threads left running: {[t.name for t in after]}"
