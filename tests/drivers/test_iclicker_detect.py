"""What ``arsbridge receivers`` lists: i>clicker bases on USB, and serial ports of receivers."""

from __future__ import annotations

from drivers.iclicker import list_bases
from drivers.iclicker.codec import Generation
from drivers.iclicker.detect import BaseInfo
from firmware_sim.iclicker_base import EmulatedBase
from firmware_sim.iclicker_usb import EmulatedUsbBackend


def test_bases_are_listed_with_bus_address_serial_and_generation() -> None:
    backend = EmulatedUsbBackend()
    v2 = backend.plug(EmulatedBase(Generation.V2))
    v1 = backend.plug(EmulatedBase(Generation.V1), bus=3, serial_number="RM-17")
    assert list_bases(backend) == [
        BaseInfo(1, v2.address, None, Generation.V2, "iclicker", "iclicker base", "usb:1-1"),
        BaseInfo(
            3,
            v1.address,
            "RM-17",
            Generation.V1,
            "I-Clicker USB Base",
            "I-Clicker USB Base",
            "usb:3-2",
        ),
    ]
    assert not v2.claimed
    assert v2.kernel_driver  # listing leaves the bases to their owners
    v2.unplug()
    assert [b.serial_number for b in list_bases(backend)] == ["RM-17"]


def test_the_machines_own_bus_is_read_through_libusb() -> None:
    assert all(isinstance(b, BaseInfo) for b in list_bases())  # none here, and no error
