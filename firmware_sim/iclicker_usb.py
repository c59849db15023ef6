"""An emulated USB bus holding i>clicker bases, as a pyusb backend.

:class:`EmulatedUsbBackend` implements ``usb.backend.IBackend``, so ``usb.core.find(idVendor=
0x1881, idProduct=0x0150, backend=...)`` and every later pyusb call run pyusb's real code
path down to this backend, which answers as the hardware does: the descriptors of the USB
snoop log (one HID interface, interrupt IN 0x83, 64-byte reports, bus powered 100 mA), string
descriptors with the manufacturer that tells the generations apart, usbhid bound until
detached (claiming before that fails with EBUSY), HID SET_REPORT handed to the base's
firmware (:class:`~firmware_sim.iclicker_base.EmulatedBase`) and interrupt reads served from
it. :meth:`EmulatedUsbDevice.unplug` makes the device vanish from enumeration and every call
on an open handle fail with ENODEV, as libusb reports an unplugged device.
"""

from __future__ import annotations

import array
import errno
import itertools
from dataclasses import dataclass
from typing import Any

import usb.backend
import usb.core

from drivers.iclicker.codec import (
    ENDPOINT_IN,
    INTERFACE,
    MANUFACTURER_V1,
    MANUFACTURER_V2,
    PRODUCT_ID,
    REPORT_SIZE,
    SET_REPORT,
    VENDOR_ID,
    Generation,
)
from firmware_sim.iclicker_base import EmulatedBase, PoweredOff

# Descriptor bytes from siefkenj/iclickerpoll protocol_documentation/usbsnooplog1_cleaned.log.
CONFIG_BYTES = bytes.fromhex("0902220001010080 32")
INTERFACE_BYTES = bytes.fromhex("090400000103000000")
HID_BYTES = bytes.fromhex("092100010001222a00")  # HID 1.00, one report descriptor of 42 bytes
ENDPOINT_BYTES = bytes.fromhex("0705830340 0001")
REPORT_DESCRIPTOR = bytes.fromhex(
    "050c0901a1010600ff0901150026ff00954075088102a1020600ff0901150026ff00954075089102c0c0"
)  # vendor page FF00: one 64-byte Input and one 64-byte Output report, no report IDs
BCD_DEVICE = 0x0032
LANGID_EN_US = 0x0409
# Product strings were not captured anywhere; these are placeholders.
PRODUCTS = {Generation.V1: "I-Clicker USB Base", Generation.V2: "iclicker base"}
MANUFACTURERS = {Generation.V1: MANUFACTURER_V1, Generation.V2: MANUFACTURER_V2}

# libusb error codes as pyusb's libusb1 backend passes them in USBError.backend_error_code.
LIBUSB_ERROR_NOT_FOUND = -5
LIBUSB_ERROR_NO_DEVICE = -4
LIBUSB_ERROR_BUSY = -6
LIBUSB_ERROR_TIMEOUT = -7
LIBUSB_ERROR_PIPE = -9
GET_DESCRIPTOR = 0x06
SET_IDLE = 0x0A
DESC_DEVICE, DESC_CONFIG, DESC_STRING, DESC_HID_REPORT = 1, 2, 3, 0x22
SPEED_FULL = 2  # pyusb's usb.util.SPEED_FULL


def _error(message: str, code: int, err: int) -> usb.core.USBError:
    return usb.core.USBError(message, code, err)


def _gone() -> usb.core.USBError:
    return _error(
        "No such device (it may have been disconnected)", LIBUSB_ERROR_NO_DEVICE, errno.ENODEV
    )


def _stall() -> usb.core.USBError:
    return _error("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)


@dataclass(frozen=True, slots=True)
class _Descriptor:
    """A descriptor as pyusb reads it: fields as attributes."""

    fields: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None


def _fields(raw: bytes, names: str, extra: bytes = b"") -> _Descriptor:
    """Name the fields of a standard descriptor (w, bcd and id fields: 16-bit little-endian)."""
    out: dict[str, Any] = {"extra_descriptors": list(extra)}
    pos = 0
    for name in names.split():
        width = 2 if name.startswith(("w", "bcd", "id")) else 1
        out[name] = int.from_bytes(raw[pos : pos + width], "little")
        pos += width
    return _Descriptor(out)


CONFIG = _fields(
    CONFIG_BYTES,
    "bLength bDescriptorType wTotalLength bNumInterfaces bConfigurationValue "
    "iConfiguration bmAttributes bMaxPower",
)
INTERFACE_DESC = _fields(
    INTERFACE_BYTES,
    "bLength bDescriptorType bInterfaceNumber bAlternateSetting bNumEndpoints "
    "bInterfaceClass bInterfaceSubClass bInterfaceProtocol iInterface",
    HID_BYTES,
)
ENDPOINT = _fields(
    ENDPOINT_BYTES, "bLength bDescriptorType bEndpointAddress bmAttributes wMaxPacketSize bInterval"
)
ENDPOINT.fields.update(bRefresh=0, bSynchAddress=0)


class EmulatedUsbDevice:
    """One emulated base on the bus: its USB state, and the firmware behind it."""

    def __init__(
        self,
        backend: EmulatedUsbBackend,
        base: EmulatedBase,
        *,
        bus: int,
        port: int,
        serial_number: str | None,
    ) -> None:
        self.backend = backend
        self.base = base
        self.bus = bus
        self.port = port
        self.serial_number = serial_number
        self.address = backend.next_address()
        self.present = True
        self.epoch = 0  # handles opened before an unplug stay dead after the replug
        self.kernel_driver = True  # usbhid binds a HID device as it enumerates
        self.configuration = 1  # the host configured it while enumerating
        self.claimed: set[int] = set()
        self.owner: int | None = None  # the handle that claimed the interface

    def unplug(self) -> None:
        """Pull the plug: gone from enumeration; reads and writes on open handles get ENODEV."""
        self.present = False
        self.epoch += 1
        self.claimed.clear()
        self.owner = None
        self.base.power_off()

    def replug(self) -> None:
        """Plug back in: a new address, usbhid bound again, the base powered up afresh."""
        self.address = self.backend.next_address()
        self.kernel_driver, self.configuration = True, 1
        self.claimed.clear()
        self.owner = None
        self.base.power_on()
        self.present = True

    @property
    def strings(self) -> dict[int, str]:
        gen = self.base.generation
        out = {1: MANUFACTURERS[gen], 2: PRODUCTS[gen]}
        if self.serial_number is not None:
            out[3] = self.serial_number
        return out

    def device_bytes(self) -> bytes:
        serial_index = 3 if self.serial_number is not None else 0
        return (
            bytes((18, DESC_DEVICE))
            + (0x0200).to_bytes(2, "little")
            + bytes((0, 0, 0, 64))
            + VENDOR_ID.to_bytes(2, "little")
            + PRODUCT_ID.to_bytes(2, "little")
            + BCD_DEVICE.to_bytes(2, "little")
            + bytes((1, 2, serial_index, 1))
        )

    def descriptor(self) -> _Descriptor:
        desc = _fields(
            self.device_bytes(),
            "bLength bDescriptorType bcdUSB bDeviceClass bDeviceSubClass bDeviceProtocol "
            "bMaxPacketSize0 idVendor idProduct bcdDevice iManufacturer iProduct "
            "iSerialNumber bNumConfigurations",
        )
        desc.fields.update(
            bus=self.bus,
            address=self.address,
            port_number=self.port,
            port_numbers=(self.port,),
            speed=SPEED_FULL,
        )
        return desc


@dataclass(frozen=True, slots=True)
class _Handle:
    device: EmulatedUsbDevice
    epoch: int
    ident: int  # one per open_device call, as libusb hands out one handle per open


class EmulatedUsbBackend(usb.backend.IBackend):  # type: ignore[misc]  # pyusb has no types
    """A pyusb backend whose bus holds emulated i>clicker bases."""

    def __init__(self) -> None:
        super().__init__()
        self.devices: list[EmulatedUsbDevice] = []
        self._addresses = itertools.count(2)  # address 1 is the root hub's
        self._handles = itertools.count(1)

    def next_address(self) -> int:
        return next(self._addresses)

    def plug(
        self, base: EmulatedBase, *, bus: int = 1, serial_number: str | None = None
    ) -> EmulatedUsbDevice:
        """Put ``base`` on the bus (real v2 bases have no serial number string)."""
        device = EmulatedUsbDevice(
            self, base, bus=bus, port=len(self.devices) + 1, serial_number=serial_number
        )
        self.devices.append(device)
        return device

    # Enumeration.

    def enumerate_devices(self) -> list[EmulatedUsbDevice]:
        return [d for d in self.devices if d.present]

    def get_parent(self, dev: EmulatedUsbDevice) -> None:
        return None

    def get_device_descriptor(self, dev: EmulatedUsbDevice) -> _Descriptor:
        return dev.descriptor()

    def get_configuration_descriptor(self, dev: EmulatedUsbDevice, config: int) -> _Descriptor:
        if config != 0:
            raise _error("Entity not found", LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)
        return CONFIG

    def get_interface_descriptor(
        self, dev: EmulatedUsbDevice, intf: int, alt: int, config: int
    ) -> _Descriptor:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError(f"no interface {intf}/{alt} in configuration {config}")
        return INTERFACE_DESC

    def get_endpoint_descriptor(
        self, dev: EmulatedUsbDevice, ep: int, intf: int, alt: int, config: int
    ) -> _Descriptor:
        if (ep, intf, alt, config) != (0, 0, 0, 0):
            raise IndexError(f"no endpoint {ep} on interface {intf}")
        return ENDPOINT

    # Handles.

    def open_device(self, dev: EmulatedUsbDevice) -> _Handle:
        if not dev.present:
            raise _gone()
        return _Handle(dev, dev.epoch, next(self._handles))

    def close_device(self, dev_handle: _Handle) -> None:
        dev = dev_handle.device
        if dev.owner == dev_handle.ident:  # closing a handle releases what it claimed
            dev.owner = None
            dev.claimed.clear()

    @staticmethod
    def _live(handle: _Handle) -> EmulatedUsbDevice:
        dev = handle.device
        if not dev.present or handle.epoch != dev.epoch:
            raise _gone()
        return dev

    @staticmethod
    def _busy(dev: EmulatedUsbDevice, handle: _Handle) -> bool:
        return dev.kernel_driver or dev.owner not in (None, handle.ident)

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        dev = self._live(dev_handle)
        if self._busy(dev, dev_handle):
            raise _error("Resource busy", LIBUSB_ERROR_BUSY, errno.EBUSY)
        if config_value not in (0, 1):
            raise _error("Entity not found", LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)
        dev.configuration = config_value

    def get_configuration(self, dev_handle: _Handle) -> int:
        return self._live(dev_handle).configuration

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        self._live(dev_handle)
        if (intf, altsetting) != (INTERFACE, 0):
            raise _error("Entity not found", LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        dev = self._live(dev_handle)
        if intf != INTERFACE:
            raise _error("Entity not found", LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)
        if self._busy(dev, dev_handle):
            raise _error("Resource busy", LIBUSB_ERROR_BUSY, errno.EBUSY)
        dev.claimed.add(intf)
        dev.owner = dev_handle.ident

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        dev = self._live(dev_handle)
        if dev.owner == dev_handle.ident:
            dev.claimed.discard(intf)
            dev.owner = None

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        return self._live(dev_handle).kernel_driver

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        dev = self._live(dev_handle)
        if not dev.kernel_driver:
            raise _error("Entity not found", LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)
        dev.kernel_driver = False

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        dev = self._live(dev_handle)
        dev.claimed.discard(intf)
        dev.kernel_driver = True

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        self._live(dev_handle)

    # Transfers.

    def intr_read(
        self, dev_handle: _Handle, ep: int, intf: int, buff: array.array[int], timeout: int
    ) -> int:
        dev = self._live(dev_handle)
        if ep != ENDPOINT_IN or dev.owner != dev_handle.ident:
            raise _stall()
        try:
            # libusb waits forever for a timeout of 0.
            report = dev.base.read(timeout / 1000 if timeout else float("inf"))
        except PoweredOff:
            raise _gone() from None
        if report is None:
            raise usb.core.USBTimeoutError(
                "Operation timed out", LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT
            )
        n = min(len(buff), len(report))
        buff[:n] = array.array("B", report[:n])
        return n

    def ctrl_transfer(
        self,
        dev_handle: _Handle,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array[int],
        timeout: int,
    ) -> int:
        dev = self._live(dev_handle)
        setup = (bmRequestType, bRequest, wValue, wIndex)
        if setup == SET_REPORT:
            if len(data) != REPORT_SIZE or dev.owner != dev_handle.ident:
                raise _stall()
            try:
                dev.base.command(data.tobytes())
            except PoweredOff:
                raise _gone() from None
            return len(data)
        if (bmRequestType, bRequest) == (0x21, SET_IDLE):
            return 0
        if bRequest == GET_DESCRIPTOR and bmRequestType in (0x80, 0x81):
            reply = self._descriptor(dev, bmRequestType, wValue)
            n = min(len(data), len(reply))
            data[:n] = array.array("B", reply[:n])
            return n
        raise _stall()

    @staticmethod
    def _descriptor(dev: EmulatedUsbDevice, request_type: int, value: int) -> bytes:
        kind, index = value >> 8, value & 0xFF
        if request_type == 0x81:
            if kind == DESC_HID_REPORT:
                return REPORT_DESCRIPTOR
            raise _stall()
        if kind == DESC_DEVICE:
            return dev.device_bytes()
        if kind == DESC_CONFIG:
            return CONFIG_BYTES + INTERFACE_BYTES + HID_BYTES + ENDPOINT_BYTES
        if kind == DESC_STRING:
            if index == 0:
                return bytes((4, DESC_STRING)) + LANGID_EN_US.to_bytes(2, "little")
            text = dev.strings.get(index)
            if text is not None:
                encoded = text.encode("utf-16-le")
                return bytes((2 + len(encoded), DESC_STRING)) + encoded
        raise _stall()
