"""Running the service in the foreground: the HTTP API under uvicorn, or a headless role,
until SIGINT or SIGTERM, with startup errors turned into one clear exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import signal
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from typing import Any

import uvicorn

from api.app import create_app
from api.server import server_config
from bridge.service import Service

log = logging.getLogger(__name__)

Started = Callable[[Service, str], Coroutine[Any, Any, None]]


# The cycle collector, tuned for a service whose heap holds every handset it has heard and
# every round's answers. Python's default (700 allocations) runs a young collection several
# hundred times a second at full rate, and each full collection walks the whole heap: at
# 24,000 handsets that is a 50-90 ms pause of the event loop, the p99 of the pty-to-display
# latency (bench.latency at 4,000/s: 82 ms; 43 ms with these). Nearly all garbage here is
# freed by reference counting; cycles are rare and small, so collecting less often costs
# little memory. What the service holds once started is moved out of the collector's way.
GC_THRESHOLDS = (50_000, 20, 20)


def tune_collector() -> None:
    """Freeze what start-up made and collect cycles less often (see GC_THRESHOLDS)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class PortInUse(OSError):
    """The HTTP port is taken by another program; the message names the flag and setting."""


def bind_http(host: str, port: int) -> socket.socket:
    """A listening socket for the API, or :class:`PortInUse` / :class:`OSError` in one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"HTTP port {port} on {host} is already in use by another program; "
                "choose another with --port or [api] port"
            ) from None
        raise OSError(
            f"cannot listen on {host}:{port} ({exc.strerror}); check [api] host and [api] port"
        ) from None
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn that leaves signal handling to the process owning the event loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def _stop_on_signals() -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def serve_api(service: Service, *, on_started: Started | None = None) -> None:
    """Start ``service``, serve the API over it until a signal (or ``on_started`` ends).

    The HTTP port is taken first and the service started next, so a busy port, a broker
    that is not there or a receiver that is missing each end the command with its own
    message, not a server log.
    """
    settings = service.settings
    listening = bind_http(settings.api.host, settings.api.port)
    with listening:
        await _serve(service, listening, on_started)


async def _serve(service: Service, listening: socket.socket, on_started: Started | None) -> None:
    settings = service.settings
    async with _stop_on_signals() as stop, service:
        app = create_app(settings, service=service)
        config = server_config(
            app,
            settings,
            host=settings.api.host,
            port=settings.api.port,
            log_config=None,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=3,
        )
        server = _Server(config)
        serving = asyncio.create_task(server.serve(sockets=[listening]), name="uvicorn")
        # uvicorn reports a finished startup only as a flag.
        while not server.started and not serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if serving.done():
            await serving  # uvicorn could not start: let its error out
            return
        tune_collector()
        url = f"http://{settings.api.host}:{_bound_port(server, settings.api.port)}"
        print(
            f"serving {url}  (pages /display, /host, /technician; API /api/v1, docs /docs)",
            flush=True,
        )
        waits: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait(), name="signals")]
        if on_started is not None:
            waits.append(asyncio.create_task(on_started(service, url), name="on-started"))
        done, _ = await asyncio.wait([serving, *waits], return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        server.should_exit = True
        await serving
        for task in done:
            if task is not serving and not task.cancelled() and (exc := task.exception()):
                raise exc


async def run_headless(service: Service) -> None:
    """Run a role without HTTP (``arsbridge bridge`` or ``tally``) until a signal."""
    async with _stop_on_signals() as stop, service:
        tune_collector()
        await stop.wait()


def _bound_port(server: uvicorn.Server, configured: int) -> int:
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    return configured
