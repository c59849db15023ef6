"""The results archive keeps every revision once, and an amendment's input is checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bridge.desk.store import EventStore
from bridge.tally.amend import Amendment, ResultsArchive


async def test_each_revision_is_kept_once_and_the_latest_is_never_an_older_one(
    tmp_path: Path,
) -> None:
    store = EventStore(tmp_path / "event.sqlite3")
    store.open()
    try:
        archive = ResultsArchive(store)
        assert await archive.keep({"round": "q", "revision": 1, "counts": {"A": 1}})
        assert not await archive.keep({"round": "q", "revision": 1, "counts": {"A": 9}})
        assert await archive.keep({"round": "q", "revision": 3, "counts": {"A": 3}})
        assert await archive.keep({"round": "q", "revision": 2, "counts": {"A": 2}})
        assert await archive.keep({"round": "Q", "revision": 1, "counts": {"B": 1}})
        assert [d["counts"]["A"] for d in archive.revisions("q")] == [1, 2, 3]
        assert archive.latest("q") == {"round": "q", "revision": 3, "counts": {"A": 3}}
        assert archive.revision("q", 1) == {"round": "q", "revision": 1, "counts": {"A": 1}}
        assert archive.revision("q", 7) is None
    finally:
        store.close()


def test_an_amendment_names_who_and_why_and_checks_its_pairings() -> None:
    with pytest.raises(ValidationError, match="reason"):
        Amendment.model_validate({"by": "chief technician"})
    with pytest.raises(ValidationError, match="end must come after start"):
        Amendment.model_validate(
            {
                "by": "x",
                "reason": "y",
                "pairings": [{"handset": "428071B3", "participant": "p1", "start": 5, "end": 5}],
            }
        )
    with pytest.raises(ValidationError, match="fails its check"):
        Amendment.model_validate(
            {
                "by": "x",
                "reason": "y",
                "pairings": [{"handset": "428071B4", "participant": "p1", "start": 1}],
            }
        )
    with pytest.raises(ValidationError, match="at most 1000"):
        Amendment.model_validate(
            {
                "by": "x",
                "reason": "y",
                "pairings": [{"handset": "428071B3", "participant": "p1", "start": 1}] * 1001,
            }
        )
    ok = Amendment.model_validate(
        {
            "by": "x",
            "reason": "y",
            "pairings": [{"handset": "428071b3", "participant": "p1", "start": 1}],
        }
    )
    assert ok.pairings[0].handset == "428071B3"
