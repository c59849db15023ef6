"""A simulated ARS-RX receiver: the protocol spoken with the production codec, handsets
answered by the host.

The firmware follows ``docs/protocols/arsrx.md``: it boots UNCONFIGURED and reports nothing
but STATUS until a HELLO in a common version puts it in IDLE; POLL_OPEN and POLL_CLOSE move
it between IDLE and POLLING; a host silent for ``host_silence_s`` sends it back to
UNCONFIGURED. Every heard press goes to the host as PRESS (sequence number, RSSI, battery),
and the host's PRESS_REPLY goes over the air to the handset (:meth:`Air.ack` with the
matching reason), which stops retransmitting and shows the reason. Handset hellos are
answered by the receiver itself and reported as HANDSET_HELLO, flagged as joins in pairing
mode. STATUS goes out every ``status_period_s`` of wall-clock time.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

from drivers.arsrx.codec import DELIMITER, Frame, FrameDecoder, UnreadableFrame
from drivers.arsrx.frames import (
    COMMANDS,
    Body,
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
from drivers.arsrx.spec import (
    HOST_SILENCE_S,
    PROTOCOL_VERSION,
    STATUS_PERIOD_S,
    Capability,
    DisplayTarget,
    FrameType,
    NakCode,
    Reason,
    RxState,
)
from drivers.base import ProtocolError, RejectedFrame
from firmware_sim.link import SimEndpoint
from firmware_sim.radio import PING_KEY, AckReason, Air, Transmission
from firmware_sim.receiver import SimulatedReceiver

FAMILY = "arsrx"
ID_FAMILY = "arsrx"
HOST_ACKS = True
ONE_WAY = False
BAUDRATE = 115200

FIRMWARE = "arsbridge-sim 1.0"
UID = 0x5EED0001  # the simulated receiver's serial number
DEFAULT_CHANNEL = 41
MAX_CHANNEL = 125  # nRF24 RF_CH: 2400 + channel MHz, 0..125
MAX_HANDSETS = 1000
QUEUE_CAPACITY = 32  # events the firmware can hold for the host
CAPABILITIES = (
    Capability.RECEIVER_DISPLAY
    | Capability.HANDSET_DISPLAY
    | Capability.PAIRING
    | Capability.RSSI
    | Capability.BATTERY
    | Capability.MULTI_KEY
)
SILENCE_CHECK_S = 0.5  # how often a receiver that sends no STATUS still checks for host silence

AIR_REASONS = {
    Reason.ACCEPTED: AckReason.ACCEPTED,
    Reason.CLOSED: AckReason.CLOSED,
    Reason.NOT_PAIRED: AckReason.NOT_PAIRED,
    Reason.INVALID_KEY: AckReason.INVALID_KEY,
}


class _WholeFrames(SimEndpoint):
    """``inner`` with writes one at a time, so frames from concurrent tasks never interleave."""

    def __init__(self, inner: SimEndpoint) -> None:
        super().__init__()
        self.inner = inner
        self.received = inner.received
        self.url = inner.url
        self._lock = asyncio.Lock()

    async def send(self, data: bytes) -> None:
        async with self._lock:
            await self.inner.send(data)

    async def close(self) -> None:
        await self.inner.close()


class ArsRxSimulator(SimulatedReceiver):
    """ARS-RX receiver firmware between an :class:`Air` (``host_acks=True``) and a host link."""

    family = FAMILY

    def __init__(
        self,
        endpoint: SimEndpoint,
        air: Air,
        *,
        speed: float = 1.0,
        channel: int = DEFAULT_CHANNEL,
        versions: tuple[int, int] = (PROTOCOL_VERSION, PROTOCOL_VERSION),
        capabilities: Capability = CAPABILITIES,
        status_period_s: float | None = STATUS_PERIOD_S,
        host_silence_s: float = HOST_SILENCE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not air.host_acks:
            raise ValueError("ARS-RX handsets are answered by the host: use Air(host_acks=True)")
        super().__init__(_WholeFrames(endpoint), air, speed=speed)
        self.state = RxState.UNCONFIGURED
        self.pairing = False
        self.channel = channel
        self.round = 0
        self.options = 0
        self.display: dict[DisplayTarget, str] = {}
        self.versions = versions
        self.capabilities = capabilities
        self.status_period_s = status_period_s  # None: never sends STATUS (a hung firmware)
        self.host_silence_s = host_silence_s
        self.muted: set[FrameType] = set()  # commands heard and never answered
        self.commands: Counter[FrameType] = Counter()  # every sound command heard, by type
        self.replies: Counter[Reason] = Counter()  # PRESS_REPLYs passed to handsets
        self.queue_depth = 0  # events waiting for the host, as STATUS reports them
        self.heard = self.crc_errors = self.queue_overflows = self.ack_drops = 0
        self.host_errors = 0
        self._clock = clock
        self._started = self._last_host = clock()
        self._seq = 0
        self._decoder = FrameDecoder(COMMANDS)

    # The radio side.

    def encode(self, tx: Transmission) -> bytes:
        self.heard += 1
        if self.state is RxState.UNCONFIGURED:
            return b""  # no host to tell: the handset keeps trying until it gives up
        try:
            if tx.key == PING_KEY:
                self.air.ack(tx.handset, tx.seq)  # a hello is answered by the receiver itself
                return self._frame(HandsetHello(tx.handset, self.pairing, tx.rssi, tx.battery))
            return self._frame(PressEvent(tx.handset, tx.seq, tx.key, tx.rssi, tx.battery))
        except ProtocolError:
            self.crc_errors += 1  # a packet the protocol cannot carry counts as a bad packet
            return b""

    # The host side.

    def banner(self) -> bytes:
        return bytes((DELIMITER,))  # a booted receiver starts the host's decoder clean

    def on_host(self, data: bytes) -> bytes:
        out = bytearray()
        for item in self._decoder.feed(data):
            if isinstance(item, Frame):
                self._last_host = self._clock()
                out += self._command(item)
            elif isinstance(item, UnreadableFrame):
                self._last_host = self._clock()
                self.host_errors += 1
                out += self._frame(CommandNak(item.seq, item.frame_type, _nak_code(item)))
            elif isinstance(item, RejectedFrame):
                self.host_errors += 1
        return bytes(out)

    def report_error(self, code: int, text: str = "") -> bytes:
        """The bytes of an unsolicited ERROR event (send them with ``endpoint.send``)."""
        return self._frame(ErrorEvent(code, text))

    def check_host(self) -> None:
        """Drop to UNCONFIGURED when the host has sent nothing for ``host_silence_s``."""
        if (
            self.state is not RxState.UNCONFIGURED
            and self._clock() - self._last_host > self.host_silence_s
        ):
            self.state, self.pairing = RxState.UNCONFIGURED, False

    def status(self) -> Status:
        """The STATUS this firmware would send now."""
        return Status(
            self.state,
            self.pairing,
            self.channel,
            self.round,
            self.queue_depth,
            int(self._clock() - self._started) & 0xFFFFFFFF,
            self.heard & 0xFFFFFFFF,
            self.crc_errors,
            self.queue_overflows,
            self.ack_drops,
            self.host_errors,
        )

    def _command(self, frame: Frame) -> bytes:
        body = frame.body
        self.commands[body.TYPE] += 1
        if body.TYPE in self.muted:
            return b""
        if isinstance(body, Hello):
            return self._hello(frame.seq, body)
        if isinstance(body, StatusRequest):
            return self._frame(self.status()) + self._ack(frame)
        if isinstance(body, PressReply):
            if self.state is not RxState.UNCONFIGURED:
                self.replies[body.reason] += 1
                self.air.ack(body.handset, body.press_seq, AIR_REASONS[body.reason])
            return b""  # PRESS_REPLY is never acknowledged
        if self.state is RxState.UNCONFIGURED:
            return self._nak(frame, NakCode.NOT_CONFIGURED)
        if isinstance(body, SetChannel):
            if body.channel > MAX_CHANNEL:
                return self._nak(frame, NakCode.BAD_CHANNEL)
            self.channel = body.channel
        elif isinstance(body, PollOpen):
            self.state, self.round, self.options = RxState.POLLING, body.round, body.options
        elif isinstance(body, PollClose):
            self.state = RxState.IDLE
        elif isinstance(body, Pairing):
            self.pairing = body.enabled
        elif isinstance(body, Display):
            needed = (
                Capability.RECEIVER_DISPLAY
                if body.target is DisplayTarget.RECEIVER
                else Capability.HANDSET_DISPLAY
            )
            if needed not in self.capabilities:
                return self._nak(frame, NakCode.UNSUPPORTED)
            self.display[body.target] = body.text
        return self._ack(frame)

    def _hello(self, seq: int, hello: Hello) -> bytes:
        low, high = self.versions
        top = min(high, hello.max_version)
        chosen = top if max(low, hello.min_version) <= top else 0
        info = ReceiverInfo(
            chosen,
            low,
            high,
            self.capabilities,
            MAX_HANDSETS,
            QUEUE_CAPACITY,
            self.channel,
            UID,
            FIRMWARE,
        )
        if not chosen:
            self.state = RxState.UNCONFIGURED
            return self._frame(info) + self._frame(
                CommandNak(seq, Hello.TYPE, NakCode.UNSUPPORTED_VERSION)
            )
        # A HELLO starts a new session: polling closed, pairing off, channel kept.
        self.state, self.pairing, self.round = RxState.IDLE, False, 0
        return self._frame(info) + self._frame(CommandAck(seq, Hello.TYPE))

    def _ack(self, frame: Frame) -> bytes:
        return self._frame(CommandAck(frame.seq, frame.body.TYPE))

    def _nak(self, frame: Frame, code: NakCode) -> bytes:
        return self._frame(CommandNak(frame.seq, frame.body.TYPE, code))

    def _frame(self, body: Body) -> bytes:
        seq, self._seq = self._seq, (self._seq + 1) % 256
        return Frame(seq, body).to_bytes()

    # Running: the STATUS beacon runs beside the base class's loops.

    async def background(self) -> None:
        await self._send_status()

    async def _send_status(self) -> None:
        while True:
            self.check_host()
            if self.status_period_s is None:
                await asyncio.sleep(SILENCE_CHECK_S)
                continue
            await self.endpoint.send(self._frame(self.status()))
            await asyncio.sleep(self.status_period_s)


def _nak_code(item: UnreadableFrame) -> NakCode:
    if item.frame_type not in COMMANDS:
        return NakCode.UNKNOWN_COMMAND
    if item.version != PROTOCOL_VERSION:
        return NakCode.UNSUPPORTED_VERSION
    return NakCode.BAD_PAYLOAD


def create_simulator(endpoint: SimEndpoint, air: Air, *, speed: float = 1.0) -> ArsRxSimulator:
    """An ARS-RX receiver on ``endpoint`` hearing ``air`` (which must have ``host_acks=True``)."""
    return ArsRxSimulator(endpoint, air, speed=speed)
