"""Anonymous rounds: handsets and participants replaced by keyed per-round pseudonyms.

In a round marked anonymous the bridge decides on each press as usual (dedup needs the real
handset, and so does one vote per participant), then journals and publishes it under
pseudonyms: ``handset`` becomes ``~h`` + HMAC-SHA256(round key, handset) and ``voter`` is
``~p`` + HMAC(round key, participant) of the participant who held the handset then (``~h``
of the handset for a round that counts unpaired handsets). Pseudonyms stay the same for the
whole round, so dedup, changes of answer, one vote per participant across a swap, and a
recount from the journal keep working; who voted is recorded apart, without answers or
times, for turnout by table.

The round key is random, kept in the journal while presses of the round can still come in
(so a restarted bridge gives the same pseudonyms), and destroyed when the round has closed
and its late window has passed. Without it a pseudonym cannot be traced back to a handset.
A press for a round whose key is gone gets a one-off pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

from bridge.event.votes import Record

HANDSET = "~h"
VOTER = "~p"
PSEUDONYM_HEX = 16  # 64 bits: no collision among a few thousand handsets of one round


def is_participant_pseudonym(voter: str | None) -> bool:
    return voter is not None and voter.startswith(VOTER)


class RoundKeys:
    """The pseudonym keys of anonymous rounds, and the pseudonyms they give."""

    def __init__(
        self,
        kept: dict[str, bytes] | None = None,
        *,
        keep: Callable[[str, bytes], None] | None = None,
        forget: Callable[[str], None] | None = None,
    ) -> None:
        self._keys = dict(kept or {})
        self._keep = keep
        self._forget = forget
        self.forgotten: set[str] = set()

    def __contains__(self, round_id: str) -> bool:
        return round_id in self._keys

    def pseudonymise(self, rec: Record, participant: str | None) -> Record:
        """``rec`` with its handset, and the participant who held it, as pseudonyms."""
        assert rec.round is not None
        key = self._key(rec.round)
        handset = HANDSET + _mac(key, "h:" + rec.handset)
        voter = VOTER + _mac(key, "p:" + participant) if participant is not None else handset
        rec.handset = handset
        rec.voter = voter
        return rec

    def forget(self, round_id: str) -> None:
        """Destroy the round's key; its pseudonyms can no longer be traced."""
        self.forgotten.add(round_id)
        if self._keys.pop(round_id, None) is not None and self._forget is not None:
            self._forget(round_id)

    def _key(self, round_id: str) -> bytes:
        key = self._keys.get(round_id)
        if key is not None:
            return key
        if round_id in self.forgotten:
            return secrets.token_bytes(32)  # a one-off pseudonym nobody can trace
        key = self._keys[round_id] = secrets.token_bytes(32)
        if self._keep is not None:
            self._keep(round_id, key)
        return key


def _mac(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]
