"""Opening serial links: a device path, or a pyserial URL such as ``socket://host:port``."""

from __future__ import annotations

import asyncio
import errno

import serial
import serial_asyncio_fast

from drivers.base import ReceiverConfigError, ReceiverUnavailable

_GONE = {errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.EIO}
_BUSY = {errno.EBUSY, errno.EACCES, errno.EAGAIN}


async def open_serial(
    url: str, baudrate: int, *, limit: int = 65536
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open ``url`` as a stream pair; errors say what is wrong with the port, never a traceback."""
    if not url:
        raise ReceiverConfigError("no serial port given (set the receiver's url)")
    # A device path is locked so that a second program (or a second receiver entry for the
    # same port) fails with "busy" instead of stealing bytes; URLs have no such lock.
    exclusive = None if "://" in url else True
    try:
        return await serial_asyncio_fast.open_serial_connection(
            url=url, baudrate=baudrate, limit=limit, exclusive=exclusive
        )
    except serial.SerialException as exc:
        raise _classify(url, exc) from None
    except (ConnectionError, OSError) as exc:
        raise ReceiverUnavailable(f"serial port {url}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ReceiverConfigError(f"serial port {url}: {exc}") from None


def _classify(url: str, exc: serial.SerialException) -> Exception:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code in _BUSY or "exclusively lock" in text or "busy" in text.lower():
        return ReceiverUnavailable(f"serial port {url} is busy (another program has it open)")
    if code in _GONE or "No such file" in text:
        return ReceiverUnavailable(f"serial port {url} does not exist or was unplugged")
    if "expected" in text or "unknown" in text.lower():
        return ReceiverConfigError(f"serial port {url}: {text}")
    return ReceiverUnavailable(f"serial port {url}: {text}")
