"""The vote batch on ``ars/rx/{receiver}/votes``, as msgspec structs: encoded and decoded
(and checked) in one pass each, without a dict per press. docs/mqtt.md has the format."""

from __future__ import annotations

import msgspec

from bridge.event.votes import Decision, Record


class WirePress(msgspec.Struct, omit_defaults=True, frozen=True):
    """One journaled press in a batch; absent values are left out."""

    id: int
    t: float
    hs: str
    k: str
    d: Decision
    r: str | None = None
    a: str | None = None
    seq: int | None = None
    rssi: int | None = None
    bat: int | None = None


class VoteBatch(msgspec.Struct, frozen=True):
    """One message: a bridge's presses from one receiver since its previous batch."""

    bridge: str
    receiver: str
    boot: float
    batch: int
    dup: int
    presses: list[WirePress]

    def records(self) -> list[Record]:
        """The presses as journal records of this batch's receiver."""
        rx = self.receiver
        return [
            Record(p.id, p.t, rx, p.hs, p.k, p.d, p.r, p.a, p.seq, p.rssi, p.bat)
            for p in self.presses
        ]


def wire(rec: Record) -> WirePress:
    """The batch form of a journal record."""
    return WirePress(
        rec.id, rec.t, rec.handset, rec.key, rec.decision, rec.round, rec.answer, rec.seq,
        rec.rssi, rec.battery,
    )  # fmt: skip


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(VoteBatch)


def encode_batch(batch: VoteBatch) -> bytes:
    return _encoder.encode(batch)


def decode_batch(data: bytes) -> VoteBatch:
    """The batch in ``data``; raises ``msgspec.ValidationError`` (a ValueError) or
    ``msgspec.DecodeError`` when it is not one."""
    return _decoder.decode(data)
