"""The results and the presses as CSV tables: one row per option, one row per press."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from typing import Any

from bridge.desk.audit import AuditEntry
from bridge.event.pairing import PairingLedger
from bridge.event.rounds import RoundState
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
    "revision",
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
    "removed",
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
            "revision": results.get("revision", ""),
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


def votes_csv(
    records: Iterable[Record],
    pairings: PairingLedger | None = None,
    rounds: Iterable[RoundState] = (),
) -> str:
    """Every press: time (UTC), receiver, handset, the participant who held it at that time,
    key, decision, and ``reset`` in ``removed`` when a reset of its round took it out."""
    resets = {s.round: s.since for s in rounds if s.since is not None}
    out = io.StringIO()
    writer = csv.DictWriter(out, VOTES_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        holder = (
            pairings.holder_at(rec.handset, rec.t) if pairings is not None and rec.handset else None
        )
        since = resets.get(rec.round or "")
        writer.writerow(
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
                "removed": "reset" if since is not None and rec.t < since else "",
            }
        )
    return out.getvalue()


AUDIT_COLUMNS = ("id", "time", "role", "action", "round", "params")


def audit_csv(entries: Iterable[AuditEntry]) -> str:
    """The audit trail: every action with its time (UTC), role, round and parameters (JSON)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, AUDIT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for e in entries:
        writer.writerow(
            {
                "id": e.id,
                "time": iso(e.t),
                "role": e.role,
                "action": e.action,
                "round": e.round or "",
                "params": json.dumps(e.params, sort_keys=True, separators=(",", ":")),
            }
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
            {
                "handset": p.handset,
                "participant": p.participant,
                "start": iso(p.start),
                "end": "" if p.end is None else iso(p.end),
                "loaner": "yes" if p.loaner else "",
                "note": p.note,
            }
        )
    return out.getvalue()


def iso(t: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds."""
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")
