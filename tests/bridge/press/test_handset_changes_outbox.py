"""The handset table's change messages while the link is down: this process's readers get
every one at once; the bus's wait, up to a bound, past which the whole table is due."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.press.handsets import TABLE_OUTBOX_MAX
from tests.bridge.press.onair import T0, bridge


async def test_changes_wait_for_the_link_up_to_a_bound_and_every_reader_gets_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with bridge(tmp_path) as b:  # its link never connects
        told: list[int] = []

        def failing(doc: dict[str, Any], data: bytes) -> None:
            raise RuntimeError("a reader that fails")

        b.core.table_listeners.append(failing)
        b.core.table_listeners.append(lambda doc, data: told.append(doc["seq"]))
        outbox = b.core.publication.outbox
        for n in range(1, TABLE_OUTBOX_MAX + 11):
            b.core.table.heard(f"{0x428000 + n:06X}", "rx1", T0 + n, None, None, 1)
            b.core.take_handset_changes()  # as the technician's board does between ticks
            assert len(outbox) <= TABLE_OUTBOX_MAX
        b.core.take_handset_changes()  # nothing changed since: no message
    assert told == list(range(1, TABLE_OUTBOX_MAX + 11))  # the reader after the failing one
    assert [doc["seq"] for doc, _ in outbox] == list(range(TABLE_OUTBOX_MAX + 1, len(told) + 1))
    assert (
        b.core.publication.whole_due
    )  # the dropped ones: the whole table goes out once the link is up
    assert "a reader of the handset table's changes failed" in caplog.text
