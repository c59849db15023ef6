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
            "server": service.broker.server if service.broker is not None else None,
            # Anyone who reaches such a broker can read the bus and publish on it.
            "anonymous_allowed": service.anonymous_broker,
            "client_id": service.link.client_id,
            # Connections lost (or restarted for want of heartbeats), and the last reason.
            "lost": service.link.lost,
            "last_lost": list(service.link.last_lost) if service.link.last_lost else None,
            "heartbeat": service.heartbeat.report(),
        },
    }
    ok = service.link.connected.is_set() and service.heartbeat.degraded is None
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
        out["journal"] = {
            "path": str(service.journal.path),
            "commits": service.journal.commits,
            "published": service.journal.published,
            "backlog": service.publisher.backlog,
        }
        out["decisions"] = dict(service.core.decisions)
        out["handsets_heard"] = len(service.core.handsets)
    if service.tally is not None:
        out["tally"] = {
            "batches": service.tally.batches,
            "bad_batches": service.tally.bad_batches,
            "gaps": service.tally.gaps,
            "rounds": len(service.tally.tallies),
        }
    # Messages dropped from the bus: forged, malformed or out of line (never applied).
    out["bus"] = service.guard.report()
    if service.controller is not None:
        out["current_round"] = service.controller.current
    out["status"] = "ok" if ok else "degraded"
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
