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
)


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
        writer.writerows(results_rows(doc))
    return out.getvalue()


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


def groups_csv(documents: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, GROUPS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for doc in documents:
        writer.writerows(groups_rows(doc))
    return out.getvalue()


def votes_csv(records: Iterable[Record], roster: Roster | None = None) -> str:
    """Every press: time (UTC), receiver, handset, its participant, key and decision."""
    out = io.StringIO()
    writer = csv.DictWriter(out, VOTES_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        holder = roster.holder(rec.handset) if roster is not None and rec.handset else None
        writer.writerow(
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
                "bridge": rec.bridge,
            }
        )
    return out.getvalue()


def iso(t: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds."""
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")
