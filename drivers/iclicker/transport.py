"""The USB side of an i>clicker base: pyusb on libusb1, one thread per base for every USB call.

pyusb is not thread-safe with this device (mitar/meteor-iclicker ``base-station/README.md``;
iclickerpoll holds one lock around every USB call). Here one thread per base makes every call:
it finds and claims the device, sends the commands queued by the event loop between two
interrupt reads, and hands each report to the loop with ``call_soon_threadsafe``. A device
that vanishes (ENODEV and friends) ends the thread and is reported as unplugged.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import usb.core
import usb.util

from drivers.base import ReceiverConfigError, ReceiverError, ReceiverUnavailable
from drivers.iclicker.codec import (
    ENDPOINT_IN,
    INTERFACE,
    PRODUCT_ID,
    REPORT_SIZE,
    SET_REPORT,
    VENDOR_ID,
    Generation,
    generation_of,
)

log = logging.getLogger(__name__)

READ_TIMEOUT_MS = (
    50  # one interrupt read (iclickerpoll reads with 50-100 ms); bounds command latency
)
WRITE_TIMEOUT_MS = 1000  # one SET_REPORT control transfer
MAX_READ_ERRORS = 5  # consecutive failed reads (not timeouts) after which the base counts as lost
# errno values of a device that is gone: libusb NO_DEVICE is ENODEV, an unplug mid-transfer
# shows as EIO on Linux, a host controller going away as ESHUTDOWN.
GONE_ERRNOS = frozenset({errno.ENODEV, errno.ENXIO, errno.ESHUTDOWN, errno.EIO})
LIBUSB_ERROR_NO_DEVICE = -4  # pyusb's backend_error_code when errno is not mapped
UDEV_HINT = (
    'add a udev rule: SUBSYSTEM=="usb", ATTRS{idVendor}=="1881", '
    'ATTRS{idProduct}=="0150", MODE="0666"'
)


@dataclass(frozen=True, slots=True)
class BaseSelector:
    """Which base a receiver URL names.

    ``usb`` (the first base), ``usb:BUS-PORT[.PORT…]`` (a physical port, as Linux sysfs names
    it; it survives a replug), ``usb:BUS:ADDRESS`` (changes with every replug) or
    ``usb:SERIAL``. ``?generation=v1|v2`` overrides what the manufacturer string says.
    """

    bus: int | None = None
    address: int | None = None
    serial: str | None = None
    generation: Generation | None = None
    ports: tuple[int, ...] | None = None

    @classmethod
    def parse(cls, url: str) -> BaseSelector:
        """Parse a receiver URL; a malformed one raises :class:`ReceiverConfigError`."""
        text, _, query = url.strip().partition("?")
        scheme, _, rest = text.partition(":")
        if scheme.lower() != "usb":
            raise ReceiverConfigError(
                f"i>clicker URL {url!r} must be usb, usb:BUS:ADDRESS or usb:SERIAL"
            )
        generation = None
        for key, values in parse_qs(query, keep_blank_values=True).items():
            if key != "generation" or values[-1] not in tuple(Generation):
                raise ReceiverConfigError(f"i>clicker URL {url!r}: use ?generation=v1 or v2")
            generation = Generation(values[-1])
        if not rest:
            return cls(generation=generation)
        bus, dash, path = rest.partition("-")
        if dash and bus.isdigit():
            hops = path.split(".")
            if not all(h.isdigit() for h in hops):
                raise ReceiverConfigError(f"i>clicker URL {url!r}: a port path is like 1-2.3")
            return cls(int(bus), ports=tuple(int(h) for h in hops), generation=generation)
        bus, sep, address = rest.partition(":")
        if sep:
            if not (bus.isdigit() and address.isdigit()):
                raise ReceiverConfigError(f"i>clicker URL {url!r}: BUS and ADDRESS are numbers")
            return cls(int(bus), int(address), generation=generation)
        return cls(serial=rest, generation=generation)

    def matches(self, bus: int | None, address: int | None, ports: tuple[int, ...] | None) -> bool:
        """Whether a device at this bus position is the one named (the serial aside)."""
        if self.bus is not None and bus != self.bus:
            return False
        if self.ports is not None:
            return ports == self.ports
        return self.address is None or address == self.address

    def __str__(self) -> str:
        if self.ports is not None:
            return f"usb:{self.bus}-{'.'.join(map(str, self.ports))}"
        if self.bus is not None:
            return f"usb:{self.bus}:{self.address}"
        return f"usb:{self.serial}" if self.serial else "usb"


@dataclass(frozen=True, slots=True)
class BaseIdentity:
    """A base as the bus describes it; strings are None where the device would not say."""

    bus: int | None
    address: int | None
    ports: tuple[int, ...] | None
    serial_number: str | None
    manufacturer: str | None
    product: str | None

    @property
    def generation(self) -> Generation | None:
        return generation_of(self.manufacturer)

    @property
    def url(self) -> str:
        """The receiver URL for this base: its port path when known (stable across replugs)."""
        if self.ports:
            return f"usb:{self.bus}-{'.'.join(map(str, self.ports))}"
        return f"usb:{self.bus}:{self.address}"


def default_backend() -> Any:
    """pyusb's libusb1 backend on the libusb that libusb-package ships."""
    import libusb_package

    backend = libusb_package.get_libusb1_backend()
    if backend is None:
        raise ReceiverConfigError("libusb 1.0 was not found (libusb-package is not usable here)")
    return backend


def find_bases(backend: Any) -> list[Any]:
    """Every 1881:0150 device on ``backend``, as pyusb devices."""
    return list(
        usb.core.find(find_all=True, idVendor=VENDOR_ID, idProduct=PRODUCT_ID, backend=backend)
    )


def _string(dev: Any, index: int) -> str | None:
    if not index:
        return None
    try:
        return str(usb.util.get_string(dev, index))
    except (usb.core.USBError, ValueError, NotImplementedError):
        return None  # no permission to open, or the device would not answer


def _ports(dev: Any) -> tuple[int, ...] | None:
    ports = getattr(dev, "port_numbers", None)  # None where libusb cannot tell
    return tuple(int(p) for p in ports) if ports else None


def read_identity(dev: Any) -> BaseIdentity:
    """Bus position and strings of ``dev``; reading strings opens the device."""
    return BaseIdentity(
        dev.bus,
        dev.address,
        _ports(dev),
        _string(dev, dev.iSerialNumber),
        _string(dev, dev.iManufacturer),
        _string(dev, dev.iProduct),
    )


def dispose(dev: Any) -> None:
    """Release the interface and close the handle; a vanished device needs no more."""
    with contextlib.suppress(usb.core.USBError):
        usb.util.dispose_resources(dev)


def is_gone(exc: usb.core.USBError) -> bool:
    """Whether a USB error means the device has vanished (unplugged, powered off)."""
    return exc.errno in GONE_ERRNOS or exc.backend_error_code == LIBUSB_ERROR_NO_DEVICE


def _is_timeout(exc: usb.core.USBError) -> bool:
    return isinstance(exc, usb.core.USBTimeoutError) or exc.errno == errno.ETIMEDOUT


def unavailable(name: str, exc: usb.core.USBError, doing: str) -> ReceiverUnavailable:
    """The receiver error for a USB error, with what a technician can do about it."""
    if is_gone(exc):
        return ReceiverUnavailable(f"receiver {name}: base unplugged while {doing} ({exc})")
    if exc.errno == errno.EACCES:
        return ReceiverUnavailable(f"receiver {name}: no permission to open the base; {UDEV_HINT}")
    if exc.errno == errno.EBUSY:
        return ReceiverUnavailable(f"receiver {name}: the base is in use by another program")
    return ReceiverUnavailable(f"receiver {name}: USB error while {doing}: {exc}")


ReportHandler = Callable[[bytes], None]
LostHandler = Callable[[ReceiverError], None]


class UsbLink:
    """One opened base; every USB call for it runs on the link's own thread."""

    def __init__(
        self,
        name: str,
        selector: BaseSelector,
        *,
        backend: Any = None,
        read_timeout_ms: int = READ_TIMEOUT_MS,
    ) -> None:
        self.name = name
        self.selector = selector
        self._backend = backend
        self._read_timeout_ms = read_timeout_ms
        self._writes: queue.SimpleQueue[tuple[bytes, concurrent.futures.Future[None]]]
        self._writes = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards _finished against write() racing the thread's end
        self._finished = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._exited: concurrent.futures.Future[None] = concurrent.futures.Future()

    async def open(self, on_report: ReportHandler, on_lost: LostHandler) -> BaseIdentity:
        """Find, claim and start reading the base; reports and a loss arrive on this loop."""
        if self._thread is not None:
            raise ReceiverUnavailable(f"receiver {self.name}: the link is already open")
        loop = asyncio.get_running_loop()
        opened: concurrent.futures.Future[BaseIdentity] = concurrent.futures.Future()
        self._stop.clear()
        self._exited = concurrent.futures.Future()
        self._finished = False
        self._thread = threading.Thread(
            target=self._run,
            args=(loop, opened, on_report, on_lost),
            name=f"iclicker-usb-{self.name}",
        )
        self._thread.start()
        try:
            return await asyncio.wrap_future(opened)
        except BaseException:
            await self.close()
            raise

    async def write(self, report: bytes) -> None:
        """Send one output report (HID SET_REPORT) from the link's thread."""
        fut: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            if self._finished:
                raise ReceiverUnavailable(f"receiver {self.name}: the base is not open")
            self._writes.put((report, fut))
        await asyncio.wrap_future(fut)

    async def close(self) -> None:
        """Stop the thread and release the device; safe to call more than once."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        await asyncio.wrap_future(self._exited)
        thread.join()

    # The link's thread.

    def _run(
        self,
        loop: asyncio.AbstractEventLoop,
        opened: concurrent.futures.Future[BaseIdentity],
        on_report: ReportHandler,
        on_lost: LostHandler,
    ) -> None:
        dev: Any = None
        lost: ReceiverError | None = None
        if not opened.set_running_or_notify_cancel():  # open() was cancelled before we began
            self._finish(None)
            self._exited.set_result(None)
            return
        try:
            dev, identity = self._claim()
            opened.set_result(identity)
            lost = self._serve(dev, loop, on_report)
        except ReceiverError as exc:
            lost = exc
        except Exception as exc:  # a thread must hand every failure to the loop
            log.exception("receiver %s: USB thread failed", self.name)
            lost = ReceiverUnavailable(f"receiver {self.name}: USB thread failed: {exc!r}")
        finally:
            if dev is not None:
                dispose(dev)
            self._finish(lost)
        if not opened.done():
            opened.set_exception(lost or ReceiverUnavailable(f"receiver {self.name}: closed"))
        elif lost is not None and not self._stop.is_set():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
                loop.call_soon_threadsafe(on_lost, lost)
        self._exited.set_result(None)

    def _claim(self) -> tuple[Any, BaseIdentity]:
        backend = self._backend if self._backend is not None else default_backend()
        sel = self.selector
        try:
            for dev in find_bases(backend):
                if not sel.matches(dev.bus, dev.address, _ports(dev)):
                    continue
                if sel.serial is not None and _string(dev, dev.iSerialNumber) != sel.serial:
                    dispose(dev)  # reading the serial number opened it
                    continue
                try:
                    return dev, self._prepare(dev)
                except BaseException:
                    dispose(dev)
                    raise
        except usb.core.NoBackendError as exc:
            raise ReceiverConfigError(f"receiver {self.name}: {exc}") from None
        except usb.core.USBError as exc:
            raise unavailable(self.name, exc, "opening the base") from None
        raise ReceiverUnavailable(f"receiver {self.name}: no i>clicker base at {sel}")

    @staticmethod
    def _prepare(dev: Any) -> BaseIdentity:
        # usbhid binds the base on Linux; pyusb needs the interface (iclickerpoll get_base).
        with contextlib.suppress(NotImplementedError):  # no kernel drivers to detach here
            if dev.is_kernel_driver_active(INTERFACE):
                dev.detach_kernel_driver(INTERFACE)
        dev.set_configuration()
        usb.util.claim_interface(dev, INTERFACE)
        return read_identity(dev)

    def _serve(
        self, dev: Any, loop: asyncio.AbstractEventLoop, on_report: ReportHandler
    ) -> ReceiverError | None:
        failures = 0
        while not self._stop.is_set():
            lost = self._send_queued(dev)
            if lost is not None:
                return lost
            try:
                data = dev.read(ENDPOINT_IN, REPORT_SIZE, timeout=self._read_timeout_ms)
            except usb.core.USBError as exc:
                if _is_timeout(exc):
                    continue
                failures += 1
                if is_gone(exc) or failures >= MAX_READ_ERRORS:
                    return unavailable(self.name, exc, "reading")
                log.warning("receiver %s: read failed (%s); retrying", self.name, exc)
                continue
            failures = 0
            try:
                loop.call_soon_threadsafe(on_report, bytes(data))
            except RuntimeError:  # the loop is closed: nobody is listening any more
                return None
        return None

    def _send_queued(self, dev: Any) -> ReceiverError | None:
        while True:
            try:
                report, fut = self._writes.get_nowait()
            except queue.Empty:
                return None
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                written = dev.ctrl_transfer(*SET_REPORT, report, timeout=WRITE_TIMEOUT_MS)
            except usb.core.USBError as exc:
                err = unavailable(self.name, exc, "sending a command")
                fut.set_exception(err)
                if is_gone(exc):
                    return err
                continue
            if written != len(report):
                fut.set_exception(
                    ReceiverUnavailable(f"receiver {self.name}: base took {written} of 64 bytes")
                )
            else:
                fut.set_result(None)

    def _finish(self, lost: ReceiverError | None) -> None:
        with self._lock:
            self._finished = True
        reason = lost or ReceiverUnavailable(f"receiver {self.name}: the link is closed")
        while True:
            try:
                _, fut = self._writes.get_nowait()
            except queue.Empty:
                return
            if fut.set_running_or_notify_cancel():
                fut.set_exception(reason)
