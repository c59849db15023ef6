"""The report's appendix, "how these results were produced": per round, the rules it was
counted under, when it was open, what the journal holds by decision, its revision and any
amendment, and the host's, technician's and organiser's actions on it."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.desk.audit import AuditEntry
from bridge.event.rounds import RoundState
from bridge.event.votes import Decision, Policy, Record, Unpaired


@dataclass(frozen=True)
class Provenance:
    """One round's line of the appendix."""

    round: str
    title: str
    policy: str
    grace: str
    unpaired: str
    windows: tuple[str, ...]
    presses: tuple[tuple[str, int], ...]  # journaled presses by decision, in Decision order
    removed: int  # presses a reset took out of the round
    revision: int
    amendment: Mapping[str, Any] | None
    actions: tuple[str, ...]


@dataclass(frozen=True)
class AppendixRound:
    """What the appendix is made from for one round."""

    state: RoundState
    results: Mapping[str, Any]
    presses: Mapping[str, int]  # journaled presses by decision (those a reset removed apart)
    removed: int
    actions: Sequence[AuditEntry]


def appendix_round(
    state: RoundState,
    results: Mapping[str, Any],
    records: Iterable[Record],
    audit: Iterable[AuditEntry],
) -> AppendixRound:
    """Count the round's journaled presses by decision and pick its actions from the trail."""
    counts: Counter[str] = Counter()
    removed = 0
    for rec in records:
        if state.since is not None and rec.t < state.since:
            removed += 1
        else:
            counts[rec.decision.value] += 1
    actions = [e for e in audit if e.round == state.round]
    return AppendixRound(state, results, counts, removed, actions)


def provenance(source: AppendixRound, tz: dt.tzinfo) -> Provenance:
    """The appendix line of one round, times in ``tz``."""
    state, results, presses = source.state, source.results, source.presses

    def at(t: float | None) -> str:
        return dt.datetime.fromtimestamp(t, tz).strftime("%H:%M:%S") if t is not None else "…"

    policy = "last answer counts" if state.policy is Policy.LAST else "first answer counts"
    if state.paired_only:
        unpaired = "paired handsets only"
    elif state.unpaired is Unpaired.HOLD:
        unpaired = "held, not counted (with a roster loaded)"
    else:
        unpaired = "counted as their own voters"
    return Provenance(
        round=state.round,
        title=state.title or state.round,
        policy=policy,
        grace=f"{state.grace_s:g} s",
        unpaired=unpaired,
        windows=tuple(f"{at(w.start)}–{at(w.end)}" for w in state.windows),
        presses=tuple((d.value, presses[d.value]) for d in Decision if presses.get(d.value)),
        removed=source.removed,
        revision=int(results.get("revision", 0)),
        amendment=results.get("amendment"),
        actions=tuple(_action(e, at) for e in source.actions),
    )


def _action(entry: AuditEntry, at: Callable[[float | None], str]) -> str:
    params = ", ".join(f"{k} {v}" for k, v in sorted(entry.params.items()) if v is not None)
    return f"{at(entry.t)} {entry.role}: {entry.action}" + (f" ({params})" if params else "")
