"""Serial ports that look like known receivers, matched by their USB IDs."""

from __future__ import annotations

from serial.tools.list_ports_common import ListPortInfo

from drivers.detect import list_serial_receivers, match_serial


def port(device: str, vid: int | None, pid: int | None) -> ListPortInfo:
    info = ListPortInfo(device)
    info.vid, info.pid, info.description = vid, pid, f"port {device}"
    return info


def test_serial_ports_of_known_receivers_are_matched_by_usb_id() -> None:
    ports = [
        port("/dev/ttyACM0", 0x0471, 0x0888),  # Beyond Question
        port("/dev/ttyACM1", 0x239A, 0x800C),  # Feather 32u4, iSkipper's board
        port("/dev/ttyUSB0", 0x0403, 0x6001),  # FTDI cable on an nRF24 bridge
        port("/dev/ttyUSB1", 0x067B, 0x2303),  # a Prolific adapter: nothing we know
        port("/dev/ttyS0", None, None),  # a built-in UART
    ]
    found = list_serial_receivers(ports)
    assert [(p.device, p.drivers) for p in found] == [
        ("/dev/ttyACM0", ("beyondq",)),
        ("/dev/ttyACM1", ("iskipper",)),
        ("/dev/ttyUSB0", ("turning", "iskipper")),
    ]
    assert match_serial(0x2341, 0x0043) is not None  # any Arduino
    assert match_serial(0x0403, 0x6010) is None  # an FTDI part no receiver uses
