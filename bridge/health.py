"""``GET /health``: the figures a technician checks first, from the parts of one process."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bridge import VERSION
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
        },
    }
    ok = service.link.connected.is_set()
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
        }
        critical = journal.failed
        warnings += ["journal_low_space"] if journal.low_space else []
        out["decisions"] = dict(service.core.decisions)
        out["handsets_heard"] = len(service.core.handsets)
    if service.store_failure:
        out["event_store"] = {"state": "failed", "error": service.store_failure}
        warnings.append("event_store_failed")
    if service.tally is not None:
        out["tally"] = {
            "batches": service.tally.batches,
            "bad_batches": service.tally.bad_batches,
            "gaps": service.tally.gaps,
            "rounds": len(service.tally.tallies),
        }
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
        **st.extra,
    }


def latest_sightings(tables: Iterable[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Handset tables of several bridges merged: for each handset, its latest sighting."""
    merged: dict[str, dict[str, Any]] = {}
    for table in tables:
        for handset, seen in table.items():
            if handset not in merged or seen["last"] > merged[handset]["last"]:
                merged[handset] = seen
    return merged
