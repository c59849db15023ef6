"""The check every vote batch passes before the tally engine counts a record of it.

A batch comes from the bus, where anyone the broker lets in could have written it. It is
taken only from a configured bridge, on the topic of the receiver it names, with its batch
number not going back within one boot of the bridge, and with records whose fields have the
shapes the journal gives them and whose ids do not leap ahead of what that bridge has sent
(one forged id far ahead would otherwise hide every real press that follows it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeGuard

import msgspec

from bridge.event.votes import PUBLISHED, Record
from bridge.mqtt.guard import Rejected
from bridge.tally.ledger import CoverError, Token, token_of

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # bridge, receiver and round names
# drivers.ids: 6 hex digits or an i>clicker ID; an anonymous round's pseudonym (~h + hex)
HANDSET = re.compile(r"^([0-9A-F]{1,8}|~h[0-9a-f]{16})$")
VOTER = re.compile(r"^(~p|~h)[0-9a-f]{16}$")  # an anonymous round's voter pseudonym
MAX_ID = 2**53  # ids are SQLite rowids, exact in a JSON number up to here
MAX_BATCH = 2**31
MAX_TEXT = 64  # a key or an answer (multi-select and ranking combine keys)
WIRE_FIELDS = frozenset({"id", "t", "hs", "k", "d", "r", "a", "seq", "rssi", "bat", "v"})


@dataclass(frozen=True, slots=True)
class VoteBatch:
    """A batch that passed the check: its bridge, receiver, sequence and records."""

    bridge: str
    receiver: str
    boot: float
    number: int
    records: list[Record]
    token: Token  # the cycle it is part of: (bridge, lo, hi, part, parts)


class BatchCheck:
    """Checks vote batches against the configured bridges and what each has sent so far."""

    def __init__(
        self,
        bridges: Collection[str],
        *,
        max_bytes: int,
        max_records: int,
        max_record_jump: int,
        receivers_of: Callable[[str], Collection[str] | None] = lambda bridge: None,
        own: tuple[str, Callable[[str, bytes], bool]] | None = None,
    ) -> None:
        self.bridges = frozenset(bridges)
        # The receivers a bridge says it has (None: not known yet, any name is taken).
        self._receivers_of = receivers_of
        # In a process that runs the bridge too: its name, and whether it sent a payload.
        self._own = own
        self.max_bytes = max_bytes
        self.max_records = max_records
        self.max_record_jump = max_record_jump
        self._boot: dict[str, float] = {}  # latest boot seen per bridge
        self._number: dict[tuple[str, str, float], int] = {}  # last batch number per stream
        self.high: dict[str, int] = {}  # highest record id accepted per bridge

    def seen(self, bridge: str, record_id: int) -> None:
        """Records the journal already holds (a recount at start) set where ids stand."""
        self.high[bridge] = max(self.high.get(bridge, 0), record_id)

    def check(self, topic: str, topic_receiver: str, data: bytes) -> VoteBatch:
        """The batch in ``data``, sent on ``topic`` (receiver ``topic_receiver``); or Rejected."""
        if len(data) > self.max_bytes:
            raise Rejected("too large", f"{len(data)} bytes over bus.max_message_bytes")
        try:
            doc = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise Rejected("malformed", f"not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise Rejected("malformed", "not a JSON object")
        bridge = doc.get("bridge")
        if not isinstance(bridge, str) or bridge not in self.bridges:
            raise Rejected("unknown bridge", f"{str(bridge)[:64]!r} is not in bus.bridges")
        receiver = doc.get("receiver")
        if receiver != topic_receiver or not NAME.match(topic_receiver):
            raise Rejected("wrong receiver", f"{str(receiver)[:64]!r} on {topic_receiver!r}")
        known = self._receivers_of(bridge)
        if known is not None and receiver not in known:
            raise Rejected("unknown receiver", f"{bridge} has no receiver {receiver!r}")
        if self._own is not None and bridge == self._own[0] and not self._own[1](topic, data):
            # This process's own bridge sent every batch in its name: anything else is forged.
            raise Rejected("not sent by this bridge", f"a batch in the name of {bridge}")
        boot, number = doc.get("boot"), doc.get("batch")
        if not _number(boot) or not 0 < boot < 1e11:
            raise Rejected("malformed", f"boot {boot!r}")
        if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < MAX_BATCH:
            raise Rejected("malformed", f"batch {number!r}")
        if boot < self._boot.get(bridge, 0.0):
            raise Rejected("out of sequence", f"boot {boot} before {self._boot[bridge]}")
        stream = (bridge, receiver, float(boot))
        if number < self._number.get(stream, 0):
            raise Rejected("out of sequence", f"batch {number} after {self._number[stream]}")
        items = doc.get("presses")
        if not isinstance(items, list) or len(items) > self.max_records:
            raise Rejected("malformed", "presses must be a list of at most bus.max_batch_records")
        records = [self._record(receiver, item) for item in items]
        try:
            token = token_of(bridge, doc.get("cover"), doc.get("part"), doc.get("parts"))
        except CoverError as exc:
            raise Rejected("malformed", str(exc)) from None
        if any(not token[1] < r.id <= token[2] for r in records):
            raise Rejected("malformed", "a press outside the batch's cover")
        limit = self.high.get(bridge, 0) + self.max_record_jump + len(records)
        for rec in records:
            if rec.id > limit:
                raise Rejected(
                    "record id leap", f"id {rec.id} beyond {limit} (bus.max_record_jump)"
                )
        # Only a batch that passed moves the bridge's sequence on.
        self._boot[bridge] = boot
        self._number[stream] = max(number, self._number.get(stream, 0))
        if records:
            self.seen(bridge, max(r.id for r in records))
        return VoteBatch(bridge, receiver, float(boot), number, records, token)

    @staticmethod
    def _record(receiver: str, item: object) -> Record:
        if not isinstance(item, dict) or not WIRE_FIELDS.issuperset(item):
            raise Rejected("malformed", "a press must be an object of the wire fields")
        try:
            rec = Record.from_wire(receiver, item)
        except (KeyError, ValueError, TypeError) as exc:
            raise Rejected("malformed", f"press: {exc!r}") from None
        checks = (
            ("id", isinstance(item["id"], int) and 0 < rec.id < MAX_ID),
            ("t", _number(item["t"]) and 0 < rec.t < 1e11),
            ("hs", bool(HANDSET.match(rec.handset))),
            ("k", 0 < len(rec.key) <= MAX_TEXT),
            ("d", rec.decision in PUBLISHED),
            ("r", rec.round is None or bool(NAME.match(rec.round))),
            ("a", rec.answer is None or len(rec.answer) <= MAX_TEXT),
            ("v", rec.voter is None or bool(VOTER.match(rec.voter))),
        )
        bad = next((name for name, ok in checks if not ok), None)
        if bad is not None:
            raise Rejected("malformed", f"press field {bad!r}: {str(item.get(bad))[:64]}")
        return rec


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
