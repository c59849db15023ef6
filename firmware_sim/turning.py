"""A simulated turning-clicker receiver: an nRF24 base for TurningPoint ResponseCards.

Like the sketch it prints a boot banner and register dump, then an ``incoming:`` line for
every press it hears and an ``outgoing:`` line for the acknowledgement it sends at once
(the handset may still miss that ack; :class:`~firmware_sim.radio.Air` decides). Lines are
built with the production codec. ResponseCards send no presence packets, so pings are
silent.
"""

from __future__ import annotations

from drivers.turning.codec import (
    DEFAULT_CHANNEL,
    Acknowledgement,
    Response,
    boot_banner,
    incoming_line,
    outgoing_line,
)
from firmware_sim.link import SimEndpoint
from firmware_sim.radio import PING_KEY, Air, Transmission
from firmware_sim.receiver import SimulatedReceiver

FAMILY = "turning"
ID_FAMILY = "turning"
HOST_ACKS = False  # the firmware acknowledges every press itself
ONE_WAY = False  # ResponseCards retransmit until acknowledged, up to 8 s
BAUDRATE = 115200


class TurningSimulator(SimulatedReceiver):
    """The turning-clicker sketch between an :class:`Air` and a serial link."""

    family = FAMILY

    def __init__(
        self,
        endpoint: SimEndpoint,
        air: Air,
        *,
        speed: float = 1.0,
        channel: int = DEFAULT_CHANNEL,
    ) -> None:
        super().__init__(endpoint, air, speed=speed)
        self.channel = channel
        self._banner = boot_banner(channel)  # raises ProtocolError for a channel out of range

    def banner(self) -> bytes:
        return self._banner

    def encode(self, tx: Transmission) -> bytes:
        if tx.key == PING_KEY:
            return b""
        response = Response.for_key(tx.handset, tx.key)
        return incoming_line(response) + outgoing_line(Acknowledgement(response.radio_id))


def create_simulator(endpoint: SimEndpoint, air: Air, *, speed: float = 1.0) -> SimulatedReceiver:
    """A turning-clicker receiver on ``endpoint``; ``air`` must let the receiver acknowledge."""
    if air.host_acks != HOST_ACKS or air.one_way != ONE_WAY:
        raise ValueError(
            "a TurningPoint receiver acknowledges presses itself: "
            "use Air(host_acks=False, one_way=False)"
        )
    return TurningSimulator(endpoint, air, speed=speed)
