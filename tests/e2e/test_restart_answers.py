"""A restart in the middle of multi-select and ranking answers: the first press after it is
decided as if the service had never stopped, and the handset tables come back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bridge.event.questions import Question
from bridge.event.votes import Decision
from drivers.base import Press
from tests.conftest import service_settings
from tests.e2e.harness import Running, running

QUESTIONS = {
    "multi": Question.multi("ABCDE", max_choices=3),
    "ranking": Question.ranking("ABCDE", weights=(3.0, 2.0, 1.0)),
}


def press(svc: Running, handset: str, key: str) -> None:
    """One press as a receiver reports it, into the bridge's press path."""
    core = svc.service.core
    assert core is not None
    core.handle(Press("rx1", handset, key, time.time(), rssi=-52, battery=77))


async def journaled(svc: Running) -> None:
    assert svc.service.journal is not None
    await svc.service.journal.flush()


@pytest.mark.parametrize("kind", sorted(QUESTIONS))
async def test_answers_in_progress_survive_a_restart(
    tmp_path: Path, broker: str, kind: str
) -> None:
    settings = service_settings(tmp_path, broker)
    question = QUESTIONS[kind].model_dump(mode="json")
    async with running(settings) as svc:
        r = await svc.http.post(
            "/api/v1/rounds/q/open", json={"question": question, "timer": False}
        )
        assert r.status_code == 200, r.text
        for handset, key in [("100001", "A"), ("100001", "B"), ("100002", "D"), ("100002", "A")]:
            press(svc, handset, key)
        await journaled(svc)

    async with running(settings) as svc:
        core, journal = svc.service.core, svc.service.journal
        assert core is not None
        assert journal is not None
        assert core.handsets["100001"].presses == 2, "the handset table came back"
        assert core.handsets["100002"].battery == 77
        press(svc, "100001", "C")
        press(svc, "100002", "D")  # already in its answer: nothing changes
        await journaled(svc)
        after = list(journal.records(round_id="q"))[-2:]
        await svc.http.post("/api/v1/rounds/q/close")
        await svc.until(lambda: svc.service.results("q") is not None, "results")
        results = (await svc.http.get("/api/v1/rounds/q/results")).json()
        recount = (await svc.http.get("/api/v1/rounds/q/results?policy=last")).json()

    first, second = after
    assert (first.decision, second.decision) == (Decision.CHANGED, Decision.DUPLICATE)
    if kind == "multi":
        assert first.answer == "ABC"
        assert results["counts"] == {"A": 2, "B": 1, "C": 1, "D": 1, "E": 0}
    else:
        assert first.answer == "ABC"
        assert second.answer == "DA"
        assert results["counts"] == {"A": 5, "B": 2, "C": 1, "D": 3, "E": 0}
    assert results["voters"] == 2
    assert recount["counts"] == results["counts"]
