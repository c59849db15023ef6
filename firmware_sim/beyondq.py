"""A simulated Beyond Question receiver: one 9-byte frame per keypad message it hears.

The link is one-way in this model: nothing acknowledges a keypad, so each press goes out as
a fixed number of copies (:attr:`~firmware_sim.radio.RfConditions.copies`). A presence ping
is sent as the log-on button. Frames are built with the production codec; the receiver has
no boot output and ignores whatever the host writes.
"""

from __future__ import annotations

from drivers.beyondq.codec import BUTTON_LOG_ON, ButtonFrame, parse_keypad
from firmware_sim.link import SimEndpoint
from firmware_sim.radio import PING_KEY, Air, Transmission
from firmware_sim.receiver import SimulatedReceiver

FAMILY = "beyondq"
ID_FAMILY = "beyondq"
HOST_ACKS = False
ONE_WAY = True  # no acknowledgements: keypads send a fixed number of copies
BAUDRATE = 38400


class BeyondQSimulator(SimulatedReceiver):
    """The Beyond Question receiver between an :class:`Air` and a serial link."""

    family = FAMILY

    def encode(self, tx: Transmission) -> bytes:
        if tx.key == PING_KEY:
            return ButtonFrame(parse_keypad(tx.handset), BUTTON_LOG_ON).to_bytes()
        return ButtonFrame.for_key(tx.handset, tx.key).to_bytes()


def create_simulator(endpoint: SimEndpoint, air: Air, *, speed: float = 1.0) -> SimulatedReceiver:
    """A Beyond Question receiver on ``endpoint``; ``air`` must be one-way."""
    if air.host_acks != HOST_ACKS or air.one_way != ONE_WAY:
        raise ValueError(
            "a Beyond Question receiver never acknowledges: use Air(host_acks=False, one_way=True)"
        )
    return BeyondQSimulator(endpoint, air, speed=speed)
