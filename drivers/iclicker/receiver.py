"""An i>clicker base station (USB HID 1881:0150) as a :class:`~drivers.base.Receiver`.

Opening finds and claims the base (:mod:`drivers.iclicker.transport`), tells a v1 from a v2
base by its manufacturer string and sends the start-up sequence. :meth:`set_poll` opens and
closes voting with the sequences working drivers use and shows the theme and the number of
voters on the base's LCD. Every report goes through :class:`ResponseReader`, so each (ID,
answer, index) reaches the bridge once. A v1 base is polled for votes while a poll is open.
Commands are paced as :class:`Pacing` says; tests shrink it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from drivers.base import (
    KeyFrame,
    NoiseFrame,
    PollState,
    ProtocolError,
    Receiver,
    ReceiverConfigError,
    ReceiverError,
    ReceiverEvent,
    ReceiverUnavailable,
    RejectedFrame,
    stamp,
)
from drivers.iclicker import commands as cmds
from drivers.iclicker.codec import CommandAck, Generation, PullReport, decode_report
from drivers.iclicker.commands import Command, CounterOp, Op
from drivers.iclicker.responses import ResponseReader
from drivers.iclicker.transport import READ_TIMEOUT_MS, BaseIdentity, BaseSelector, UsbLink

log = logging.getLogger(__name__)

CONFIG_GAP_S = 0.2  # iclickerpoll and FreePoll sleep ~200 ms around configuration commands
ACK_TIMEOUT_S = 1.0  # longest wait for ``01 <op> AA``; the base answers within one read
LCD_GAP_S = 0.1  # iclickerpoll: LCD writes "mess up the screen if sent too frequently"
LCD_REFRESH_S = 0.4  # FreePoll refreshes its LCD line every 400 ms
PULL_INTERVAL_S = 0.5  # v1: how often the host asks for votes while a poll is open
PULL_TIMEOUT_S = 2.0  # v1: longest wait for the last ``02 18`` report of one pull
MAX_DRAIN_PULLS = 40  # v1: pulls after closing, each up to 4 x 14 records
IDLE_LCD = "arsbridge"


@dataclass(frozen=True, slots=True)
class Pacing:
    """Delays between what the host sends; :data:`PACING` is what working drivers use."""

    config_gap_s: float = CONFIG_GAP_S
    ack_timeout_s: float = ACK_TIMEOUT_S
    lcd_gap_s: float = LCD_GAP_S
    lcd_refresh_s: float = LCD_REFRESH_S
    pull_interval_s: float = PULL_INTERVAL_S
    pull_timeout_s: float = PULL_TIMEOUT_S
    read_timeout_ms: int = READ_TIMEOUT_MS


PACING = Pacing()


@dataclass(frozen=True, slots=True)
class _End:
    error: ReceiverError | None


class IClickerReceiver(Receiver):
    """One i>clicker base, v1 or v2, found through pyusb on ``backend`` (default libusb1)."""

    family = "iclicker-usb"

    def __init__(
        self,
        name: str,
        url: str = "usb",
        *,
        channel: str | None = None,
        backend: Any = None,
        pacing: Pacing = PACING,
        instructor: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name)
        self.selector = BaseSelector.parse(url)
        try:
            self.channel = cmds.parse_channel(channel or cmds.DEFAULT_CHANNEL)
            if instructor is not None:
                cmds.instructor(instructor, Generation.V2)
        except ProtocolError as exc:
            raise ReceiverConfigError(f"receiver {name}: {exc}") from None
        self.instructor = instructor
        self.pacing = pacing
        self._backend = backend
        self._clock = clock
        self.identity: BaseIdentity | None = None
        self.generation: Generation | None = None
        self.reader = ResponseReader()
        self.lcd = ["", ""]  # what this driver last wrote on the base's LCD
        self._link: UsbLink | None = None
        self._events: asyncio.Queue[ReceiverEvent | _End] = asyncio.Queue()
        self._commands = asyncio.Lock()  # one command sequence at a time, so answers match
        self._acks: dict[int, asyncio.Future[None]] = {}
        self._pull_done: asyncio.Future[None] | None = None
        self._pull_index = 0
        self._pulled = 0
        self._poll: PollState | None = None
        self._voters: set[str] = set()
        self._lcd_at = float("-inf")
        self._tasks: set[asyncio.Task[None]] = set()

    # The Receiver interface.

    async def open(self) -> None:
        if self._link is not None:
            await self.close()
        self._events = asyncio.Queue()
        self.reader.reset()
        self._poll, self._pull_index = None, 0
        self._link = UsbLink(
            self.name,
            self.selector,
            backend=self._backend,
            read_timeout_ms=self.pacing.read_timeout_ms,
        )
        try:
            self.identity = await self._link.open(self._on_report, self._on_lost)
            self.generation = self.selector.generation or self.identity.generation
            if self.generation is None:
                log.warning(
                    "receiver %s: manufacturer %r names no known base; assuming iClicker 2",
                    self.name,
                    self.identity.manufacturer,
                )
                self.generation = Generation.V2
            async with self._commands:
                await asyncio.sleep(self.pacing.config_gap_s)
                await self._sequence(
                    cmds.init_sequence(self.generation, self.channel, self.instructor)
                )
                await self._show(IDLE_LCD, f"{self.name} ch {self.channel}")
        except BaseException:
            await self.close()
            raise
        log.info(
            "receiver %s: i>clicker %s base at %s on channel %s",
            self.name,
            self.generation,
            self.identity.url,
            self.channel,
        )

    async def close(self) -> None:
        await self._stop_tasks()
        link, self._link = self._link, None
        if link is not None:
            await link.close()
        self._fail_waiters(ReceiverUnavailable(f"receiver {self.name} is closed"))
        self._poll = None
        self._events.put_nowait(_End(None))

    async def events(self) -> AsyncIterator[ReceiverEvent]:
        queue = self._events
        while True:
            item = await queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item

    async def set_poll(self, state: PollState) -> None:
        """Open or close voting on the base and show the theme and the voters on its LCD."""
        generation = self._require_open()
        if state.open:
            await self._open_poll(generation, state)
        else:
            await self._close_poll(generation, state)

    @property
    def voters(self) -> int:
        """Handsets heard since the poll opened (what the LCD shows)."""
        return len(self._voters)

    # Polls.

    async def _open_poll(self, generation: Generation, state: PollState) -> None:
        async with self._commands:
            if self._poll is not None and self._poll.round == state.round:
                self._poll = state  # the same round again (extended): keep the base's index
                await self._show(state.title or "Voting open", f"Votes: {len(self._voters)}")
                return
            # Set first: the base reports votes as soon as ``01 11`` reaches it.
            self._poll, self._pull_index = state, 0
            self._voters.clear()
            await self._sequence(cmds.start_sequence(generation))
            await self._show(state.title or "Voting open", f"Votes: {len(self._voters)}")
            # Spawned and stopped under the lock, so a close cannot slip in between.
            self._spawn(self._refresh_lcd())
            if generation is Generation.V1:
                self._spawn(self._keep_pulling())

    async def _close_poll(self, generation: Generation, state: PollState) -> None:
        async with self._commands:
            await self._stop_tasks()
            await self._sequence(cmds.stop_sequence(generation))
            if generation is Generation.V1:
                for _ in range(MAX_DRAIN_PULLS):
                    if not await self._pull():
                        break
                await self._send(cmds.counter(CounterOp.SUMMARY))
            title = state.title or (self._poll.title if self._poll else "") or "Voting closed"
            self._poll = None
            await self._show(title, f"Closed: {len(self._voters)}")

    async def _refresh_lcd(self) -> None:
        shown = 0
        while True:
            await asyncio.sleep(self.pacing.lcd_refresh_s)
            if len(self._voters) != shown:
                shown = len(self._voters)
                async with self._commands:
                    await self._lcd(2, f"Votes: {shown}")

    async def _keep_pulling(self) -> None:
        while True:
            await asyncio.sleep(self.pacing.pull_interval_s)
            async with self._commands:
                await self._pull()

    async def _pull(self) -> int:
        """v1: ask for the votes after the last index read; how many records came back."""
        self._pulled = 0
        self._pull_done = asyncio.get_running_loop().create_future()
        try:
            await self._send(cmds.pull(self._pull_index))
            # Not asyncio.wait_for: on 3.11 it swallows a cancel that races the result.
            async with asyncio.timeout(self.pacing.pull_timeout_s):
                await self._pull_done
        except TimeoutError:
            self._count("pull_timeouts")
        finally:
            _settle(self._pull_done)
            self._pull_done = None
        return self._pulled

    # Commands.

    async def _sequence(self, sequence: Iterable[Command]) -> None:
        for cmd in sequence:
            if cmd.op == Op.COUNTER and cmd.args[:1] == bytes((CounterOp.RESET_COUNT,)):
                self.reader.reset()  # the base's response index restarts with this command
            await self._send(cmd, required=cmd.op == Op.SET_FREQUENCY)
            await asyncio.sleep(self.pacing.config_gap_s)

    async def _send(self, cmd: Command, *, required: bool = False) -> None:
        """Send ``cmd`` and wait for its answer; a missing answer is counted (or raises)."""
        link = self._link
        if link is None:
            raise ReceiverUnavailable(f"receiver {self.name} is not open")
        waiter: asyncio.Future[None] | None = None
        if cmd.answered:
            waiter = self._acks[cmd.op] = asyncio.get_running_loop().create_future()
        try:
            await link.write(cmd.to_bytes())
            if waiter is not None:
                async with asyncio.timeout(self.pacing.ack_timeout_s):
                    await waiter
        except TimeoutError:
            self._count("missing_acks")
            if required:
                raise ReceiverUnavailable(
                    f"receiver {self.name}: the base did not answer {cmd}"
                ) from None
            log.debug("receiver %s: no answer to %s", self.name, cmd)
        finally:
            if waiter is not None:
                if self._acks.get(cmd.op) is waiter:
                    del self._acks[cmd.op]
                _settle(waiter)

    async def _show(self, line1: str, line2: str) -> None:
        await self._lcd(1, line1)
        await self._lcd(2, line2)

    async def _lcd(self, line: int, text: str) -> None:
        cmd = cmds.lcd_line(line, text)
        loop = asyncio.get_running_loop()
        wait = self._lcd_at + self.pacing.lcd_gap_s - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        await self._send(cmd)
        self._lcd_at = loop.time()
        self.lcd[line - 1] = cmd.args.decode("ascii")

    # Reports, on the event loop.

    def _on_report(self, data: bytes) -> None:
        report = decode_report(data)
        self._count("reports")
        if isinstance(report, CommandAck):
            waiter = self._acks.get(report.op)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif isinstance(report, PullReport):
            self._pull_index = report.last_index
            self._pulled += len(report.records)
            if not report.more and self._pull_done is not None and not self._pull_done.done():
                self._pull_done.set_result(None)
        now = self._clock()
        stats = self.stats
        for frame in self.reader.frames(report):
            stats.frames += 1
            if isinstance(frame, NoiseFrame):
                stats.noise += 1
                continue
            if isinstance(frame, KeyFrame):
                stats.presses += 1
                if self._poll is not None:
                    self._voters.add(frame.handset)
            elif isinstance(frame, RejectedFrame):
                stats.rejected += 1
            event = stamp(frame, self.name, now)
            if event is not None:
                self._events.put_nowait(event)
        stats.extra.update(self.reader.counts)

    def _on_lost(self, error: ReceiverError) -> None:
        log.debug("%s", error)  # the supervisor reports it
        self._fail_waiters(error)
        self._events.put_nowait(_End(error))

    # Helpers.

    def _require_open(self) -> Generation:
        if self._link is None or self.generation is None:
            raise ReceiverUnavailable(f"receiver {self.name} is not open")
        return self.generation

    def _count(self, what: str) -> None:
        self.stats.extra[what] = self.stats.extra.get(what, 0) + 1

    def _fail_waiters(self, error: ReceiverError) -> None:
        waiters = [*self._acks.values(), self._pull_done]
        for fut in waiters:
            if fut is not None and not fut.done():
                fut.set_exception(error)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro, name=f"iclicker-{self.name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, ReceiverError):
            log.debug("receiver %s: background task ended: %s", self.name, exc)
        elif exc is not None:
            log.error("receiver %s: background task failed: %r", self.name, exc)

    async def _stop_tasks(self) -> None:
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ReceiverError):
                await task


def _settle(fut: asyncio.Future[None] | None) -> None:
    """Mark a failure nobody waits for any more as seen (the link died mid-command)."""
    if fut is not None and fut.done() and not fut.cancelled():
        fut.exception()
