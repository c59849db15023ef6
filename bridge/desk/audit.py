"""The audit trail: every host, technician and organiser action, with time, role and
parameters, kept in the event store beside the journal.

Entries are written in the order they were made, through the store's one writer, so the
trail is complete when the store is closed. A write that fails is logged as critical (the
service keeps running: the round itself is already stored) and counted in ``failures``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.desk.store import EventStore

log = logging.getLogger(__name__)

HOST = "host"  # runs the rounds: phases, open, close, extend, pause, reset, reveal, re-vote
TECHNICIAN = "technician"  # roster and pairing
ORGANISER = "organiser"  # amendments of final results
TIMER = "timer"  # the voting timer closing a round at its deadline


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One action: when, by which role, what, on which round, with which parameters."""

    id: int
    t: float
    role: str
    action: str
    round: str | None
    params: dict[str, Any]


ActionListener = Callable[[str, str, "str | None", dict[str, Any]], None]


class AuditTrail:
    """Appends actions to the event store's ``audit`` table and reads them back."""

    def __init__(
        self, store: EventStore, clock: Callable[[], float], *, params_max: int = 4000
    ) -> None:
        self.store = store
        self._clock = clock
        self._params_max = params_max  # [event] audit_params_max
        self.failures = 0

    def record(self, role: str, action: str, round_id: str | None, params: dict[str, Any]) -> None:
        """Keep one action (written in order, without waiting for the disk)."""
        body = json.dumps(params, separators=(",", ":"), sort_keys=True, default=str)
        if len(body) > self._params_max:
            body = json.dumps({"truncated": body[: self._params_max]})
        future = self.store.submit(
            "INSERT INTO audit (t, role, action, round, params) VALUES (?, ?, ?, ?, ?)",
            (self._clock(), role, action, round_id, body),
        )
        future.add_done_callback(self._written)

    def _written(self, future: Any) -> None:
        exc = future.exception()
        if exc is not None:
            self.failures += 1
            log.critical("audit trail: an action could not be written: %s", exc)

    def entries(self, round_id: str | None = None) -> list[AuditEntry]:
        """Every action in the order it was made, or those on one round."""
        return read_audit(self.store, round_id)


def read_audit(store: EventStore, round_id: str | None = None) -> list[AuditEntry]:
    """The audit trail kept in ``store``, in order; optionally one round's actions."""
    rows = store.audit_rows(round_id)
    return [
        AuditEntry(int(i), float(t), str(role), str(action), rnd, dict(json.loads(params)))
        for i, t, role, action, rnd, params in rows
    ]
