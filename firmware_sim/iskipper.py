"""A simulated iSkipper receiver: prints what the real firmware prints for each heard packet.

Two firmwares, chosen by ``form``:

- ``sketch`` (the default): wizard97's ``capture`` sketch. It listens from boot, acknowledges
  every answer itself (so handsets stop retransmitting) and prints, per packet, a debug line
  (the radio packet's fourth byte) and ``Captured: A (42, 80, 71, B3)``.
- ``software``: charlescao460's iSkipper-Software. It prompts every three seconds until the
  host connects (``I``) and starts capturing (``C``), then prints ``Captured,A,428071B3``.
  The real firmware does not acknowledge in capture mode; a test that wants that realism
  builds its :class:`~firmware_sim.radio.Air` with ``one_way=True``.

Both encode with the production codec of :mod:`drivers.iskipper.codec`.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from drivers.base import ProtocolError
from drivers.iskipper.codec import (
    PING,
    SOFTWARE_ID,
    CaptureForm,
    CommandReader,
    FirmwareState,
    HostCommand,
    encode_capture,
    encode_debug_line,
    encode_status,
    parse_channel,
)
from firmware_sim.link import SimEndpoint
from firmware_sim.radio import PING_KEY, Air, Transmission
from firmware_sim.receiver import SimulatedReceiver, stream_bytes

FAMILY = "iskipper"
ID_FAMILY = "iclicker"
HOST_ACKS = False
ONE_WAY = False  # the capture sketch acknowledges each capture itself
BAUDRATE = 115200

PROMPT_INTERVAL_S = 3.0  # iSkipper-Software repeats its prompt this often while idle
NOISE_RATE = 1.0  # the 2017 captures hold about one debug line per capture line
SKETCH_BANNER = b"Started promiscous\r\n"  # sic: what capture.ino prints after boot
ACK_LINE = b"\x06\r\n"  # iSkipper-Software's "success" byte, printed with println


class SimulatedIskipper(SimulatedReceiver):
    """An iSkipper receiver between the air and a host link."""

    family = FAMILY

    def __init__(
        self,
        endpoint: SimEndpoint,
        air: Air,
        *,
        speed: float = 1.0,
        form: CaptureForm = "sketch",
        noise_rate: float = NOISE_RATE,
        seed: int = 0,
    ) -> None:
        super().__init__(endpoint, air, speed=speed)
        if form not in ("sketch", "software"):
            raise ValueError(f"form must be 'sketch' or 'software', got {form!r}")
        if not 0.0 <= noise_rate <= 1.0:
            raise ValueError(f"noise_rate must be between 0 and 1, got {noise_rate}")
        self.form: CaptureForm = form
        self.noise_rate = noise_rate
        self.state = FirmwareState.CAPTURING if form == "sketch" else FirmwareState.AWAITING_HOST
        self.channel = "AA"
        self.captures_sent = 0  # capture lines printed (answers and pings)
        self.capturing = asyncio.Event()  # set while captures are printed
        if self.state is FirmwareState.CAPTURING:
            self.capturing.set()
        self._rng = random.Random(seed)
        self._commands = CommandReader()

    # What goes to the host.

    def encode(self, tx: Transmission) -> bytes:
        if self.state is not FirmwareState.CAPTURING:
            return b""  # not listening: iSkipper-Software hears nothing until told to capture
        key = PING if tx.key == PING_KEY else tx.key
        noise = b""
        if self._rng.random() < self.noise_rate:
            noise = encode_debug_line(tx.handset, key)
        self.captures_sent += 1
        return noise + encode_capture(tx.handset, key, self.form)

    def banner(self) -> bytes:
        if self.form == "sketch":
            return SKETCH_BANNER
        return self._prompt()

    def _prompt(self) -> bytes:
        if self.state in (FirmwareState.AWAITING_HOST, FirmwareState.STANDBY):
            return encode_status(self.state)
        return b""

    # What comes from the host.

    def on_host(self, data: bytes) -> bytes:
        if self.form == "sketch":
            return b""  # the capture sketch never reads its serial port
        commands = self._commands.feed(data)
        reply = b"".join(self._command(c) for c in commands)
        # The firmware's idle loop prompts at once after a command that left it idle.
        if commands and self.state is FirmwareState.STANDBY:
            reply += encode_status(FirmwareState.STANDBY)
        return reply

    def _command(self, command: HostCommand) -> bytes:
        state = self.state
        if state is FirmwareState.CAPTURING:
            if command.op != "s":
                return b""  # capturing, the firmware only looks for the stop byte
            return self._enter(FirmwareState.STANDBY, encode_status(FirmwareState.STOPPED))
        if state is FirmwareState.AWAITING_HOST:
            if command.op != "I":
                return b""  # it discards everything until the connect command
            hello = b"Connection Established! iSkipper ID:\r\n" + ACK_LINE
            return self._enter(FirmwareState.STANDBY, hello + SOFTWARE_ID.encode() + b"\r\n")
        if command.op == "C":
            return self._enter(
                FirmwareState.CAPTURING, encode_status(FirmwareState.CAPTURING) + ACK_LINE
            )
        if command.op == "c":
            try:
                self.channel = parse_channel(command.argument)
            except ProtocolError:
                self.channel = "AA"
                return b"Illegal input Channel, set to default AA channel\r\n\xff\r\n"
            return ACK_LINE + f"Successfully change channel to: {self.channel}\r\n".encode()
        if command.op == "R":
            return self._enter(FirmwareState.AWAITING_HOST, b"")
        return b""  # anything else falls through to the idle prompt

    def _enter(self, state: FirmwareState, reply: bytes) -> bytes:
        self.state = state
        if state is FirmwareState.CAPTURING:
            self.capturing.set()
        else:
            self.capturing.clear()
        return reply

    # Running: iSkipper-Software prompts while idle, whatever the air does.

    async def background(self) -> None:
        if self.form == "software":
            await self._prompt_while_idle()

    async def _prompt_while_idle(self) -> None:
        while True:
            await asyncio.sleep(PROMPT_INTERVAL_S / self.speed)
            if prompt := self._prompt():
                await self.endpoint.send(prompt)


def create_simulator(
    endpoint: SimEndpoint,
    air: Air,
    *,
    speed: float = 1.0,
    form: CaptureForm = "sketch",
    noise_rate: float = NOISE_RATE,
) -> SimulatedIskipper:
    """A simulated iSkipper receiver on ``endpoint`` hearing ``air``."""
    return SimulatedIskipper(endpoint, air, speed=speed, form=form, noise_rate=noise_rate)


async def replay_capture(endpoint: SimEndpoint, path: Path, *, speed: float = 1.0) -> None:
    """Send a recorded iSkipper capture at the serial line's pace, ``speed`` times faster."""
    # A capture is tens of kilobytes, read once before streaming starts: no stall worth a thread.
    data = path.read_bytes()  # noqa: ASYNC240
    await stream_bytes(endpoint, data, baudrate=BAUDRATE, speed=speed)
