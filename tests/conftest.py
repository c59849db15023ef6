"""Test-wide settings: Hypothesis profiles and the hygiene every test keeps."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from playwright.async_api import Browser, async_playwright

from bridge.settings import Settings

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _find_captures() -> Path | None:
    """The shared folder of real receiver captures: $ARS_CAPTURES, or ``shared/captures``
    beside the checkout or one of its parents, or the workplace's /work/shared/captures."""
    if env := os.environ.get("ARS_CAPTURES"):
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "captures").is_dir():
            return parent / "shared" / "captures"
    fallback = Path("/work/shared/captures")
    return fallback if fallback.is_dir() else None


CAPTURES = _find_captures()


@pytest.fixture
def captures() -> Path:
    """The folder of real receiver captures (read-only; tests build variants in code)."""
    if CAPTURES is None or not CAPTURES.is_dir():
        pytest.fail("the real captures (shared/captures) are not found; set ARS_CAPTURES")
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
    after = [
        t
        for t in threading.enumerate()
        if t not in before
        and t.is_alive()
        and not t.daemon
        # Idle pool workers: the loop's default executor is shut down with the loop, after
        # this check, and AnyIO's workers retire on their own after a few idle seconds.
        and not t.name.startswith(("asyncio_", "AnyIO worker thread"))
    ]
    assert not after, f"threads left running: {[t.name for t in after]}"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


MOSQUITTO_URL = "mqtt://127.0.0.1:1883"


def service_settings(tmp_path: Path, broker: str = "embedded", **overrides: object) -> Settings:
    """Settings for a service under test: its own journal, topic base and broker.

    ``broker`` is ``embedded`` (an amqtt broker on a free port) or ``mosquitto`` (the real
    Mosquitto on 127.0.0.1:1883, under a topic base of the test's own so that retained
    messages of other runs cannot leak in).
    """
    import uuid

    from bridge.settings import load_settings

    base = f"arstest-{uuid.uuid4().hex[:10]}"
    mqtt: dict[str, object] = {"base": base, "connect_timeout_s": 5.0}
    env: dict[str, object] = {
        "journal": {"path": tmp_path / "journal.sqlite3"},
        "rounds": {"grace_s": 0.3, "tally_interval_ms": 20},
        "supervisor": {"backoff_min_s": 0.05, "backoff_max_s": 0.5},
    }
    if broker == "embedded":
        mqtt["url"] = "embedded"
        env["broker"] = {"port": free_port()}
    elif broker == "mosquitto":
        mqtt["url"] = MOSQUITTO_URL
    else:
        raise ValueError(broker)
    env["mqtt"] = mqtt
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(env.get(key), dict):
            env[key] = {**env[key], **value}  # type: ignore[dict-item]
        else:
            env[key] = value
    return load_settings(None, **env)


@pytest.fixture(params=["embedded", pytest.param("mosquitto", marks=pytest.mark.mosquitto)])
def broker(request: pytest.FixtureRequest) -> str:
    """Each end-to-end test runs against the embedded broker and against real Mosquitto."""
    return str(request.param)


CHROMIUM = Path("/usr/bin/chromium")  # Debian's; .ci/run installs it when missing
# What a headless chromium needs in this sandbox: no GPU, no calls home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium driven by Playwright (no browser is downloaded), one per test."""
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - one stat before the browser starts
        pytest.fail(f"Debian's chromium is not installed at {CHROMIUM}")
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()
