"""What docs/mqtt.md promises about results after a round closes: a press that does not
count leaves the published results alone; a reset withdraws them until the round closes
again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from drivers.base import Press
from tests.conftest import service_settings
from tests.e2e.harness import Running, running

ROUND = "/api/v1/rounds/q1"


def press(svc: Running, handset: str, key: str) -> None:
    core = svc.service.core
    assert core is not None
    core.handle(Press("rx1", handset, key, time.time()))


def results(svc: Running) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = svc.service.mirror.latest.get("round/q1/results")
    return doc


async def test_late_presses_leave_results_alone_and_a_reset_withdraws_them(
    tmp_path: Path, broker: str
) -> None:
    async with running(service_settings(tmp_path, broker)) as svc:
        tally = svc.service.tally
        assert tally is not None
        assert (await svc.http.post(f"{ROUND}/open", json={"title": "Q1"})).status_code == 200
        for n, key in enumerate("ABBA"):
            press(svc, f"H{n}", key)
        await svc.until(lambda: tally.tallies["q1"].decisions.get("counted") == 4, "counted")
        await svc.http.post(f"{ROUND}/close")
        await svc.until(lambda: (results(svc) or {}).get("final") is True, "final results")
        published = results(svc)
        assert published is not None
        assert published["counts"] == {"A": 2, "B": 2, "C": 0, "D": 0, "E": 0}

        press(svc, "H9", "C")  # after the grace period: journaled as late, never counted
        await svc.until(lambda: tally.tallies["q1"].decisions.get("late") == 1, "late seen")
        live = tally.snapshot("q1")
        assert live is not None
        assert live["revision"] == published["revision"]
        assert results(svc) == published
        retained = await svc.retained(
            svc.service.topics.round_results("q1"), lambda doc: doc.get("final") is True
        )
        assert retained["revision"] == published["revision"]

        assert (await svc.http.post(f"{ROUND}/reset")).json()["status"] == "ready"
        await svc.until(lambda: results(svc) is None, "results withdrawn")
        assert (await svc.http.get(f"{ROUND}/results")).status_code != 200
