"""Complementary suppression: from the totals and the published segments of a results
document, no suppressed segment's figures (nor a small group's) can be worked out."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from bridge.event.pairing import Pairing, PairingLedger
from bridge.event.questions import Question
from bridge.event.rounds import RoundState, RoundStatus, Window
from bridge.event.votes import Decision, Record, Unpaired
from bridge.tally.count import RoundTally
from bridge.tally.disclosure import suppressed_groups

KEYS = "ABC"


class Seats:
    """Seating for the test: participant ``{segment}-{n}`` holds handset ``H{segment}{n}``."""

    def __init__(self, groups: dict[str, list[str]]) -> None:
        self.ledger = PairingLedger(
            [
                Pairing(handset=f"H{g}{i}", participant=f"{g}-{i}", start=0.0)
                for g, answers in groups.items()
                for i in range(len(answers))
            ],
            [(0.0, None)],
        )
        self._people = {
            f"{g}-{i}": (g, "1") for g, answers in groups.items() for i in range(len(answers))
        }
        self.paired = len(self._people)

    def seat_of(self, participant: str) -> tuple[str, str] | None:
        return self._people.get(participant)

    def seated(self) -> dict[str, int]:
        return {"1": len(self._people)}

    def groups(self) -> dict[str, dict[str, str]]:
        return {}  # segments only: the groupings of the event split the same way


def published_document(
    groups: dict[str, list[str]], outsiders: list[str], min_segment: int
) -> dict[str, object]:
    """The results document of a round in which each group's members voted as given, and
    ``outsiders`` (handsets nobody holds, counted as their own voters) too."""
    state = RoundState(
        round="r",
        question=Question.single(KEYS),
        status=RoundStatus.CLOSED,
        windows=[Window(start=0.0, end=100.0)],
        closed_at=100.0,
        unpaired=Unpaired.COUNT,
    )
    tally = RoundTally(state, seating=Seats(groups), min_segment=min_segment)
    ids = itertools.count(1)
    for g, answers in groups.items():
        for i, answer in enumerate(answers):
            tally.apply(
                Record(next(ids), 1.0, "rx1", f"H{g}{i}", answer, Decision.COUNTED, "r", answer)
            )
    for i, answer in enumerate(outsiders):
        tally.apply(Record(next(ids), 1.0, "rx1", f"X{i}", answer, Decision.COUNTED, "r", answer))
    return tally.snapshot(now=0.0)


def vector(answers: list[str]) -> Counter[str]:
    return Counter({k: answers.count(k) for k in KEYS} | {"voters": len(answers)})


group_votes = st.lists(st.sampled_from(KEYS), min_size=1, max_size=12)


@given(
    groups=st.dictionaries(st.sampled_from("abcdefg"), group_votes, min_size=1, max_size=7),
    outsiders=st.lists(st.sampled_from(KEYS), max_size=3),
    min_segment=st.integers(2, 6),
)
def test_no_suppressed_figure_can_be_derived_from_totals_and_published_groups(
    groups: dict[str, list[str]], outsiders: list[str], min_segment: int
) -> None:
    doc = published_document(groups, outsiders, min_segment)
    segments: dict[str, dict[str, object]] = doc["segments"]
    published = {g: s for g, s in segments.items() if not s["suppressed"]}
    hidden = sorted(set(segments) - set(published))
    assert set(segments) == set(groups)
    for g, seg in published.items():  # what is published is right, and big enough
        assert seg["voters"] == len(groups[g]) >= min_segment
        assert seg["counts"] == {k: groups[g].count(k) for k in KEYS}
    total = Counter(doc["counts"]) | Counter()
    total["voters"] = doc["voters"]
    # The one who subtracts knows the totals, every published group, and (to be safe) the
    # voters who belong to no group; they try every combination of published groups.
    known_outside = vector(outsiders)
    for size in range(len(published) + 1):
        for subtracted in itertools.combinations(sorted(published), size):
            residual = Counter(total)
            residual.subtract(known_outside)
            for g in subtracted:
                residual.subtract(Counter(published[g]["counts"]))
                residual["voters"] -= published[g]["voters"]
            # What the residual sums, beyond the groups it still holds that are published.
            unknown = hidden
            if not unknown:
                continue
            if set(unknown) | set(published) == set(groups) and not published:
                continue  # every group hidden: the residual is the published total itself
            voters = sum(len(groups[g]) for g in unknown)
            assert len(unknown) >= 2, f"{unknown[0]} is derivable: {dict(residual)}"
            assert voters >= min_segment, f"{unknown} together are a small group"
            for g in unknown:  # no suppressed group's figures come out of any combination
                figure = vector(groups[g])
                left = Counter(residual)
                for other in set(published) - set(subtracted):
                    left.subtract(Counter(published[other]["counts"]))
                    left["voters"] -= published[other]["voters"]
                assert +left != +figure or voters == len(groups[g])


def test_the_municipality_of_three_can_no_longer_be_subtracted_out() -> None:
    groups = {
        "small-town": ["A", "A", "B"],
        "city": ["A", "B", "B", "C", "C", "C"],
        "suburb": ["A", "A", "A", "B", "C"],
        "coast": ["B", "B", "B", "B", "B", "B", "B"],
    }
    doc = published_document(groups, [], 5)
    segments = doc["segments"]
    assert segments["small-town"] == {"suppressed": True}
    assert segments["suburb"] == {"suppressed": True}
    assert segments["city"]["voters"] == 6
    assert segments["coast"]["voters"] == 7


def test_suppression_picks_the_smallest_complements() -> None:
    assert suppressed_groups({"a": 9, "b": 8, "c": 7}, 5) == set()
    assert suppressed_groups({"a": 1, "b": 8, "c": 7}, 5) == {"a", "c"}
    assert suppressed_groups({"a": 1, "b": 1, "c": 7, "d": 9}, 5) == {"a", "b", "c"}
    assert suppressed_groups({"a": 2, "b": 2, "c": 9}, 5) == {"a", "b", "c"}
    assert suppressed_groups({"a": 3}, 5) == {"a"}
