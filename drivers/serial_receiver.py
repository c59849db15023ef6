"""A receiver on a serial line: bytes from the link go through the family's pure decoder."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from drivers.base import (
    KeyFrame,
    NoiseFrame,
    Receiver,
    ReceiverEvent,
    ReceiverUnavailable,
    RejectedFrame,
    stamp,
)
from drivers.serial_link import open_serial

READ_CHUNK = 4096  # bytes per read; a receiver at 115200 baud delivers about 11.5 kB/s


class Decoder(Protocol):
    """A sans-IO decoder: bytes in, decoded frames out, partial frames kept for the next call."""

    def feed(self, data: bytes) -> Sequence[object]: ...


class SerialReceiver(Receiver, abc.ABC):
    """Reads a serial link (path or ``socket://`` URL) and turns decoded frames into events."""

    default_baudrate = 115200

    def __init__(
        self,
        name: str,
        url: str,
        *,
        baudrate: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name)
        self.url = url
        self.baudrate = baudrate or self.default_baudrate
        self._clock = clock
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._decoder = self.new_decoder()

    @abc.abstractmethod
    def new_decoder(self) -> Decoder:
        """A fresh decoder for this family's wire format."""

    async def open(self) -> None:
        self._decoder = self.new_decoder()
        self._reader, self._writer = await open_serial(self.url, self.baudrate)
        await self.on_open()

    async def on_open(self) -> None:
        """Send whatever the receiver needs after the port opens (handshake, mode)."""

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            # The port may be gone already; closing it is all that was asked.
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()

    async def write(self, data: bytes) -> None:
        """Send bytes to the receiver; a lost link raises :class:`ReceiverUnavailable`."""
        if self._writer is None:
            raise ReceiverUnavailable(f"receiver {self.name} is not open")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (OSError, ConnectionError) as exc:
            raise ReceiverUnavailable(f"receiver {self.name}: write failed: {exc}") from None

    async def events(self) -> AsyncIterator[ReceiverEvent]:
        reader = self._reader
        if reader is None:
            raise ReceiverUnavailable(f"receiver {self.name} is not open")
        stats = self.stats
        while True:
            try:
                chunk = await reader.read(READ_CHUNK)
            except (OSError, ConnectionError) as exc:
                raise ReceiverUnavailable(f"receiver {self.name}: link lost: {exc}") from None
            if not chunk:
                raise ReceiverUnavailable(f"receiver {self.name}: link closed by the other end")
            now = self._clock()
            for frame in self._decoder.feed(chunk):
                if isinstance(frame, KeyFrame):
                    stats.presses += 1
                elif isinstance(frame, RejectedFrame):
                    stats.rejected += 1
                elif isinstance(frame, NoiseFrame):
                    stats.noise += 1
                    continue
                stats.frames += 1
                event = stamp(frame, self.name, now)
                if event is not None:
                    yield event
                else:
                    await self.on_frame(frame)

    async def on_frame(self, frame: object) -> None:
        """Handle a family-specific frame that is not a handset event (status, ack echoes)."""
