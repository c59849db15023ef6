"""The audit trail keeps every host action with time, role and parameters, in order."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from bridge.clock import ManualClock
from bridge.desk.audit import AuditTrail, read_audit
from bridge.desk.controller import RoundController
from bridge.desk.store import EventStore
from bridge.event.rounds import PhaseName, RoundState
from bridge.reports.tables import audit_csv


async def test_every_round_command_is_recorded_with_time_role_and_parameters(
    tmp_path: Path,
) -> None:
    clock = ManualClock(1_000.0)
    store = EventStore(tmp_path / "event.sqlite3")
    store.open()
    trail = AuditTrail(store, clock.time)
    states: list[RoundState] = []
    controller = RoundController(clock, states.append)
    controller.on_action = trail.record
    try:
        controller.set_phase("r", PhaseName.PRESENTATION, visibility="hidden")
        clock.advance(60)
        controller.set_phase("r", PhaseName.VOTING, duration_s=30)
        clock.advance(10)
        controller.extend("r", 15)
        controller.pause("r")
        clock.advance(5)
        controller.resume("r")
        clock.advance(100)  # the timer closes it
        controller.reveal("r")
        controller.reset("r")
        controller.open("r", timer=False)
        controller.close("r")
        controller.revote("r")
    finally:
        store.close()  # waits for every write handed over

    store = EventStore(tmp_path / "event.sqlite3")
    entries = read_audit(store)
    store.close()
    assert [(e.role, e.action) for e in entries] == [
        ("host", "create"),
        ("host", "phase"),
        ("host", "phase"),
        ("host", "open"),
        ("host", "extend"),
        ("host", "pause"),
        ("host", "resume"),
        ("timer", "close"),
        ("host", "reveal"),
        ("host", "reset"),
        ("host", "open"),
        ("host", "close"),
        ("host", "revote"),
        ("host", "create"),
    ]
    assert entries[0].params["visibility"] == "hidden"
    assert entries[3].params == {"duration_s": 30, "timer": True, "deadline": 1090.0}
    assert entries[4].params == {"seconds": 15}
    assert entries[7].t == entries[7].params["at"] == 1090.0 + 15 + 5
    assert [e.round for e in entries][-2:] == ["r", "r-2"]
    assert [e.t for e in entries] == sorted(e.t for e in entries)
    assert trail.failures == 0
    rows = list(csv.DictReader(io.StringIO(audit_csv(entries))))
    assert rows[4]["params"] == '{"seconds":15}'
    assert rows[7]["time"].startswith("1970-01-01T00:18:")
