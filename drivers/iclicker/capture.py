"""Text dumps of a base's traffic, as ``arsbridge replay --driver iclicker-usb`` reads them.

One report per line as hex, spaces allowed (``02 13 81 82 E9 70 00`` or ``021381…``); shorter
reports are zero-padded to 64 bytes. A leading ``IN`` or ``OUT`` (optionally followed by ``:``)
gives the direction; a line without one is ``IN``. ``OUT`` lines are the host's commands: they
give no frames, but a host's ``01 17 05`` (the base restarts its response index) starts a new
index epoch for the filter. ``#`` starts a comment.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass

from drivers.base import ProtocolError, RejectedFrame
from drivers.iclicker.codec import REPORT_SIZE, decode_report
from drivers.iclicker.commands import Command, CounterOp, Op
from drivers.iclicker.responses import Frame, ResponseReader

_DIRECTION = re.compile(r"^(IN|OUT)(?![0-9A-F])\s*:?\s*", re.IGNORECASE)
_HEX = frozenset(string.hexdigits)
MAX_REASON_BYTES = 80  # of an unreadable line kept in its RejectedFrame


@dataclass(frozen=True, slots=True)
class DumpLine:
    """One report line of a dump: where it was, which way it went, and its bytes."""

    line: int
    inbound: bool
    data: bytes


def read_dump(text: str) -> Iterator[DumpLine | RejectedFrame]:
    """The report lines of ``text`` in order; a line that is not a report is a RejectedFrame."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        inbound = True
        match = _DIRECTION.match(line)
        if match is not None:
            inbound = match.group(1).upper() == "IN"
            line = line[match.end() :]
        digits = "".join(line.split())
        if not digits or len(digits) % 2 or not _HEX.issuperset(digits):
            yield _bad(number, raw, "not a report in hex")
            continue
        data = bytes.fromhex(digits)
        if len(data) > REPORT_SIZE:
            yield _bad(number, raw, f"{len(data)} bytes; a report has at most {REPORT_SIZE}")
            continue
        yield DumpLine(number, inbound, data)


def _bad(number: int, raw: str, reason: str) -> RejectedFrame:
    kept = raw.encode("utf-8", "replace")[:MAX_REASON_BYTES]
    return RejectedFrame(kept, f"line {number}: {reason}")


def _restarts_index(data: bytes) -> bool:
    try:
        cmd = Command.from_bytes(data)
    except ProtocolError:
        return False
    return cmd.op == Op.COUNTER and cmd.args[:1] == bytes((CounterOp.RESET_COUNT,))


def decode_capture(data: bytes) -> list[Frame]:
    """Every frame of a dump, through the same decoding and response filter as the driver."""
    reader = ResponseReader()
    out: list[Frame] = []
    for item in read_dump(data.decode("utf-8", "replace")):
        if isinstance(item, RejectedFrame):
            out.append(item)
        elif not item.inbound:
            if _restarts_index(item.data):
                reader.reset()
        else:
            out.extend(reader.frames(decode_report(item.data)))
    return out
