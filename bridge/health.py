"""``GET /health``: the figures a technician checks first, from the parts of one process."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge import VERSION
from bridge.event.roster import Roster
from drivers.base import Receiver

if TYPE_CHECKING:
    from bridge.service import Service


def health_report(service: Service) -> dict[str, Any]:
    """What a technician checks first: broker link, receivers, journal, tally."""
    out: dict[str, Any] = {
        "version": VERSION,
        "roles": sorted(service.roles),
        "bridge": service.settings.bridge_id,
        "uptime_s": round(time.time() - service.started_at, 1),
        "mqtt": {
            "connected": service.link.connected.is_set(),
            "connects": service.link.connects,
            "broker": f"{service.link.host}:{service.link.port}",
            "embedded": service.broker is not None,
            "server": service.broker.server if service.broker is not None else None,
            # Anyone who reaches such a broker can read the bus and publish on it.
            "anonymous_allowed": service.anonymous_broker,
            "client_id": service.link.client_id,
            # Connections lost (or restarted for want of heartbeats), and the last reason.
            "lost": service.link.lost,
            "last_lost": list(service.link.last_lost) if service.link.last_lost else None,
            "heartbeat": service.heartbeat.report(),
            # Subscriptions the broker refused on this connection, asked for again until
            # granted (nothing arrives on them meanwhile), and refusals in all.
            "missing": sorted(service.link.missing),
            "refused": service.link.refused,
        },
    }
    ok = (
        service.link.connected.is_set()
        and service.heartbeat.degraded is None
        and not service.link.missing
    )
    critical = False
    warnings: list[str] = []
    if service.core is not None and service.journal is not None and service.publisher is not None:
        out["receivers"] = {
            name: {
                "family": st.family,
                "online": st.online,
                "error": st.error,
                "since": st.since,
                "opened": st.opened,
                "stats": _stats(service.core.receivers.get(name)),
            }
            for name, st in service.core.status.items()
        }
        ok = ok and all(st.online for st in service.core.status.values())
        journal = service.journal.health
        out["journal"] = {
            "path": str(service.journal.path),
            "state": "failed" if journal.failed else "low_space" if journal.low_space else "ok",
            "error": journal.failure,
            "free_mb": None if journal.free_bytes is None else journal.free_bytes // 2**20,
            "commits": service.journal.commits,
            "failed_writes": service.journal.failures,
            "not_durable": service.journal.pending,
            "published": service.journal.published,
            "backlog": service.publisher.backlog,
            # Sent but not yet held durably by the tally: resent until it says it is.
            "unacknowledged": service.publisher.unacknowledged,
            "resends": service.publisher.resends,
            "bad_acks": service.publisher.bad_acks,
        }
        critical = journal.failed
        warnings += ["journal_low_space"] if journal.low_space else []
        out["decisions"] = dict(service.core.decisions)
        out["handsets_heard"] = len(service.core.handsets)
        out["flags"] = service.core.watch.document()
    if service.store_failure:
        out["event_store"] = {"state": "failed", "error": service.store_failure}
        warnings.append("event_store_failed")
    if service.tally is not None:
        out["tally"] = {
            "batches": service.tally.batches,
            "bad_batches": service.tally.bad_batches,
            "gaps": service.tally.gaps,
            "rounds": len(service.tally.tallies),
            "active": service.tally.receipts.active,
            "epoch": service.tally.receipts.epoch,
        }
        ledger = service.ledger
        if ledger is not None:
            # The tally's own record of other bridges' presses: while it cannot write, nothing
            # is acknowledged to them (they keep resending) and a restart would lack it.
            out["tally"]["record"] = {
                "state": "failed" if ledger.failure else "ok",
                "error": ledger.failure,
                "commits": ledger.commits,
            }
            if ledger.failure:
                critical = True
    # Messages dropped from the bus: forged, malformed or out of line (never applied).
    out["bus"] = service.guard.report()
    # A reader of the handset tables (the tally's count of handsets heard, pairing by the
    # next press) that failed on one: the log has the error.
    failed = service.mirror.table_listener_failures
    out["bus"]["table_readers_failed"] = failed
    if failed:
        warnings.append("table_readers_failed")
    if service.controller is not None:
        out["current_round"] = service.controller.current
    # critical: presses are not being made durable; degraded: a link or receiver is down.
    out["status"] = "critical" if critical else "ok" if ok and not warnings else "degraded"
    if warnings:
        out["warnings"] = warnings
    return out


def _stats(receiver: Receiver | None) -> dict[str, int]:
    if receiver is None:
        return {}
    st = receiver.stats
    return {
        "frames": st.frames,
        "presses": st.presses,
        "rejected": st.rejected,
        "noise": st.noise,
        "errors": st.errors,
        **st.extra,
    }


# The technician's board: every handset heard or paired, flagged ones first.


def handset_board(
    roster: Roster | None,
    sightings: dict[str, dict[str, Any]],
    *,
    since: float | None = None,
    only: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Handsets heard (with their flags) and paired ones never heard (flagged ``silent``);
    with ``since``, paired handsets not heard since then are ``silent`` too; with ``only``,
    the rows of those handsets that are on the board."""
    paired = {p.handset: p for p in roster.participants() if p.handset} if roster else {}
    rows = []
    for handset in set(sightings) | set(paired) if only is None else only:
        if handset not in sightings and handset not in paired:
            continue
        seen = sightings.get(handset, {})
        holder = paired.get(handset)
        flags = list(seen.get("flags", []))
        last = seen.get("last")
        if holder is not None and (last is None or (since is not None and last < since)):
            reason = "paired, never heard" if last is None else "not heard since the roll call"
            flags.append({"kind": "silent", "reason": reason, "since": since, "last": last})
        rows.append(
            {
                "handset": handset,
                "rx": seen.get("rx"),
                "last": last,
                "presses": seen.get("presses", 0),
                # Presses held because nobody held the handset: the technician pairs it.
                "held": seen.get("held", 0),
                "rssi": seen.get("rssi"),
                "bat": seen.get("bat"),
                "participant": holder.id if holder else None,
                "name": holder.name if holder else None,
                "table": holder.table if holder else None,
                "seat": holder.seat if holder else None,
                "flags": flags,
            }
        )
    rows.sort(key=lambda r: (not r["flags"], _table_key(r["table"]), r["handset"]))
    return rows


def _table_key(table: str | None) -> tuple[int, str]:
    if table is None or table == "":
        return (1 << 31, "")
    return (int(table), table) if table.isdigit() else (1 << 30, table)


def board_filter(
    rows: list[dict[str, Any]],
    *,
    flag: str | None = None,
    table: str | None = None,
    receiver: str | None = None,
    text: str | None = None,
) -> list[dict[str, Any]]:
    """The rows with a flag of kind ``flag`` (``any`` for any), at ``table``, last heard on
    ``receiver``, and containing ``text`` in handset, participant or name."""
    needle = (text or "").casefold()

    def keep(row: dict[str, Any]) -> bool:
        kinds = {f["kind"] for f in row["flags"]}
        return (
            (flag is None or (flag == "any" and bool(kinds)) or flag in kinds)
            and (table is None or row["table"] == table)
            and (receiver is None or row["rx"] == receiver)
            and (
                not needle
                or any(
                    needle in str(row[k] or "").casefold()
                    for k in ("handset", "participant", "name")
                )
            )
        )

    return [r for r in rows if keep(r)]


@dataclass(frozen=True, slots=True)
class RollCall:
    """ "Press any key": from ``since``, for the room or one ``table``."""

    since: float
    table: str | None = None

    def report(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Who is expected (paired, in scope), who has been heard since, who is missing."""
        expected = [
            r for r in rows if r["participant"] and (self.table is None or r["table"] == self.table)
        ]
        missing = [r for r in expected if r["last"] is None or r["last"] < self.since]
        return {
            "running": True,
            "since": self.since,
            "table": self.table,
            "expected": len(expected),
            "heard": len(expected) - len(missing),
            "missing": missing,
        }
