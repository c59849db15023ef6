"""What a round's tally keeps of its presses, packed.

A round of 50,000 handsets keeps a few hundred thousand countable presses (to give each to its
voter again when a pairing is corrected) and the id of every record it took (to drop
redeliveries). As records, tuples and sets of ints they take about 180 bytes a press; in
columns and a bitmap about 45.
"""

from __future__ import annotations

from array import array


class Presses:
    """Countable presses, column by column; a press is its index."""

    __slots__ = ("answer", "counted", "handset", "id", "t", "voter")

    def __init__(self) -> None:
        self.t = array("d")
        self.id = array("q")
        self.handset: list[str] = []  # the handset's one (interned) string, shared
        self.answer: list[str] = []
        self.counted = bytearray()  # 1: decided COUNTED (in time), 0: LATE (a last answer only)
        self.voter: list[str | None] = []  # an anonymous round's pseudonym of the holder

    def add(
        self, t: float, record_id: int, handset: str, answer: str, counted: bool, voter: str | None
    ) -> int:
        """Keep a press; its index."""
        self.t.append(t)
        self.id.append(record_id)
        self.handset.append(handset)
        self.answer.append(answer)
        self.counted.append(counted)
        self.voter.append(voter)
        return len(self.t) - 1

    def __len__(self) -> int:
        return len(self.t)

    def order(self, i: int) -> tuple[float, int]:
        """The press's place in time (ties broken by record id)."""
        return self.t[i], self.id[i]


class RecordIds:
    """The record ids taken from one bridge: a bitmap from about the first id on (a bridge
    numbers its records 1, 2, 3..., and a round's lie close together), a set for any far
    outside it."""

    SPAN = 1 << 24  # ids the bitmap covers past its base: 2 MB of bits at most
    BEHIND = 1 << 12  # room below the first id for records that arrive late

    __slots__ = ("_base", "_bits", "_far")

    def __init__(self) -> None:
        self._base = -1
        self._bits = bytearray()
        self._far: set[int] = set()

    def add(self, record_id: int) -> bool:
        """Take ``record_id``; False when it was already taken."""
        if self._base < 0:
            self._base = max(0, record_id - self.BEHIND)
        at = record_id - self._base
        if not 0 <= at < self.SPAN:
            if record_id in self._far:
                return False
            self._far.add(record_id)
            return True
        byte, bit = at >> 3, 1 << (at & 7)
        bits = self._bits
        if byte >= len(bits):  # doubled, up to the span
            bits.extend(bytes(min(max(byte + 1, 2 * len(bits)), self.SPAN >> 3) - len(bits)))
        if bits[byte] & bit:
            return False
        bits[byte] |= bit
        return True
