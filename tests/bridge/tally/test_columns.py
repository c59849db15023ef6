"""The packed forms a round's tally keeps: record ids taken behave as a set, whatever the ids,
and kept presses read back as they were added."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.tally.columns import Presses, RecordIds

near = st.integers(0, 50_000)
anywhere = st.integers(-(2**62), 2**62)


@given(st.lists(near | anywhere, max_size=300))
def test_record_ids_taken_are_a_set(ids: list[int]) -> None:
    taken = RecordIds()
    model: set[int] = set()
    for record_id in ids:
        assert taken.add(record_id) is (record_id not in model)
        model.add(record_id)


def test_a_bridges_ids_in_order_take_a_bit_each() -> None:
    taken = RecordIds()
    assert all(taken.add(i) for i in range(100_000, 350_000))
    assert not any(taken.add(i) for i in range(100_000, 350_000, 997))
    assert len(taken._bits) <= 2 * (250_000 + RecordIds.BEHIND) // 8 + 1
    assert not taken._far


@given(st.lists(st.tuples(st.floats(0, 2e9), near, st.booleans()), max_size=50))
def test_presses_read_back_as_kept(rows: list[tuple[float, int, bool]]) -> None:
    presses = Presses()
    for n, (t, record_id, counted) in enumerate(rows):
        assert presses.add(t, record_id, f"H{n}", "AB"[n % 2], counted, None) == n
    assert len(presses) == len(rows)
    for n, (t, record_id, counted) in enumerate(rows):
        assert presses.order(n) == (t, record_id)
        assert bool(presses.counted[n]) is counted
        assert (presses.handset[n], presses.voter[n]) == (f"H{n}", None)
