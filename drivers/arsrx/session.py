"""The host's half of an ARS-RX session: numbered commands, their ACK/NAK, bounded retries.

Acknowledged commands go one at a time. Each is sent up to ``attempts`` times,
:attr:`Timing.command_timeout_s` apart, with the same frame sequence number (every command
is idempotent). A NAK raises :class:`CommandRefused`, except BUSY, which is retried like
silence. When every attempt goes unanswered the session calls ``on_failure`` and raises
:class:`~drivers.base.ReceiverUnavailable`; the session is then failed for good and the link
must be reopened. PRESS_REPLY goes out unacknowledged (see :meth:`CommandSession.send`).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from drivers.arsrx.codec import Frame
from drivers.arsrx.frames import Command, CommandAck, CommandNak, StatusRequest
from drivers.arsrx.spec import (
    COMMAND_ATTEMPTS,
    COMMAND_TIMEOUT_S,
    HANDSHAKE_ATTEMPTS,
    KEEPALIVE_S,
    LINK_TIMEOUT_S,
    NakCode,
)
from drivers.base import ReceiverError, ReceiverUnavailable

Reply = CommandAck | CommandNak


@dataclass(frozen=True, slots=True)
class Timing:
    """The host's timers (seconds) and retry budgets; the defaults are the protocol's."""

    command_timeout_s: float = COMMAND_TIMEOUT_S
    command_attempts: int = COMMAND_ATTEMPTS
    handshake_attempts: int = HANDSHAKE_ATTEMPTS
    link_timeout_s: float = LINK_TIMEOUT_S
    keepalive_s: float = KEEPALIVE_S


class CommandRefused(ReceiverError):
    """The receiver answered a command with NAK; sending the same command again cannot help."""

    retryable = False

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def code_name(kind: type[enum.IntEnum], code: int) -> str:
    """The name of ``code`` in ``kind``, or its hex value when the code is not known."""
    try:
        return kind(code).name
    except ValueError:
        return f"0x{code:02X}"


class CommandSession:
    """Sends commands to one receiver and matches the receiver's replies to them."""

    def __init__(
        self,
        name: str,
        write: Callable[[bytes], Awaitable[None]],
        timing: Timing,
        *,
        on_failure: Callable[[ReceiverError], None],
        count: Callable[[str], None],
    ) -> None:
        self.name = name
        self.timing = timing
        self.failure: ReceiverError | None = None
        self.last_sent = asyncio.get_running_loop().time()  # loop time of the last frame sent
        self._write = write
        self._on_failure = on_failure
        self._count = count
        self._seq = 0
        self._lock = asyncio.Lock()
        self._pending: dict[int, tuple[int, asyncio.Future[Reply]]] = {}

    async def send(self, body: Command) -> None:
        """Send ``body`` once, unacknowledged (PRESS_REPLY: the handset's retry is the retry)."""
        await self._send(Frame(self._next_seq(), body).to_bytes())

    async def command(self, body: Command, *, attempts: int | None = None) -> CommandAck:
        """Send ``body`` until ACKed; NAK raises CommandRefused, silence fails the session."""
        attempts = attempts or self.timing.command_attempts
        timeout = self.timing.command_timeout_s
        loop = asyncio.get_running_loop()
        async with self._lock:
            seq = self._next_seq()
            wire = Frame(seq, body).to_bytes()
            for attempt in range(1, attempts + 1):
                if self.failure is not None:
                    raise self.failure
                future: asyncio.Future[Reply] = loop.create_future()
                self._pending[seq] = (body.TYPE, future)  # before writing: replies are fast
                try:
                    await self._send(wire)
                    async with asyncio.timeout(timeout):
                        reply = await future
                except TimeoutError:
                    self._count("command_retries" if attempt < attempts else "command_failures")
                    continue
                finally:
                    self._pending.pop(seq, None)
                if isinstance(reply, CommandAck):
                    return reply
                if reply.code != NakCode.BUSY:
                    name = code_name(NakCode, reply.code)
                    raise CommandRefused(
                        f"receiver {self.name} refused {body.TYPE.name}: {name}", reply.code
                    )
                await asyncio.sleep(timeout)  # the receiver asked for time
            error = ReceiverUnavailable(
                f"receiver {self.name} did not answer {body.TYPE.name} after {attempts} "
                f"attempts {timeout:g} s apart; link marked failed"
            )
            self.fail(error)
            raise error

    def reply(self, reply: Reply) -> None:
        """A reply from the receiver: completes the command it names, else counts as stray."""
        entry = self._pending.get(reply.command_seq)
        if entry is None or entry[0] != reply.command or entry[1].done():
            self._count("stray_replies")
            return
        entry[1].set_result(reply)

    def fail(self, error: ReceiverError) -> None:
        """End the session: the waiting command and every later one raise ``error``."""
        if self.failure is not None:
            return
        self.failure = error
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._on_failure(error)

    async def keepalive(self) -> None:
        """Send STATUS_REQUEST whenever nothing was sent for a while, until the session fails."""
        loop = asyncio.get_running_loop()
        while self.failure is None:
            idle = loop.time() - self.last_sent
            if idle < self.timing.keepalive_s:
                await asyncio.sleep(self.timing.keepalive_s - idle)
                continue
            try:
                await self.command(StatusRequest())
            except CommandRefused as exc:
                self.fail(ReceiverUnavailable(f"{exc}; reopening the link"))
            except ReceiverError:
                return  # command() has failed the session already

    def _next_seq(self) -> int:
        seq, self._seq = self._seq, (self._seq + 1) % 256
        return seq

    async def _send(self, wire: bytes) -> None:
        await self._write(wire)
        self.last_sent = asyncio.get_running_loop().time()
