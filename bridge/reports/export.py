"""``arsbridge export``: an event's results and presses as files, from its journal alone.

Writes ``results.csv`` (one row per option of every round), ``groups.csv`` (the same by
segment and by each of the event's groupings, small groups suppressed), ``results.xlsx`` (a
summary sheet and one sheet per round), ``votes.csv`` (every press with its decision and the
participant who held its handset then), ``pairings.csv`` (the pairing history), ``audit.csv``
(every host, technician and organiser action), ``results.json`` (the results documents, and
every revision of amended ones) and ``report.html`` (the printable report handed out after
the event, with an appendix on how its results were produced), in the event's language. It
reads the journal file, so it works during the event, after it, and on a copy of the file on
another machine; the journals of other bridges of the event can be merged in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.desk.audit import read_audit
from bridge.desk.event_desk import seating_document
from bridge.desk.store import AGENDA, PAIRINGS, ROSTER
from bridge.event.agenda import Agenda
from bridge.event.language import DEFAULT, Language, locale
from bridge.event.pairing import PairingLedger
from bridge.event.roster import Roster
from bridge.event.roster_files import roster_from_csv
from bridge.event.rounds import RoundState, RoundStatus
from bridge.event.votes import Policy
from bridge.press.journal import check_journal
from bridge.reports.appendix import AppendixRound, appendix_round
from bridge.reports.report import ReportRound, render_report
from bridge.reports.tables import (
    audit_csv,
    groups_csv,
    in_order,
    pairings_csv,
    results_csv,
    votes_csv,
)
from bridge.reports.workbook import results_workbook
from bridge.tally.amend import ResultsArchive
from bridge.tally.results import EventRecords, recount_results
from bridge.tally.seating import SeatingPlan

FILES = (
    "results.csv",
    "groups.csv",
    "results.xlsx",
    "votes.csv",
    "pairings.csv",
    "audit.csv",
    "results.json",
    "report.html",
)


@dataclass(frozen=True, slots=True)
class Exported:
    """What an export wrote."""

    folder: Path
    rounds: list[str]
    presses: int
    files: list[Path]


def export_event(
    journal: Path,
    out: Path,
    *,
    rounds: Sequence[str] = (),
    policy: Policy | None = None,
    grace_s: float | None = None,
    min_segment: int = 5,
    others: Sequence[Path] = (),
    language: Language = DEFAULT,
) -> Exported:
    """Write the exports of ``rounds`` (default: every round) from the journal at ``journal``,
    with the presses of the other bridges' journals in ``others`` merged in (each once).

    ``policy`` or ``grace_s`` recount every round under those rules instead of taking the
    results published at the event.
    """
    for path in (journal, *others):
        check_journal(path)
    records = EventRecords(journal, others)
    try:
        agenda_doc = records.store.document(AGENDA)
        agenda = Agenda.model_validate_json(agenda_doc) if agenda_doc else None
        roster_doc = records.store.document(ROSTER)
        roster = roster_from_csv(roster_doc, "stored roster") if roster_doc else Roster()
        groupings = agenda.groupings if agenda is not None else []
        pairings_doc = records.store.document(PAIRINGS)
        ledger = PairingLedger.from_doc(json.loads(pairings_doc)) if pairings_doc else None
        seating = SeatingPlan(seating_document(roster, ledger, groupings))
        states = records.rounds(rounds)
        archive = ResultsArchive(records.store)
        presses = []
        documents: list[dict[str, Any]] = []
        revisions: dict[str, list[dict[str, Any]]] = {}
        report: list[ReportRound] = []
        audit = read_audit(records.store)
        appendix: list[AppendixRound] = []
        for state in states:
            mine = records.records(state.round)
            presses += mine
            if state.status is not RoundStatus.CLOSED:
                report.append(ReportRound(state, {}))
                continue
            if policy is None and grace_s is None:
                doc = records.results(state, seating=seating, min_segment=min_segment)
                kept = archive.revisions(state.round)
                if len(kept) > 1:  # amended: every revision, the superseded ones included
                    revisions[state.round] = kept
            else:
                doc = recount_results(
                    mine,
                    state,
                    policy=policy,
                    grace_s=grace_s,
                    seating=seating,
                    min_segment=min_segment,
                    participants=records.participants(state),
                )
            documents.append(doc)
            report.append(ReportRound(state, doc))
            appendix.append(appendix_round(state, doc, mine, audit))
    finally:
        records.close()
    out.mkdir(parents=True, exist_ok=True)
    lang = locale(language)
    written: dict[str, str | bytes] = {
        "results.csv": results_csv(documents, lang),
        "groups.csv": groups_csv(documents, lang),
        "results.xlsx": results_workbook(documents, agenda.title if agenda else "", lang),
        "votes.csv": votes_csv(in_order(presses), seating.ledger, states, lang),
        "pairings.csv": pairings_csv(seating.ledger),
        "audit.csv": audit_csv(audit),
        "results.json": json.dumps(
            {
                "rounds": [_summary(s) for s in states],
                "results": documents,
                "revisions": revisions,
            },
            indent=2,
        ),
        "report.html": render_report(
            agenda=agenda, rounds=report, language=language, appendix=appendix
        ),
    }
    files = []
    for name, body in written.items():
        path = out / name
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body, encoding="utf-8")
        files.append(path)
    return Exported(out, [s.round for s in states], len(presses), files)


def _summary(state: RoundState) -> dict[str, Any]:
    return {
        "round": state.round,
        "theme": state.theme,
        "attempt": state.attempt,
        "title": state.title,
        "status": state.status.value,
        "opened_at": state.opened_at,
        "closed_at": state.closed_at,
    }
