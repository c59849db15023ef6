"""The ARS-RX receiver driver: handshake, commands with bounded retries, events, link watch.

After the port opens, a reader task decodes everything the receiver sends: presses and
handset hellos become events, ACK/NAK frames complete the command waiting for them, STATUS
and INFO are kept for technicians. Commands other than PRESS_REPLY are sent one at a time
and retried :attr:`Timing.command_attempts` times; when they all go unanswered, or nothing
sound arrives for :attr:`Timing.link_timeout_s`, the link is marked failed and
:meth:`ArsRxReceiver.events` raises :class:`~drivers.base.ReceiverUnavailable`, so the
supervisor reopens it (and the handshake runs again). PRESS_REPLY is never acknowledged:
a handset that misses its reply sends its press again, and the host answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
import unicodedata
from collections.abc import AsyncIterator, Callable
from sys import intern

from drivers.arsrx.codec import (
    DELIMITER,
    CaptureDecoder,
    Decoded,
    FrameDecoder,
    UnreadableFrame,
)
from drivers.arsrx.frames import (
    EVENTS,
    Command,
    CommandAck,
    CommandNak,
    Display,
    ErrorEvent,
    HandsetHello,
    Hello,
    Pairing,
    PollClose,
    PollOpen,
    PressEvent,
    PressReply,
    ReceiverInfo,
    SetChannel,
    Status,
    StatusRequest,
)
from drivers.arsrx.session import CommandRefused, CommandSession, Timing, code_name
from drivers.arsrx.spec import (
    MAX_TEXT,
    PROTOCOL_VERSION,
    STATUS_PERIOD_S,
    Capability,
    DisplayTarget,
    ErrorCode,
    NakCode,
    Reason,
    RxState,
)
from drivers.base import (
    Ack,
    BadFrame,
    NoiseFrame,
    PollState,
    Presence,
    Press,
    ProtocolError,
    ReceiverConfigError,
    ReceiverError,
    ReceiverEvent,
    ReceiverUnavailable,
    RejectedFrame,
)
from drivers.serial_receiver import READ_CHUNK, SerialReceiver

log = logging.getLogger(__name__)

HOST_VERSIONS = (PROTOCOL_VERSION, PROTOCOL_VERSION)  # lowest and highest version spoken here
MAX_ROUND_NUMBER = 0xFFFF  # round numbers are 16-bit; 0 means "no round"
CLOSED_TEXT = "Voting closed"

REASONS: dict[Ack, Reason] = {
    Ack.ACCEPTED: Reason.ACCEPTED,
    Ack.CLOSED: Reason.CLOSED,
    Ack.NOT_PAIRED: Reason.NOT_PAIRED,
    Ack.INVALID_KEY: Reason.INVALID_KEY,
}


class LinkState(enum.Enum):
    """The host's view of one receiver link."""

    CLOSED = "closed"
    OPENING = "opening"  # port open, handshake running
    READY = "ready"
    FAILED = "failed"  # retries exhausted or link silent; events() raises, reopen to recover


def display_text(text: str) -> str:
    """``text`` as a display can show it: accents dropped, printable ASCII, at most 32 chars."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(c if " " <= c <= "~" else " " for c in plain)[:MAX_TEXT]


class ArsRxReceiver(SerialReceiver):
    """An ARS-RX receiver on a serial port or ``socket://`` URL; it acknowledges presses."""

    family = "arsrx"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        baudrate: int | None = None,
        channel: int | str | None = None,
        timing: Timing | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, url, baudrate=baudrate, clock=clock)
        self.channel = channel
        self.timing = timing or Timing()
        self.state = LinkState.CLOSED
        self.info: ReceiverInfo | None = None  # from the last handshake
        self.last_status: Status | None = None
        self._frames = FrameDecoder(EVENTS)
        self._events: asyncio.Queue[ReceiverEvent | ReceiverError] = asyncio.Queue()
        self._session: CommandSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._rx_seq: int | None = None  # the receiver's last frame sequence number
        self._last_heard = 0.0  # loop time of the last sound frame
        self._rounds: dict[str, int] = {}

    def new_decoder(self) -> CaptureDecoder:
        return CaptureDecoder()

    @property
    def acknowledges(self) -> bool:
        return True

    # Opening and closing.

    async def on_open(self) -> None:
        """Start reading, run the handshake, tune the channel; raises ReceiverError on failure."""
        loop = asyncio.get_running_loop()
        self.state = LinkState.OPENING
        self.info, self.last_status, self._rx_seq = None, None, None
        self._frames = FrameDecoder(EVENTS)
        self._events = asyncio.Queue()
        self._last_heard = loop.time()
        session = self._session = CommandSession(
            self.name, self.write, self.timing, on_failure=self._failed, count=self._count
        )
        self._tasks = [loop.create_task(self._read(), name=f"arsrx-{self.name}-reader")]
        try:
            channel = self._channel_number()
            await self.write(bytes((DELIMITER,)))  # ends any partial frame the receiver holds
            await self._handshake()
            if channel is not None:
                await self._command(SetChannel(channel))
        except BaseException:
            await self.close()
            raise
        self.state = LinkState.READY
        keepalive = loop.create_task(session.keepalive(), name=f"arsrx-{self.name}-keepalive")
        self._tasks.append(keepalive)

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.state is not LinkState.CLOSED:
            self._fail(ReceiverUnavailable(f"receiver {self.name} was closed"))
            self.state = LinkState.CLOSED
        await super().close()

    def _channel_number(self) -> int | None:
        if self.channel is None or isinstance(self.channel, int):
            number = self.channel
        else:
            try:
                number = int(self.channel, 0)
            except ValueError:
                number = -1
        if number is not None and not 0 <= number <= 0xFF:
            raise ReceiverConfigError(
                f"receiver {self.name}: channel {self.channel!r} is not 0..255"
            )
        return number

    async def _handshake(self) -> None:
        low, high = HOST_VERSIONS
        try:
            await self._command(Hello(low, high), attempts=self.timing.handshake_attempts)
        except CommandRefused as exc:
            info = self.info
            if exc.code == NakCode.UNSUPPORTED_VERSION and info is not None:
                raise ReceiverConfigError(
                    f"receiver {self.name} speaks ARS-RX versions {info.min_version}.."
                    f"{info.max_version}; this host speaks {low}..{high} (update one of them)"
                ) from None
            raise ReceiverUnavailable(f"receiver {self.name} refused HELLO: {exc}") from None
        info = self.info
        if info is None:
            raise ReceiverUnavailable(f"receiver {self.name} acknowledged HELLO but INFO was lost")
        if not low <= info.version <= high:
            raise ReceiverConfigError(
                f"receiver {self.name} chose ARS-RX version {info.version}, "
                f"not one of {low}..{high} offered"
            )
        log.info(
            "receiver %s: ARS-RX v%d, firmware %r, channel %d, up to %d handsets",
            self.name,
            info.version,
            info.firmware,
            info.channel,
            info.max_handsets,
        )

    # What the bridge calls.

    async def events(self) -> AsyncIterator[ReceiverEvent]:
        if self.state is LinkState.CLOSED:
            raise ReceiverUnavailable(f"receiver {self.name} is not open")
        queue = self._events
        while True:
            item = await queue.get()
            if isinstance(item, ReceiverError):
                raise item
            yield item

    async def set_poll(self, state: PollState) -> None:
        number = self._round_number(state.round)
        if state.open:
            await self._command(PollOpen(number, min(state.options, 0xFF)))
        else:
            await self._command(PollClose(number))
        text = display_text(state.title if state.open else CLOSED_TEXT)
        caps = self.info.capabilities if self.info is not None else Capability(0)
        if text and Capability.RECEIVER_DISPLAY in caps:
            await self._command(Display(DisplayTarget.RECEIVER, text))
        if text and Capability.HANDSET_DISPLAY in caps:
            await self._command(Display(DisplayTarget.HANDSETS, text))

    async def acknowledge(self, press: Press, ack: Ack) -> None:
        if press.seq is None:
            log.debug(
                "press of %s on %s has no sequence number; not answered", press.handset, self.name
            )
            return
        try:
            reply = PressReply(press.handset, press.seq % 256, REASONS[ack])
        except ProtocolError as exc:
            log.debug("press on %s not answered: %s", self.name, exc)
            return
        await self._commands().send(reply)

    # Technician commands.

    async def set_channel(self, channel: int) -> None:
        """Tune the receiver's radio; raises CommandRefused when it cannot."""
        await self._command(SetChannel(channel))
        self.channel = channel

    async def set_pairing(self, enabled: bool) -> None:
        """Turn pairing mode on or off."""
        await self._command(Pairing(enabled))

    async def show(self, text: str, target: DisplayTarget = DisplayTarget.RECEIVER) -> None:
        """Show ``text`` (made displayable) on the receiver's or the handsets' displays."""
        await self._command(Display(target, display_text(text)))

    async def request_status(self) -> Status:
        """Ask for a STATUS now and return it."""
        await self._command(StatusRequest())
        if self.last_status is None:
            raise ReceiverUnavailable(f"receiver {self.name} acknowledged the request; no STATUS")
        return self.last_status

    # Session plumbing.

    def _commands(self) -> CommandSession:
        if self._session is None:
            raise ReceiverUnavailable(f"receiver {self.name} is not open")
        return self._session

    async def _command(self, body: Command, *, attempts: int | None = None) -> None:
        await self._commands().command(body, attempts=attempts)

    def _fail(self, error: ReceiverError) -> None:
        if self._session is not None:
            self._session.fail(error)  # calls _failed back
        else:
            self._failed(error)

    def _failed(self, error: ReceiverError) -> None:
        if self.state is not LinkState.CLOSED:
            self.state = LinkState.FAILED
        self._events.put_nowait(error)

    # Receiving.

    async def _read(self) -> None:
        reader = self._reader
        if reader is None:
            return
        while self._session is not None and self._session.failure is None:
            try:
                chunk = await self._read_chunk(reader)
            except ReceiverUnavailable as exc:
                self._fail(exc)
                return
            now = self._clock()
            for item in self._frames.feed(chunk):
                self._dispatch(item, now)

    async def _read_chunk(self, reader: asyncio.StreamReader) -> bytes:
        deadline = self._last_heard + self.timing.link_timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await reader.read(READ_CHUNK)
        except TimeoutError:
            raise ReceiverUnavailable(
                f"receiver {self.name} sent nothing sound for {self.timing.link_timeout_s:g} s "
                f"(a receiver sends STATUS every {STATUS_PERIOD_S:g} s); link lost"
            ) from None
        except (OSError, ConnectionError) as exc:
            raise ReceiverUnavailable(f"receiver {self.name}: link lost: {exc}") from None
        if not chunk:
            raise ReceiverUnavailable(f"receiver {self.name}: link closed by the other end")
        return chunk

    def _dispatch(self, item: Decoded, now: float) -> None:
        stats = self.stats
        if isinstance(item, NoiseFrame):
            stats.noise += 1
            return
        stats.frames += 1
        if isinstance(item, RejectedFrame | UnreadableFrame):
            if isinstance(item, UnreadableFrame):
                self._heard(item.seq)  # a sound envelope: the link is alive
            stats.rejected += 1
            self._events.put_nowait(BadFrame(self.name, item.raw, item.reason, now))
            return
        self._heard(item.seq)
        body = item.body
        if isinstance(body, PressEvent):
            stats.presses += 1
            self._events.put_nowait(
                Press(
                    self.name,
                    intern(body.handset),  # one string per handset, as stamp() gives
                    body.keys,
                    now,
                    body.press_seq,
                    body.rssi,
                    body.battery,
                )
            )
        elif isinstance(body, HandsetHello):
            if body.join:
                self._count("joins")
            handset = intern(body.handset)
            self._events.put_nowait(Presence(self.name, handset, now, body.rssi, body.battery))
        elif isinstance(body, CommandAck | CommandNak):
            self._commands().reply(body)
        elif isinstance(body, Status):
            self._status(body)
        elif isinstance(body, ReceiverInfo):
            self.info = body
        elif isinstance(body, ErrorEvent):
            self._count("rx_errors")
            code = code_name(ErrorCode, body.code)
            self.stats.errors += 1
            self.stats.last_error = f"{code}: {body.text}" if body.text else code
            log.warning("receiver %s reports %s: %s", self.name, code, body.text or "(no text)")

    def _heard(self, seq: int) -> None:
        self._last_heard = asyncio.get_running_loop().time()
        if self._rx_seq is not None and (gap := (seq - self._rx_seq - 1) % 256):
            self._count("lost_frames", gap)  # a receiver restart shows up here as well
        self._rx_seq = seq

    def _status(self, status: Status) -> None:
        self.last_status = status
        extra = self.stats.extra
        extra.update(
            rx_channel=status.channel,
            rx_queue_depth=status.queue_depth,
            rx_uptime_s=status.uptime_s,
            rx_heard=status.heard,
            rx_crc_errors=status.crc_errors,
            rx_queue_overflows=status.queue_overflows,
            rx_ack_drops=status.ack_drops,
            rx_host_errors=status.host_errors,
        )
        if status.state is RxState.UNCONFIGURED and self.state is LinkState.READY:
            self._fail(
                ReceiverUnavailable(
                    f"receiver {self.name} reports UNCONFIGURED (it restarted or lost the host); "
                    "reopening the link"
                )
            )

    def _count(self, key: str, n: int = 1) -> None:
        self.stats.extra[key] = self.stats.extra.get(key, 0) + n

    def _round_number(self, round_id: str | None) -> int:
        if round_id is None:
            return 0
        number = self._rounds.get(round_id)
        if number is None:
            number = self._rounds[round_id] = len(self._rounds) % MAX_ROUND_NUMBER + 1
        return number
