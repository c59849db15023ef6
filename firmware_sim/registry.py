"""Simulator names (the receiver families ``arsbridge sim`` can run) and how to load them.

Each serial simulator module exposes the names of :class:`SimulatorModule`.
"""

from __future__ import annotations

import importlib
from typing import Protocol, cast

from firmware_sim.link import SimEndpoint
from firmware_sim.radio import Air
from firmware_sim.receiver import SimulatedReceiver


class SimulatorModule(Protocol):
    """What a simulator module provides to ``arsbridge sim``, the demo and the tests."""

    FAMILY: str  # the driver name the host uses for this receiver
    ID_FAMILY: str  # the handset ID form, a key of firmware_sim.audience.ID_FORMS
    HOST_ACKS: bool  # handsets are acknowledged by the host, not by the receiver
    ONE_WAY: bool  # the receiver cannot acknowledge at all; handsets send fixed copies
    BAUDRATE: int

    def create_simulator(
        self, endpoint: SimEndpoint, air: Air, *, speed: float = 1.0
    ) -> SimulatedReceiver: ...


SIMULATORS: dict[str, str] = {
    "iskipper": "firmware_sim.iskipper",
    "turning": "firmware_sim.turning",
    "beyondq": "firmware_sim.beyondq",
    "arsrx": "firmware_sim.arsrx",
}


def load_simulator(name: str) -> SimulatorModule:
    """The simulator for driver ``name``; raises LookupError naming the known ones."""
    module = SIMULATORS.get(name)
    if module is None:
        known = ", ".join(sorted(SIMULATORS))
        raise LookupError(f"no simulator for {name!r}; simulators exist for: {known}")
    return cast(SimulatorModule, importlib.import_module(module))
