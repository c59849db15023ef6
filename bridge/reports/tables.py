"""The results and the presses as CSV tables: one row per option, one row per press.

The files are for spreadsheets: UTF-8 with a byte-order mark (so Excel reads æ, ø, å), the
locale's field separator and decimal mark, and column headers and labels in its language.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from typing import Any

from bridge.desk.audit import AuditEntry
from bridge.event.language import Locale, locale
from bridge.event.pairing import PairingLedger
from bridge.event.rounds import RoundState
from bridge.event.votes import Record

BOM = "\ufeff"
# Columns whose values are words the reader sees, translated as ``value.<column>.<value>``.
LABELLED = ("kind", "policy", "status", "decision")
NUMERIC = ("percent",)

RESULTS_COLUMNS = (
    "round",
    "theme",
    "attempt",
    "title",
    "kind",
    "option",
    "label",
    "count",
    "percent",
    "voters",
    "policy",
    "status",
    "revision",
)
GROUPS_COLUMNS = (
    "round",
    "theme",
    "attempt",
    "grouping",
    "group",
    "suppressed",
    "voters",
    "option",
    "label",
    "count",
    "percent",
)
VOTES_COLUMNS = (
    "id",
    "time",
    "round",
    "receiver",
    "handset",
    "participant",
    "key",
    "decision",
    "answer",
    "seq",
    "rssi",
    "battery",
    "detail",
    "bridge",
    "removed",
)


# Cells a spreadsheet would run as a formula (OWASP "CSV injection"): quoted with a leading '.
FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every text cell that starts like a formula prefixed with ``'``."""
    return {
        k: "'" + v if isinstance(v, str) and v.startswith(FORMULA_LEAD) else v
        for k, v in row.items()
    }


def results_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per option of a round's results document."""
    question = results["question"]
    counts = results.get("counts", {})
    percent = results.get("percent", {})
    return [
        {
            "round": results["round"],
            "theme": results.get("theme") or "",
            "attempt": results["attempt"],
            "title": results.get("title", ""),
            "kind": question["kind"],
            "option": opt["key"],
            "label": opt["label"],
            "count": counts.get(opt["key"], 0),
            "percent": percent.get(opt["key"], 0.0),
            "voters": results["voters"],
            "policy": results["policy"],
            "status": results["status"],
            "revision": results.get("revision", ""),
        }
        for opt in question["options"]
    ]


def results_csv(documents: Iterable[dict[str, Any]], lang: Locale | None = None) -> str:
    """One row per option of every results document, for a spreadsheet of ``lang``."""
    rows = [row for doc in documents for row in results_rows(doc)]
    return table_csv(RESULTS_COLUMNS, rows, lang or locale())


def groups_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Results by group, one row per option of each group of each grouping (the segment
    first); a group too small to show is one row that says so and nothing else."""
    question = results["question"]
    groupings = {"segment": results.get("segments", {}), **results.get("groups", {})}
    rows: list[dict[str, Any]] = []
    for grouping, groups in groupings.items():
        for group, split in groups.items():
            base = {
                "round": results["round"],
                "theme": results.get("theme") or "",
                "attempt": results["attempt"],
                "grouping": grouping,
                "group": group,
                "suppressed": "yes" if split.get("suppressed") else "no",
            }
            if split.get("suppressed"):
                rows.append(base)
                continue
            rows += [
                {
                    **base,
                    "voters": split["voters"],
                    "option": opt["key"],
                    "label": opt["label"],
                    "count": split["counts"].get(opt["key"], 0),
                    "percent": split["percent"].get(opt["key"], 0.0),
                }
                for opt in question["options"]
            ]
    return rows


def groups_csv(documents: Iterable[dict[str, Any]], lang: Locale | None = None) -> str:
    """Results by group of every results document, for a spreadsheet of ``lang``."""
    rows = [row for doc in documents for row in groups_rows(doc)]
    return table_csv(GROUPS_COLUMNS, rows, lang or locale())


def votes_csv(
    records: Iterable[Record],
    pairings: PairingLedger | None = None,
    rounds: Iterable[RoundState] = (),
    lang: Locale | None = None,
) -> str:
    """Every press: time (UTC), receiver, handset, the participant who held it at that time,
    key, decision, the bridge that journaled it, and ``reset`` in ``removed`` when a reset of
    its round took it out."""
    return table_csv(VOTES_COLUMNS, votes_rows(records, pairings, rounds), lang or locale())


def table_csv(columns: tuple[str, ...], rows: Iterable[dict[str, Any]], lang: Locale) -> str:
    """``rows`` under translated ``columns``: BOM, the locale's separator and decimal mark."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=lang.csv_delimiter, lineterminator="\r\n")
    writer.writerow(headers(columns, lang))
    for row in rows:
        safe = spreadsheet_safe({c: cell(c, row.get(c, ""), lang) for c in columns})
        writer.writerow(safe[c] for c in columns)
    return BOM + out.getvalue()


def headers(columns: Iterable[str], lang: Locale) -> list[str]:
    return [lang.t(f"column.{column}") for column in columns]


def cell(column: str, value: Any, lang: Locale) -> Any:
    """A value as the reader of ``lang`` sees it: labels translated, decimals localised."""
    if column in LABELLED and value:
        return lang.t(f"value.{column}.{value}")
    if column in NUMERIC and isinstance(value, int | float):
        return lang.decimal(value)
    return value


def votes_rows(
    records: Iterable[Record],
    pairings: PairingLedger | None = None,
    rounds: Iterable[RoundState] = (),
) -> list[dict[str, Any]]:
    """One row per press, in the columns of :data:`VOTES_COLUMNS`."""
    resets = {s.round: s.since for s in rounds if s.since is not None}
    rows = []
    for rec in records:
        holder = (
            pairings.holder_at(rec.handset, rec.t) if pairings is not None and rec.handset else None
        )
        since = resets.get(rec.round or "")
        rows.append(
            {
                "id": rec.id,
                "time": iso(rec.t),
                "round": rec.round or "",
                "receiver": rec.receiver,
                "handset": rec.handset,
                "participant": holder or "",
                "key": rec.key,
                "decision": rec.decision.value,
                "answer": rec.answer or "",
                "seq": "" if rec.seq is None else rec.seq,
                "rssi": "" if rec.rssi is None else rec.rssi,
                "battery": "" if rec.battery is None else rec.battery,
                "detail": rec.detail,
                "bridge": rec.bridge,
                "removed": "reset" if since is not None and rec.t < since else "",
            }
        )
    return rows


AUDIT_COLUMNS = ("id", "time", "role", "action", "round", "params")


def audit_csv(entries: Iterable[AuditEntry]) -> str:
    """The audit trail: every action with its time (UTC), role, round and parameters (JSON)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, AUDIT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for e in entries:
        writer.writerow(
            spreadsheet_safe(
                {
                    "id": e.id,
                    "time": iso(e.t),
                    "role": e.role,
                    "action": e.action,
                    "round": e.round or "",
                    "params": json.dumps(e.params, sort_keys=True, separators=(",", ":")),
                }
            )
        )
    return out.getvalue()


PAIRINGS_COLUMNS = ("handset", "participant", "start", "end", "loaner", "note")


def pairings_csv(pairings: PairingLedger) -> str:
    """The pairing history: one row per handset held by a participant, from when to when."""
    out = io.StringIO()
    writer = csv.DictWriter(out, PAIRINGS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for p in pairings.pairings:
        writer.writerow(
            spreadsheet_safe(
                {
                    "handset": p.handset,
                    "participant": p.participant,
                    "start": iso(p.start),
                    "end": "" if p.end is None else iso(p.end),
                    "loaner": "yes" if p.loaner else "",
                    "note": p.note,
                }
            )
        )
    return out.getvalue()


def iso(t: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds."""
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")


def in_order(presses: list[Record]) -> list[Record]:
    """One bridge's presses in journal order; several bridges' as merged, by time."""
    if len({r.bridge for r in presses}) <= 1:
        return sorted(presses, key=lambda r: r.id)
    return sorted(presses, key=lambda r: r.t)
