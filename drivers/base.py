"""The receiver interface, the events receivers report, and the errors they raise."""

from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from sys import intern


@dataclass(frozen=True, slots=True)
class Press:
    """One keypad press as a receiver reported it.

    ``key`` holds one key symbol (``A``-``J``, ``0``-``9``, ``?``) or, for keypads that
    send several keys in one message (priority ranking), the symbols in the order pressed.
    ``t`` is the time the service received it (epoch seconds, host clock). ``seq`` is the
    handset's own sequence number (it changes with every new press and wraps at 256); only
    protocols that carry one per handset set it. A counter kept by the receiver for all
    handsets (the i>clicker base's report index) must not go here: intake reads ``seq`` per
    handset and would take a genuine change of answer for an old echo.
    """

    receiver: str
    handset: str
    key: str
    t: float
    seq: int | None = None
    rssi: int | None = None
    battery: int | None = None


@dataclass(frozen=True, slots=True)
class Presence:
    """A handset was heard without casting a vote (a ping or a hello)."""

    receiver: str
    handset: str
    t: float
    rssi: int | None = None
    battery: int | None = None


@dataclass(frozen=True, slots=True)
class BadFrame:
    """Bytes that looked like a frame but failed a check (checksum, ID check, layout)."""

    receiver: str
    raw: bytes
    reason: str
    t: float


ReceiverEvent = Press | Presence | BadFrame


# Frames as codecs decode them: no receiver name and no time yet; the receiver stamps both.


@dataclass(frozen=True, slots=True)
class KeyFrame:
    """A decoded vote: a handset and the key (or keys) it sent."""

    handset: str
    key: str
    seq: int | None = None
    rssi: int | None = None
    battery: int | None = None


@dataclass(frozen=True, slots=True)
class PingFrame:
    """A decoded presence message from a handset."""

    handset: str
    rssi: int | None = None
    battery: int | None = None


@dataclass(frozen=True, slots=True)
class RejectedFrame:
    """A frame that failed a check; the raw bytes are kept for the journal."""

    raw: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class NoiseFrame:
    """Bytes that carry nothing (debug output, boot banners): counted and skipped."""

    raw: bytes


def stamp(frame: object, receiver: str, t: float) -> ReceiverEvent | None:
    """Turn a decoded frame into a receiver event; frames that are not about handsets give None.

    The handset ID is interned: every press of a handset then shares one string, which the
    journal's records, the tally and the handset table keep (at 50,000 handsets and 250,000
    presses, a string of its own per press would be about 13 MB)."""
    if isinstance(frame, KeyFrame):
        handset = intern(frame.handset)
        return Press(receiver, handset, frame.key, t, frame.seq, frame.rssi, frame.battery)
    if isinstance(frame, PingFrame):
        return Presence(receiver, intern(frame.handset), t, frame.rssi, frame.battery)
    if isinstance(frame, RejectedFrame):
        return BadFrame(receiver, frame.raw, frame.reason, t)
    return None


class ProtocolError(ValueError):
    """Bytes or a command that the receiver protocol cannot represent; codecs raise only this."""


class ReceiverError(Exception):
    """A receiver cannot be used; ``retryable`` says whether trying again later can help."""

    retryable: bool = True


class ReceiverUnavailable(ReceiverError):
    """The receiver is missing, busy or was unplugged; it may come back."""


class ReceiverConfigError(ReceiverError):
    """The receiver's configuration is wrong (bad URL, unknown channel); retrying cannot help."""

    retryable = False


class Ack(enum.Enum):
    """What a receiver may tell a handset about its press, where the protocol allows it."""

    ACCEPTED = "accepted"
    CLOSED = "closed"
    NOT_PAIRED = "not_paired"
    INVALID_KEY = "invalid_key"


@dataclass(frozen=True, slots=True)
class PollState:
    """What a receiver is told when voting opens or closes, and what its display shows."""

    open: bool
    round: str | None = None
    title: str = ""
    options: int = 5
    votes: int = 0


@dataclass(slots=True)
class ReceiverStats:
    """Counters a technician watches per receiver."""

    frames: int = 0
    presses: int = 0
    rejected: int = 0
    noise: int = 0
    errors: int = 0  # errors the receiver itself reported (radio fault, carrier, overflow)
    last_error: str = ""  # the latest of them: its code name and text, e.g. "CARRIER: ch 41"
    extra: dict[str, int] = field(default_factory=dict)


class Receiver(abc.ABC):
    """One receiver: opened, read as a stream of events, told about polls, closed.

    ``events()`` raises :class:`ReceiverUnavailable` when the link is lost; the supervisor
    reopens the receiver with backoff.
    """

    family: str = ""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stats = ReceiverStats()

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect to the receiver; raises :class:`ReceiverError` when that is impossible."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the link; safe to call more than once."""

    @abc.abstractmethod
    def events(self) -> AsyncIterator[ReceiverEvent]:
        """Yield events as they arrive until the link closes or is lost."""

    async def set_poll(self, state: PollState) -> None:  # noqa: B027 - optional for a driver
        """Tell the receiver that voting opened or closed; others ignore it."""

    async def acknowledge(self, press: Press, ack: Ack) -> None:  # noqa: B027 - two-way only
        """Tell the handset what became of its press; only two-way protocols implement it."""

    @property
    def acknowledges(self) -> bool:
        """Whether :meth:`acknowledge` reaches the handset (the bridge skips the call otherwise)."""
        return False
