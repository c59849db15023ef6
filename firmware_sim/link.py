"""Where a simulated receiver meets the host: a pseudo-terminal or a TCP port.

The host side opens ``endpoint.url`` exactly as it would open hardware: a pty's device
path through pyserial, or ``socket://127.0.0.1:PORT``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import errno
import os
import tty


class SimEndpoint(abc.ABC):
    """The simulator's end of a serial-like link."""

    url: str

    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    @abc.abstractmethod
    async def send(self, data: bytes) -> None:
        """Write bytes towards the host, waiting while the link is full or not yet connected."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Tear the link down; the host sees the port vanish."""

    async def __aenter__(self) -> SimEndpoint:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class PtyEndpoint(SimEndpoint):
    """A pseudo-terminal pair; ``url`` is the slave device path the host opens."""

    def __init__(self) -> None:
        super().__init__()
        self._master, self._slave = os.openpty()
        # Raw mode: no echo of host writes back to us, no CR/LF translation.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.url = os.ttyname(self._slave)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._master, self._on_readable)
        self._closed = False
        self._sending = asyncio.Lock()

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:  # no process has the slave open right now
                return
            raise
        if data:
            self.received.put_nowait(data)

    async def send(self, data: bytes) -> None:
        # One write at a time: a write that waits for room must not let another's bytes in.
        async with self._sending:
            await self._send(data)

    async def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._closed:
            try:
                n = os.write(self._master, view)
            except BlockingIOError:
                await self._writable()
                continue
            view = view[n:]

    async def _writable(self) -> None:
        fut: asyncio.Future[None] = self._loop.create_future()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        self._loop.add_writer(self._master, ready)
        try:
            await fut
        finally:
            self._loop.remove_writer(self._master)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._master)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class TcpEndpoint(SimEndpoint):
    """A TCP listener on loopback; ``url`` is ``socket://127.0.0.1:PORT``. One host at a time.

    A host that goes away (closed, reset or killed) is dropped at the first failed write, and
    sending waits for the next one: a simulator never spins on a dead connection.
    """

    def __init__(self) -> None:
        super().__init__()
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._host: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.url = ""

    @classmethod
    async def start(cls, host: str = "127.0.0.1", port: int = 0) -> TcpEndpoint:
        self = cls()
        self._server = await asyncio.start_server(self._on_client, host, port)
        bound = self._server.sockets[0].getsockname()
        self.url = f"socket://{bound[0]}:{bound[1]}"
        return self

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._writer is not None:
            writer.close()  # one host at a time, as with a serial port
            return
        self._writer = writer
        self._host = asyncio.current_task()
        self._connected.set()
        try:
            while data := await reader.read(65536):
                self.received.put_nowait(data)
        except ConnectionError:
            pass  # the host went away; wait for the next one
        finally:
            self._drop(writer)
            self._host = None

    def _drop(self, writer: asyncio.StreamWriter) -> None:
        """Forget ``writer`` if it is still the host's, so that sends wait for the next."""
        if self._writer is writer:
            self._writer = None
            self._connected.clear()
        writer.close()

    async def wait_connected(self) -> None:
        """Wait until a host has connected."""
        await self._connected.wait()

    async def send(self, data: bytes) -> None:
        while True:
            await self._connected.wait()
            writer = self._writer
            if writer is None or writer.is_closing():
                if writer is not None:
                    self._drop(writer)
                continue
            try:
                writer.write(data)
                await writer.drain()
            except ConnectionError:
                self._drop(writer)
                continue
            return

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        host, writer = self._host, self._writer
        if writer is not None:
            self._drop(writer)
        if host is not None:
            # The host's reader sees the closed connection and ends by itself; waiting for
            # it here keeps it from being cancelled half-way when the event loop stops.
            await asyncio.wait([host])
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


async def open_endpoint(kind: str, port: int = 0) -> SimEndpoint:
    """A pty (``kind == "pty"``) or a TCP endpoint (``"tcp"``) for a simulated receiver."""
    if kind == "pty":
        return PtyEndpoint()
    if kind == "tcp":
        return await TcpEndpoint.start(port=port)
    raise ValueError(f"unknown link kind {kind!r}: use 'pty' or 'tcp'")
