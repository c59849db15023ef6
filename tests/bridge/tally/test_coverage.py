"""Coverage: the tally's mark of a bridge moves only over whole, durable cycles, whatever the
order, repetition or loss of their parts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.tally.ledger import MAX_PARTS, Coverage, CoverError, token_of


@st.composite
def cycles(draw: st.DrawFn) -> list[tuple[int, int, int]]:
    """Consecutive cycles ``(lo, hi, parts)`` from id 0."""
    out: list[tuple[int, int, int]] = []
    lo = 0
    for _ in range(draw(st.integers(1, 12))):
        hi = lo + draw(st.integers(1, 50))
        out.append((lo, hi, draw(st.integers(1, 4))))
        lo = hi
    return out


@given(cycles(), st.data())
def test_the_mark_is_the_end_of_the_longest_run_of_whole_cycles(
    plan: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    parts = [(lo, hi, n, of) for lo, hi, of in plan for n in range(1, of + 1)]
    delivered = data.draw(st.lists(st.sampled_from(parts), max_size=3 * len(parts)))
    coverage = Coverage()
    for lo, hi, n, of in delivered:
        coverage.add(lo, hi, n, of)
    got = {(lo, hi, n) for lo, hi, n, _ in delivered}
    expected = 0
    for lo, hi, of in plan:
        if all((lo, hi, n) in got for n in range(1, of + 1)):
            expected = hi
        else:
            break
    assert coverage.mark == expected


def test_a_resend_covering_several_cycles_closes_the_gap() -> None:
    coverage = Coverage()
    assert coverage.add(0, 10, 1, 1)
    assert not coverage.add(20, 30, 1, 1)  # (10, 20] was lost on the way
    assert coverage.mark == 10
    assert coverage.add(10, 30, 1, 2) is False  # half of the resend
    assert coverage.add(10, 30, 2, 2)
    assert coverage.mark == 30


@pytest.mark.parametrize(
    ("cover", "part", "parts"),
    [
        ([5, 5], 1, 1),
        ([-1, 4], 1, 1),
        ([9, 4], 1, 1),
        ([0, 4], 0, 1),
        ([0, 4], 3, 2),
        ([0, 4], 1, MAX_PARTS + 1),
        ("04", 1, 1),
        ([0], 1, 1),
        (None, 1, 1),
        ([0, 4], "one", 1),
    ],
)
def test_impossible_cycles_are_refused(cover: object, part: object, parts: object) -> None:
    with pytest.raises(CoverError):
        token_of("bridge1", cover, part, parts)
