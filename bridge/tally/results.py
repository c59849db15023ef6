"""Results: the documents the tally published, and recounts of them from the journal.

The final results of a round are the document the tally engine published on
``ars/round/{round}/results`` (kept in the event store). A recount recomputes them from the
journal, under the live rules or another policy or grace period; under the live rules it
gives the same figures (``tests/bridge/tally/test_recount.py`` shows it for any presses).
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge.desk.store import EventStore
from bridge.event.rounds import RoundState
from bridge.event.votes import Decision, Policy, Record
from bridge.press.journal import Journal, connect
from bridge.tally.count import recount
from bridge.tally.ledger import Ledger
from bridge.tally.seating import Seating

RESULTS_DOC = "results/"  # event-store documents: results/{round}


def recount_results(
    records: Sequence[Record],
    state: RoundState,
    *,
    policy: Policy | None = None,
    grace_s: float | None = None,
    echo_window_s: float = 2.0,
    seating: Seating | None = None,
    heard: int | None = None,
    min_segment: int = 5,
    participants: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A round's results recomputed from its journaled presses (final, counts shown);
    ``participants`` (who voted, journaled apart) gives an anonymous round's turnout."""
    tally = recount(
        records,
        state,
        policy=policy,
        grace_s=grace_s,
        echo_window_s=echo_window_s,
        seating=seating,
        min_segment=min_segment,
        participants=participants,
    )
    tally.final = True
    heard_n = (
        heard
        if heard is not None
        else len({r.handset for r in records if r.handset and r.decision is not Decision.BAD_FRAME})
    )
    doc = tally.snapshot(heard=heard_n, now=state.closed_at or 0.0, full=True)
    doc["recount"] = {
        "policy": tally.policy.value,
        "grace_s": state.grace_s if grace_s is None else grace_s,
    }
    return doc


class EventRecords:
    """An event's journal and store, read for exports (while running or afterwards), with the
    tally's record of other bridges' presses and, offline, the journals of other bridges."""

    def __init__(self, path: Path, others: Sequence[Path] = ()) -> None:
        self.path = path
        self.store = EventStore(path)
        self.journal = Journal(path)
        self.others = [Journal(p) for p in others]

    def rounds(self, only: Sequence[str] = ()) -> list[RoundState]:
        rounds = self.store.rounds()
        if only:
            known = {s.round for s in rounds}
            missing = [r for r in only if r not in known]
            if missing:
                raise LookupError(f"no round {', '.join(map(repr, missing))} in {self.path}")
            rounds = [s for s in rounds if s.round in only]
        return rounds

    def journal_records(self) -> list[Record]:
        """Every row of this file's own journal, in id order."""
        return list(self.journal.records())

    def records(self, round_id: str) -> list[Record]:
        """Every press of the round from every bridge, each once: this file's journal, the
        tally's record of other bridges, and the other journals given. One bridge's presses
        stay in the order it decided them; bridges are interleaved by time."""
        per_bridge: dict[str, dict[int, Record]] = {}
        for journal in [self.journal, *self.others]:
            bridge = bridge_of(journal.path)
            held = per_bridge.setdefault(bridge, {})
            for rec in journal.records(round_id=round_id):
                rec.bridge = bridge
                held.setdefault(rec.id, rec)
        for bridge, rec in Ledger(self.path).records(round_id):
            rec.bridge = bridge
            per_bridge.setdefault(bridge, {}).setdefault(rec.id, rec)
        streams = [sorted(held.values(), key=lambda r: r.id) for held in per_bridge.values()]
        if len(streams) == 1:
            return streams[0]
        return list(heapq.merge(*streams, key=lambda r: r.t))

    def participants(self, state: RoundState) -> list[str] | None:
        """Who voted in an anonymous round (journaled apart from answers); None otherwise."""
        return self.journal.participants(state.round, state.since) if state.anonymous else None

    def results(
        self, state: RoundState, *, seating: Seating | None = None, min_segment: int = 5
    ) -> dict[str, Any]:
        """The published final results of ``state``'s round, or a recount when there are none."""
        stored = self.store.document(RESULTS_DOC + state.round)
        if stored is not None:
            doc: dict[str, Any] = json.loads(stored)
            return doc
        return recount_results(
            self.records(state.round),
            state,
            seating=seating,
            min_segment=min_segment,
            participants=self.participants(state),
        )

    def close(self) -> None:
        self.store.close()


def bridge_of(path: Path) -> str:
    """The bridge a journal file belongs to, as the journal recorded it ('' when unknown)."""
    db = connect(path)
    try:
        row = db.execute("SELECT value FROM meta WHERE name = 'bridge'").fetchone()
    except sqlite3.Error:
        row = None
    finally:
        db.close()
    return str(row[0]) if row else ""
