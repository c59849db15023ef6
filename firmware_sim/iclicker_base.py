"""The firmware of an emulated i>clicker base: host commands in, HID input reports out.

Remotes are the handsets of a :class:`~firmware_sim.radio.Air` loaded from an audience's
:class:`~firmware_sim.audience.VotePlan`; the base acknowledges what it hears (``host_acks``:
the base, not the host, answers remotes; "closed" while no poll is open). Reports are built
with the production codec (:mod:`drivers.iclicker.codec`), so emulation and driver agree.

What a real base does and this one copies (``reference/receivers.md`` §1.2-1.3):

* v2 (push): every heard packet becomes a response slot; a remote's index stays the same
  while its answer does, so RF retransmits repeat (ID, answer, index); a report carries two
  slots, sometimes twice the same one or a re-send of an earlier response, newest first or
  last; the index wraps at 256 and restarts with ``01 17 05``; a frequency change is
  followed by response-like packets with codes AA, 00, 86 once the host has finished
  setting the base up and opens a poll (the notes place them after the init sequence, so
  a host that reads the answer to each init command right after sending it gets that
  answer, as iclickerpoll expects).
* v1 (pull): responses are logged once and handed out on ``01 17 01 <index> 04`` as
  ``02 18`` reports of up to 14 records; some answers start a few records early (re-sends).

Time: with a finite ``speed`` simulated seconds run that many times faster than
``clock``; with ``speed=math.inf`` the air moves on only when the host has read everything
(as fast as the host reads), which makes tests fast and independent of the wall clock.
Every method is thread-safe: the USB layer calls from the driver's thread, tests from theirs.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from drivers.base import ProtocolError
from drivers.iclicker.codec import (
    KEYS,
    MAX_RECORDS,
    CommandAck,
    Generation,
    PullRecord,
    PullReport,
    Response,
    ResponseSlot,
    VoteReport,
    decode_report,
)
from drivers.iclicker.commands import Command, CounterOp, Op, channel_bytes, channel_name
from drivers.ids import iclicker_id
from firmware_sim.audience import VotePlan
from firmware_sim.radio import PING_KEY, AckReason, Air, RfConditions, Transmission

RESEND_DEPTH = 8  # a re-send repeats one of the base's last 8 new responses
V1_REPORTS_PER_PULL = 4  # one pull is answered with up to 4 x 14 records
V1_BACKLOG = 2 * MAX_RECORDS  # speed=inf: the air waits while this many v1 records are unread
AFTER_FREQUENCY = (0xAA, 0x00, 0xAA, 0x86)  # FreePoll's log after changing AA -> BD
# Answers the snoop log (iclickerpoll usbsnooplog1_cleaned.log) shows after some commands.
SUMMARY_REPORT = bytes.fromhex("02181a0001000100") + bytes(15) + bytes.fromhex("01000004 05")
PROTOCOL_V2_REPORT = bytes.fromhex("022c")
SESSION_STATUS = bytes.fromhex("0405")  # ``01 15 04 05 F1 F2 01 02 66``
SESSION_TAIL = bytes.fromhex("010266")


@dataclass(frozen=True, slots=True)
class BaseBehaviour:
    """How untidy the base is about repeating itself."""

    resend_rate: float = 0.1  # a lone slot is joined by a re-send of an earlier response
    twin_slot_rate: float = 0.05  # a lone slot is sent in both halves of the report
    newest_first_rate: float = 0.5  # two slots are ordered newest first
    legacy_rate: float = 0.0  # share of remotes that are i>clicker 1 (answer codes 01-05)


class PoweredOff(Exception):
    """The base has no power (it was unplugged); the USB layer turns this into ENODEV."""


class EmulatedBase:
    """One base station's firmware; :class:`~firmware_sim.iclicker_usb.EmulatedUsbBackend`
    puts it on a bus."""

    def __init__(
        self,
        generation: Generation = Generation.V2,
        *,
        air: Air | None = None,
        speed: float = math.inf,
        behaviour: BaseBehaviour | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.generation = generation
        self.air = air or Air(RfConditions(), seed=seed, host_acks=True)
        self.speed = speed
        self.behaviour = behaviour or BaseBehaviour()
        self.on_drained: Callable[[], None] | None = None  # called once the loaded plan is out
        self._rng = random.Random(seed)
        self._clock = clock
        self._wall0, self._sim0 = clock(), self.air.now
        self._cond = threading.Condition()
        self._legacy: dict[str, bool] = {}
        self._powered = True
        self._drained_fired = True
        # For tests: what the host sent, what the host read, what the LCD showed.
        self.commands: list[Command] = []
        self.delivered: list[Response] = []
        self.lcd_writes: list[tuple[float, int, str]] = []
        self.lost_at_power_off: list[Response] = []  # heard and acknowledged, never handed out
        # Which response each delivered one is: the order in which the base logged it (a
        # re-send of an earlier response has that response's number), across power cycles.
        self.delivered_numbers: list[int] = []
        self._logged = 0
        self._numbers: dict[tuple[str, str, int], int] = {}  # (ID, key, index): its number
        self._boot()

    def _boot(self) -> None:
        """Power-on state: everything in RAM is lost."""
        self.channel = "AA"
        self.poll_open = False
        self.lcd = [" " * 16, " " * 16]
        self._index = 0  # v2: next response index
        self._latest: dict[str, ResponseSlot] = {}
        self._history: deque[ResponseSlot] = deque(maxlen=RESEND_DEPTH)
        self._out: deque[bytes] = deque()
        self._after_frequency: list[bytes] = []  # held back until the next poll opens
        self._records: list[PullRecord] = []  # v1: record n has index n (mod 256), from 1
        self._handed_out = 0  # v1: records up to here have been sent to the host

    # The plan.

    def load(self, plan: VotePlan, *, offset_s: float = 0.0) -> None:
        """Let the remotes of ``plan`` press, ``offset_s`` simulated seconds from now."""
        if not set(plan.options) <= set(KEYS):
            raise ValueError(f"i>clicker remotes have keys {KEYS}, not {plan.options}")
        with self._cond:
            lag = 0.0 if math.isinf(self.speed) else self._sim_now() - self.air.now
            self.air.load(plan, offset_s=max(0.0, lag) + offset_s)
            self._drained_fired = False
            self._cond.notify_all()

    @property
    def drained(self) -> bool:
        """The air is quiet and the host has read every response."""
        with self._cond:
            return self._is_drained()

    # Power.

    @property
    def powered(self) -> bool:
        return self._powered

    def power_off(self) -> None:
        """Unplugged: a read in progress and every later call fails until power returns."""
        with self._cond:
            self._powered = False
            for report in self._out:
                self._note_delivered(report, into=self.lost_at_power_off)
            unread = enumerate(self._records[self._handed_out :], start=self._handed_out + 1)
            for n, rec in unread:
                if rec.key is not None:
                    response = Response(iclicker_id(rec.id3), rec.key, n % 256)
                    self.lost_at_power_off.append(response)
            self._boot()
            self._cond.notify_all()

    def power_on(self) -> None:
        """Plugged back in: a fresh base; remotes heard nothing from it meanwhile."""
        with self._cond:
            if not math.isinf(self.speed):
                self.air.advance(self._sim_now())  # transmissions while off went unheard
            self._boot()
            self._powered = True
            self._cond.notify_all()

    # The host side (called by the USB layer).

    def command(self, report: bytes) -> None:
        """One output report from the host (HID SET_REPORT)."""
        with self._cond:
            if not self._powered:
                raise PoweredOff
            try:
                cmd = Command.from_bytes(report)
            except ProtocolError:
                return  # a base ignores what it cannot parse
            self.commands.append(cmd)
            self._execute(cmd)
            self._cond.notify_all()

    def read(self, timeout_s: float) -> bytes | None:
        """The next input report, or None when none comes within ``timeout_s`` (real time)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                if not self._powered:
                    raise PoweredOff
                self._catch_up()
                if self._out:
                    report = self._out.popleft()
                    self._note_delivered(report)
                    return report
                if self._can_step():
                    self._step()
                    continue
                self._fire_drained()
                wait = deadline - time.monotonic()
                if wait <= 0:
                    return None
                due = self._next_due()
                if due is not None:
                    wait = min(wait, max(0.0, due - self._clock()))
                self._cond.wait(wait)

    # Commands.

    def _execute(self, cmd: Command) -> None:
        op, args = cmd.op, cmd.args
        if op in (Op.LCD_LINE_1, Op.LCD_LINE_2):
            line = 1 if op == Op.LCD_LINE_1 else 2
            text = args[:16].decode("ascii", "replace").ljust(16)
            self.lcd[line - 1] = text
            self.lcd_writes.append((self._clock(), line, text))
            return  # the LCD lines are not answered
        extra = b""
        if op == Op.CLOSE_POLL:
            self.poll_open = False
            last = self._history[-1] if self._history else None
            extra = last.id3 if last is not None else b""  # snoop: ``01 12 AA 82 E9 70 00``
        elif op == Op.OPEN_POLL:
            self.poll_open = True
        self._out.append(CommandAck(op, extra).to_bytes())
        if op == Op.OPEN_POLL:
            self._out.extend(self._after_frequency)
            self._after_frequency.clear()
        if op == Op.SET_FREQUENCY and len(args) >= 2:
            self._set_frequency(args[0], args[1])
        elif op == Op.SESSION:
            status = SESSION_STATUS + channel_bytes(self.channel) + SESSION_TAIL
            self._out.append((bytes((0x01, Op.SESSION)) + status).ljust(64, b"\0"))
        elif op == Op.PROTOCOL_V2:
            self._out.append(PROTOCOL_V2_REPORT.ljust(64, b"\0"))
        elif op == Op.COUNTER and args:
            self._counter(args)

    def _set_frequency(self, f1: int, f2: int) -> None:
        try:
            channel = channel_name(f1, f2)
        except ProtocolError:
            return
        if channel != self.channel and self.generation is Generation.V2:
            self._after_frequency = [
                VoteReport(ResponseSlot(code, bytes(3), self._index)).to_bytes()
                for code in AFTER_FREQUENCY
            ]
        self.channel = channel

    def _counter(self, args: bytes) -> None:
        sub = args[0]
        if sub == CounterOp.RESET_COUNT:
            self._index = 0
            self._latest.clear()
            self._history.clear()
            self._records.clear()
            self._handed_out = 0
        elif sub == CounterOp.SUMMARY:
            self._out.append(SUMMARY_REPORT.ljust(64, b"\0"))
        elif sub == CounterOp.PULL and self.generation is Generation.V1 and len(args) >= 2:
            self._answer_pull(args[1])

    def _answer_pull(self, after_index: int) -> None:
        total = len(self._records)
        start = max(0, total - (total - after_index) % 256)  # the newest record with that index
        if start > 0 and self._rng.random() < self.behaviour.resend_rate:
            start = max(0, start - self._rng.randint(1, RESEND_DEPTH))
        end = min(total, start + V1_REPORTS_PER_PULL * MAX_RECORDS)
        self._handed_out = max(self._handed_out, end)
        pos = start
        while True:
            n = min(MAX_RECORDS, end - pos)
            report = PullReport(
                more=pos + n < end,
                unread=min(255, total - pos),
                after_index=pos % 256,
                last_index=(pos + n) % 256,
                records=tuple(self._records[pos : pos + n]),
            )
            self._out.append(report.to_bytes())
            pos += n
            if pos >= end:
                return

    # Remotes.

    def _sim_now(self) -> float:
        return self._sim0 + (self._clock() - self._wall0) * self.speed

    def _catch_up(self) -> None:
        if math.isinf(self.speed) or self.air.done:
            return
        self._hear_all(self.air.advance(self._sim_now()))

    def _can_step(self) -> bool:
        if not (math.isinf(self.speed) and self.poll_open) or self.air.done:
            return False
        if self.generation is Generation.V1:
            return len(self._records) - self._handed_out < V1_BACKLOG
        return True

    def _step(self) -> None:
        due = self.air.next_time()
        if due is not None:
            self._hear_all(self.air.advance(due))

    def _next_due(self) -> float | None:
        """The clock time of the next transmission (finite speed only)."""
        due = self.air.next_time()
        if due is None or math.isinf(self.speed):
            return None
        return self._wall0 + (due - self._sim0) / self.speed

    def _hear_all(self, heard: list[Transmission]) -> None:
        lone: list[ResponseSlot] = []
        for tx in heard:
            slot = self._hear(tx)
            if slot is not None:
                lone.append(slot)
        while lone:
            first = lone.pop(0)
            second = lone.pop(0) if lone else self._companion(first)
            if second is not None and self._rng.random() < self.behaviour.newest_first_rate:
                first, second = second, first
            self._out.append(VoteReport(first, second).to_bytes())

    def _companion(self, slot: ResponseSlot) -> ResponseSlot | None:
        roll = self._rng.random()
        b = self.behaviour
        if roll < b.twin_slot_rate:
            return slot
        if roll < b.twin_slot_rate + b.resend_rate and self._history:
            return self._rng.choice(list(self._history))
        return None

    def _hear(self, tx: Transmission) -> ResponseSlot | None:
        if tx.key == PING_KEY:
            self.air.ack(tx.handset, tx.seq)
            return None
        if not self.poll_open or tx.key not in KEYS:
            self.air.ack(tx.handset, tx.seq, AckReason.CLOSED)
            return None
        self.air.ack(tx.handset, tx.seq)
        id3 = bytes.fromhex(tx.handset[:6])
        if self.generation is Generation.V1:
            code = 0x61 + KEYS.index(tx.key)
            latest = self._latest.get(tx.handset)
            if latest is None or latest.code != code:  # a v1 base logs a response once
                self._records.append(PullRecord(code, id3))
                self._log(tx.handset, tx.key, len(self._records) % 256)
                self._latest[tx.handset] = ResponseSlot(code, id3, len(self._records) % 256)
            return None
        code = self._code(tx.handset, tx.key)
        latest = self._latest.get(tx.handset)
        if latest is not None and latest.code == code:
            return latest  # the same answer again: a retransmit keeps its index
        slot = ResponseSlot(code, id3, self._index)
        self._log(tx.handset, tx.key, self._index)
        self._index = (self._index + 1) % 256
        self._latest[tx.handset] = slot
        self._history.append(slot)
        return slot

    def _code(self, handset: str, key: str) -> int:
        legacy = self._legacy.get(handset)
        if legacy is None:
            legacy = self._legacy[handset] = self._rng.random() < self.behaviour.legacy_rate
        return (0x01 if legacy else 0x81) + KEYS.index(key)

    # Bookkeeping.

    def _log(self, handset: str, key: str, index: int) -> None:
        self._logged += 1
        self._numbers[(iclicker_id(bytes.fromhex(handset[:6])), key, index)] = self._logged

    def _note_delivered(self, report: bytes, into: list[Response] | None = None) -> None:
        decoded = decode_report(report)
        if isinstance(decoded, VoteReport | PullReport):
            responses = decoded.responses()
            (self.delivered if into is None else into).extend(responses)
            if into is None:
                self.delivered_numbers.extend(
                    self._numbers.get((r.handset, r.key, r.index), 0) for r in responses
                )

    def _is_drained(self) -> bool:
        unread = len(self._records) - self._handed_out
        return self.air.done and not self._out and unread == 0

    def _fire_drained(self) -> None:
        if not self._drained_fired and self._is_drained():
            self._drained_fired = True
            if self.on_drained is not None:
                self.on_drained()
