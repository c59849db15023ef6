"""A Beyond Question receiver on its CDC-ACM serial port (one-way: it never acknowledges)."""

from __future__ import annotations

from drivers.beyondq.codec import FrameDecoder
from drivers.serial_receiver import Decoder, SerialReceiver

BAUDRATE = 38400  # the receiver's fixed CDC-ACM line rate
USB_VENDOR_ID = 0x0471  # Philips: the receiver's USB identity, for finding its port
USB_PRODUCT_ID = 0x0888


class BeyondQReceiver(SerialReceiver):
    """Beyond Question keypad votes and presence from the receiver's 9-byte frames."""

    family = "beyondq"
    default_baudrate = BAUDRATE

    def new_decoder(self) -> Decoder:
        return FrameDecoder()
