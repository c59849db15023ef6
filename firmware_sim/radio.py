"""Handsets on the air: when each transmission happens and whether a receiver hears it.

A discrete-event model in simulated seconds, seeded so that a run repeats exactly. Each
planned press becomes a burst of transmissions: the handset sends, waits for an
acknowledgement, and sends again until one arrives or it gives up (TurningPoint keypads try
for up to 8 s). A transmission is lost at the configured loss rate, and two transmissions
that overlap on the air both go (a collision). Handsets whose receiver cannot acknowledge
(one-way links) send a fixed number of copies instead.

Acknowledgements come either from the receiver itself, the moment it hears a press
(``host_acks=False``: iSkipper, TurningPoint bases), or from the host through the receiver's
protocol (``host_acks=True``: ARS-RX), in which case the simulated receiver calls
:meth:`Air.ack` when the host's command arrives.

Batteries run down with every transmission; below :data:`LOW_BATTERY` a handset's range
shrinks and more of its packets are lost. A jammed handset (a key held down by a bag or a
flat battery) transmits the same key over and over for a while, whatever the answer.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import random
from dataclasses import dataclass, field

from firmware_sim.audience import VotePlan

PING_KEY = ""  # the key of a presence transmission (no vote)
LOW_BATTERY = 20  # percent below which a handset's packets are lost more often
BATTERY_PER_TX = 0.01  # percent of charge one transmission costs
AIRTIME_S = 0.0003  # one packet on the air (nRF24 at 1 Mbit/s: under 265 µs)


class AckReason(enum.Enum):
    """What a handset is told about its press; every reason ends its retransmissions."""

    ACCEPTED = "accepted"
    CLOSED = "closed"
    NOT_PAIRED = "not_paired"
    INVALID_KEY = "invalid_key"


@dataclass(frozen=True, slots=True)
class RfConditions:
    """The radio environment of one channel."""

    loss: float = 0.0  # chance that one transmission is not heard
    ack_loss: float | None = None  # chance that one acknowledgement is not heard (default: loss)
    collisions: bool = True  # overlapping transmissions are both lost
    retry_interval_s: float = 0.25  # time between two attempts of one press
    retry_jitter_s: float = 0.15  # random extra wait, so that colliding handsets drift apart
    give_up_s: float = 8.0  # a press not acknowledged by then is abandoned (red light)
    copies: tuple[int, int] = (1, 4)  # one-way links: how many copies of each press go out
    jam_s: float = 5.0  # how long a jammed handset keeps transmitting

    def __post_init__(self) -> None:
        for name in ("loss", "ack_loss"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if self.retry_interval_s <= 0 or self.give_up_s <= 0:
            raise ValueError("retry_interval_s and give_up_s must be positive")
        if not 1 <= self.copies[0] <= self.copies[1]:
            raise ValueError(f"copies must be 1 <= low <= high, got {self.copies}")


@dataclass(frozen=True, slots=True)
class Transmission:
    """One packet a receiver heard: who sent it, which key, and how it sounded."""

    at: float  # simulated seconds since the air started
    handset: str
    key: str  # PING_KEY for a presence packet
    seq: int  # the handset's press counter, mod 256; repeats of one press share it
    attempt: int  # 1 for the first transmission of a press
    rssi: int  # dBm
    battery: int  # percent


@dataclass(slots=True)
class _Handset:
    handset: str
    battery: float
    rssi: int
    seq: int = 0
    key: str | None = None  # the press being sent, None when idle
    started: float = 0.0
    attempt: int = 0
    copies_left: int = 0
    jam_until: float = 0.0
    acked: AckReason | None = None
    history: list[AckReason] = field(default_factory=list)


class Air:
    """One channel: handsets transmit, the receiver hears (or not) and acknowledges (or not)."""

    def __init__(
        self,
        conditions: RfConditions | None = None,
        *,
        seed: int = 0,
        host_acks: bool = False,
        one_way: bool = False,
        record: bool = False,
    ) -> None:
        self.conditions = conditions or RfConditions()
        self.host_acks = host_acks
        self.one_way = one_way
        self._rng = random.Random(seed)
        self._handsets: dict[str, _Handset] = {}
        # (at, order, kind, handset, key or seq); ``order`` is unique, so tuples never compare
        # beyond it.
        self._queue: list[tuple[float, int, str, str, str | int]] = []
        self._order = itertools.count()
        self._last_on_air = -1.0
        self.now = 0.0
        self.sent = 0
        self.lost = 0
        self.collided = 0
        self.abandoned = 0  # presses given up unacknowledged (the handset shows red)
        self.superseded = 0  # presses replaced by a newer one before they were acknowledged
        self.log: list[Transmission] | None = [] if record else None  # heard, in order
        self.heard = 0  # transmissions the receiver heard
        self.heard_presses = 0  # of those, presses (not presence pings)

    # Loading what the audience does.

    def handset(self, handset: str) -> _Handset:
        hs = self._handsets.get(handset)
        if hs is None:
            hs = _Handset(
                handset, battery=self._rng.uniform(35.0, 100.0), rssi=self._rng.randint(-85, -40)
            )
            self._handsets[handset] = hs
        return hs

    def load(self, plan: VotePlan, *, offset_s: float = 0.0) -> None:
        """Schedule every press and ping of ``plan``, ``offset_s`` seconds from now."""
        for press in plan.presses:
            self.press(press.handset, press.key, self.now + offset_s + press.at)
        for ping in plan.pings:
            self.press(ping.handset, PING_KEY, self.now + offset_s + ping.at)

    def press(self, handset: str, key: str, at: float) -> None:
        """A delegate presses ``key`` (``PING_KEY`` for presence) at simulated time ``at``."""
        self.handset(handset)
        self._push(at, "press", handset, key)

    def jam(self, handset: str, key: str, at: float) -> None:
        """From ``at``, ``handset`` transmits ``key`` continuously for ``jam_s`` seconds."""
        self.handset(handset)
        self._push(at, "jam", handset, key)

    def set_battery(self, handset: str, percent: float) -> None:
        self.handset(handset).battery = max(0.0, min(100.0, percent))

    # Acknowledgements.

    def ack(self, handset: str, seq: int, reason: AckReason = AckReason.ACCEPTED) -> bool:
        """The receiver (or the host through it) acknowledges press ``seq`` of ``handset``.

        Returns whether the handset heard it; an acknowledgement of an older press is ignored.
        """
        hs = self._handsets.get(handset)
        if hs is None or hs.key is None or hs.seq != seq % 256:
            return False
        if self._rng.random() < self._ack_loss():
            return False
        hs.acked = reason
        hs.history.append(reason)
        if self.now >= hs.jam_until:  # a jammed key keeps sending whatever it is told
            hs.key = None
        return True

    def outcome(self, handset: str) -> list[AckReason]:
        """Every acknowledgement ``handset`` received, in order (what its display showed)."""
        hs = self._handsets.get(handset)
        return list(hs.history) if hs is not None else []

    # Running.

    @property
    def done(self) -> bool:
        """No transmission is scheduled any more."""
        return not self._queue

    def next_time(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def advance(self, until: float) -> list[Transmission]:
        """Run the air up to ``until``; the transmissions the receiver heard, in time order."""
        heard: list[Transmission] = []
        while self._queue and self._queue[0][0] <= until:
            at, _, kind, name, arg = heapq.heappop(self._queue)
            self.now = max(self.now, at)
            hs = self._handsets[name]
            if kind == "press":
                self._start(hs, str(arg), at)
            elif kind == "jam":
                hs.jam_until = at + self.conditions.jam_s
                self._start(hs, str(arg), at)
            elif kind == "tx" and arg == hs.seq and hs.key is not None:
                tx = self._transmit(hs, at)
                if tx is not None:
                    heard.append(tx)
                    if self.log is not None:
                        self.log.append(tx)
                    self.heard += 1
                    self.heard_presses += tx.key != PING_KEY
                    if not self.host_acks and not self.one_way and at >= hs.jam_until:
                        self.ack(hs.handset, hs.seq)
                self._next_attempt(hs, at)
        self.now = max(self.now, until)
        return heard

    # Internals.

    def _push(self, at: float, kind: str, handset: str, key: str) -> None:
        heapq.heappush(self._queue, (at, next(self._order), kind, handset, key))

    def _start(self, hs: _Handset, key: str, at: float) -> None:
        if hs.key is not None:
            self.superseded += 1  # a new press replaces one still in flight
        hs.seq = (hs.seq + 1) % 256
        hs.key, hs.started, hs.attempt, hs.acked = key, at, 0, None
        low, high = self.conditions.copies
        hs.copies_left = self._rng.randint(low, high) if self.one_way else 0
        heapq.heappush(self._queue, (at, next(self._order), "tx", hs.handset, hs.seq))

    def _transmit(self, hs: _Handset, at: float) -> Transmission | None:
        hs.attempt += 1
        hs.battery = max(0.0, hs.battery - BATTERY_PER_TX)
        self.sent += 1
        collided = self.conditions.collisions and at - self._last_on_air < AIRTIME_S
        self._last_on_air = at
        if collided:
            self.collided += 1
            return None
        if self._rng.random() < self._loss(hs):
            self.lost += 1
            return None
        rssi = hs.rssi + self._rng.randint(-3, 3) - (10 if hs.battery < LOW_BATTERY else 0)
        return Transmission(
            at, hs.handset, hs.key or PING_KEY, hs.seq, hs.attempt, rssi, round(hs.battery)
        )

    def _next_attempt(self, hs: _Handset, at: float) -> None:
        if hs.key is None:
            return
        c = self.conditions
        if at < hs.jam_until:
            wait = c.retry_interval_s / 4
        elif self.one_way:
            hs.copies_left -= 1
            if hs.copies_left <= 0:
                hs.key = None
                return
            wait = c.retry_interval_s
        elif at - hs.started >= c.give_up_s:
            self.abandoned += 1
            hs.key = None
            return
        else:
            wait = c.retry_interval_s
        wait += self._rng.uniform(0.0, c.retry_jitter_s)
        heapq.heappush(self._queue, (at + wait, next(self._order), "tx", hs.handset, hs.seq))

    def _loss(self, hs: _Handset) -> float:
        loss = self.conditions.loss
        return min(0.95, loss * 2 + 0.1) if hs.battery < LOW_BATTERY else loss

    def _ack_loss(self) -> float:
        c = self.conditions
        return c.loss if c.ack_loss is None else c.ack_loss
