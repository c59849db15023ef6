"""The results and the presses as CSV tables: one row per option, one row per press."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from typing import Any

from bridge.event.roster import Roster
from bridge.event.votes import Record

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
        }
        for opt in question["options"]
    ]


def results_csv(documents: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, RESULTS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for doc in documents:
        writer.writerows(spreadsheet_safe(row) for row in results_rows(doc))
    return out.getvalue()


def votes_csv(records: Iterable[Record], roster: Roster | None = None) -> str:
    """Every press: time (UTC), receiver, handset, its participant, key and decision."""
    out = io.StringIO()
    writer = csv.DictWriter(out, VOTES_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        holder = roster.holder(rec.handset) if roster is not None and rec.handset else None
        writer.writerow(
            spreadsheet_safe(
                {
                    "id": rec.id,
                    "time": iso(rec.t),
                    "round": rec.round or "",
                    "receiver": rec.receiver,
                    "handset": rec.handset,
                    "participant": holder.id if holder is not None else "",
                    "key": rec.key,
                    "decision": rec.decision.value,
                    "answer": rec.answer or "",
                    "seq": "" if rec.seq is None else rec.seq,
                    "rssi": "" if rec.rssi is None else rec.rssi,
                    "battery": "" if rec.battery is None else rec.battery,
                    "detail": rec.detail,
                }
            )
        )
    return out.getvalue()


def iso(t: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds."""
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")
