"""A simulated receiver: hears handsets on an :class:`~firmware_sim.radio.Air`, writes what
real firmware would write to the host, and answers the host's commands.

Each receiver family subclasses :class:`SimulatedReceiver` and encodes with the production
codec of its driver, so the simulator and the driver cannot drift apart. Simulated seconds
run ``speed`` times faster than the wall clock.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator

from firmware_sim.audience import VotePlan
from firmware_sim.link import SimEndpoint
from firmware_sim.radio import Air, Transmission

BYTES_PER_BAUD = 10  # a serial byte is 8 data bits plus start and stop bits


class SimulatedReceiver(abc.ABC):
    """Receiver firmware between an :class:`Air` and a host link."""

    family: str = ""

    def __init__(self, endpoint: SimEndpoint, air: Air, *, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.endpoint = endpoint
        self.air = air
        self.speed = speed
        self.frames_sent = 0
        self._loaded = asyncio.Event()

    @abc.abstractmethod
    def encode(self, tx: Transmission) -> bytes:
        """What the firmware sends the host for one heard transmission (may be empty)."""

    def on_host(self, data: bytes) -> bytes:
        """Handle bytes from the host (commands); returns the reply bytes, if any."""
        return b""

    def banner(self) -> bytes:
        """What the firmware prints when it starts (boot lines); sent before any frame."""
        return b""

    def load(self, plan: VotePlan, *, offset_s: float = 0.0) -> None:
        """Schedule an audience's round on the air; :meth:`run` plays it."""
        self.air.load(plan, offset_s=offset_s)
        self._loaded.set()

    async def run(self) -> None:
        """Answer the host and play whatever is loaded, until cancelled (the demo and ``sim``)."""
        async with self._host_served():
            while True:
                await self._loaded.wait()
                self._loaded.clear()
                await self._play_air()

    async def play(self) -> None:
        """Send every heard transmission at its simulated time, until the air falls quiet."""
        async with self._host_served():
            await self._play_air()

    async def background(self) -> None:  # noqa: B027 - optional for a firmware
        """What the firmware does on its own, whatever the air does (prompts, status
        beacons); runs while the receiver runs. Nothing by default."""

    @contextlib.asynccontextmanager
    async def _host_served(self) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(self._serve_host(), name=f"sim-{self.family}-host"),
            asyncio.create_task(self.background(), name=f"sim-{self.family}-background"),
        ]
        try:
            if banner := self.banner():
                await self.endpoint.send(banner)
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _play_air(self) -> None:
        loop = asyncio.get_running_loop()
        start_wall, start_sim = loop.time(), self.air.now
        while (at := self.air.next_time()) is not None:
            delay = start_wall + (at - start_sim) / self.speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)  # let host commands (acknowledgements) in
            out = b"".join(self.encode(tx) for tx in self.air.advance(at))
            if out:
                self.frames_sent += 1
                await self.endpoint.send(out)

    async def _serve_host(self) -> None:
        while True:
            data = await self.endpoint.received.get()
            reply = self.on_host(data)
            if reply:
                await self.endpoint.send(reply)


async def stream_bytes(
    endpoint: SimEndpoint,
    data: bytes,
    *,
    baudrate: int = 115200,
    speed: float = 1.0,
    chunk: int = 64,
) -> None:
    """Send ``data`` as a serial line at ``baudrate`` would deliver it, ``speed`` times faster.

    This is how a recorded capture is replayed at recorded speed (``speed=1``) or faster.
    """
    if speed <= 0 or baudrate <= 0:
        raise ValueError("speed and baudrate must be positive")
    loop = asyncio.get_running_loop()
    rate = baudrate / BYTES_PER_BAUD * speed  # bytes per wall-clock second
    start = loop.time()
    for offset in range(0, len(data), chunk):
        await endpoint.send(data[offset : offset + chunk])
        delay = start + (offset + chunk) / rate - loop.time()
        await asyncio.sleep(max(0.0, delay))
