"""Results: the documents the tally published, and recounts of them from the journal.

The final results of a round are the document the tally engine published on
``ars/round/{round}/results`` (kept in the event store). A recount recomputes them from the
journal, under the live rules or another policy or grace period; under the live rules it
gives the same figures (``tests/bridge/tally/test_recount.py`` shows it for any presses).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge.desk.store import EventStore
from bridge.event.rounds import RoundState
from bridge.event.votes import Decision, Policy, Record
from bridge.press.journal import Journal
from bridge.tally.count import Seating, recount

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
    """An event's journal and store, read for exports (while running or afterwards)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.store = EventStore(path)
        self.journal = Journal(path)

    def rounds(self, only: Sequence[str] = ()) -> list[RoundState]:
        rounds = self.store.rounds()
        if only:
            known = {s.round for s in rounds}
            missing = [r for r in only if r not in known]
            if missing:
                raise LookupError(f"no round {', '.join(map(repr, missing))} in {self.path}")
            rounds = [s for s in rounds if s.round in only]
        return rounds

    def records(self, round_id: str) -> list[Record]:
        return list(self.journal.records(round_id=round_id))

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
