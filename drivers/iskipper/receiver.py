"""An iSkipper receiver (Arduino + RFM69) on a serial port or ``socket://`` URL.

The capture sketch prints captures as soon as it boots and needs nothing from the host. The
iSkipper-Software firmware instead prompts until the host connects and starts capturing, so
this receiver answers its prompts rather than sending anything on open: opening an Arduino's
port resets it, and a command sent before it has booted would be lost, whereas the prompts
repeat every three seconds until answered. The capture sketch never prompts, so it is never
sent a byte.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from drivers.base import ProtocolError, ReceiverConfigError
from drivers.iskipper.codec import (
    Command,
    FirmwareState,
    IskipperDecoder,
    StatusFrame,
    encode_channel,
    encode_command,
    parse_channel,
)
from drivers.serial_receiver import SerialReceiver

log = logging.getLogger(__name__)

BAUDRATE = 115200  # both firmwares


class IskipperReceiver(SerialReceiver):
    """Votes from i>clicker remotes as an iSkipper receiver prints them (either firmware)."""

    family = "iskipper"
    default_baudrate = BAUDRATE

    def __init__(
        self,
        name: str,
        url: str,
        *,
        baudrate: int | None = None,
        channel: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, url, baudrate=baudrate, clock=clock)
        try:
            # Only iSkipper-Software can change channel; the capture sketch is built for AA.
            self.channel = parse_channel(channel) if channel else None
        except ProtocolError as exc:
            raise ReceiverConfigError(f"receiver {name}: {exc}") from None
        self.firmware_state: FirmwareState | None = None  # None: the capture sketch, or silent

    def new_decoder(self) -> IskipperDecoder:
        return IskipperDecoder()

    async def open(self) -> None:
        self.firmware_state = None
        await super().open()

    async def on_frame(self, frame: object) -> None:
        """Answer iSkipper-Software's prompts: connect, then set the channel and capture."""
        if not isinstance(frame, StatusFrame):
            return
        self.firmware_state = frame.state
        if frame.state is FirmwareState.AWAITING_HOST:
            await self.write(encode_command(Command.CONNECT))
        elif frame.state is FirmwareState.STANDBY:
            setup = encode_channel(self.channel) if self.channel else b""
            await self.write(setup + encode_command(Command.CAPTURE))
        elif frame.state is FirmwareState.CAPTURING:
            log.info("receiver %s: iSkipper-Software is capturing", self.name)
