"""Every question type: which keys it takes, how presses combine, and its tally."""

from __future__ import annotations

import itertools

import pytest

from bridge.event.questions import Kind, Question
from bridge.event.rounds import RoundState, RoundStatus, Window
from bridge.event.votes import Decision, Policy
from bridge.press.intake import Intake
from bridge.tally.count import RoundTally
from drivers.base import Press


def run(
    question: Question, presses: list[tuple[str, str]], policy: Policy = Policy.LAST
) -> tuple[RoundTally, list[Decision]]:
    """Presses ``(handset, key)`` one second apart through intake and tally."""
    state = RoundState(
        round="r",
        question=question,
        policy=policy,
        status=RoundStatus.OPEN,
        windows=[Window(start=0.0)],
        revision=1,
    )
    intake = Intake()
    intake.update_round(state)
    tally = RoundTally(state)
    decisions = []
    for n, (handset, key) in enumerate(presses, start=1):
        rec = intake.decide(Press("rx1", handset, key, float(n)), n)
        decisions.append(rec.decision)
        tally.apply(rec)
    return tally, decisions


def test_single_choice_counts_the_last_answer_and_rejects_other_keys() -> None:
    q = Question.single("ABCD")
    tally, decisions = run(q, [("h1", "A"), ("h2", "B"), ("h1", "C"), ("h3", "E"), ("h4", "2")])
    assert decisions == [
        Decision.COUNTED,
        Decision.COUNTED,
        Decision.CHANGED,
        Decision.INVALID,
        Decision.COUNTED,
    ]
    assert tally.counts == {"A": 0, "B": 2, "C": 1, "D": 0}  # "2" is the second option, B
    snap = tally.snapshot()
    assert snap["voters"] == 3
    assert snap["percent"] == {"A": 0.0, "B": 66.7, "C": 33.3, "D": 0.0}
    assert snap["summary"]["leading"] == ["B"]


def test_first_answer_policy() -> None:
    tally, _ = run(
        Question.single("AB"), [("h1", "A"), ("h1", "B"), ("h2", "B")], policy=Policy.FIRST
    )
    assert tally.counts == {"A": 1, "B": 1}


def test_a_keypad_sending_several_keys_is_invalid_for_a_single_answer() -> None:
    tally, decisions = run(Question.single("ABCD"), [("h1", "AB")])
    assert decisions == [Decision.INVALID]
    assert tally.snapshot()["voters"] == 0


def test_multi_select_up_to_k() -> None:
    q = Question.multi("ABCDE", max_choices=2)
    tally, decisions = run(
        q,
        [
            ("h1", "A"),
            ("h1", "C"),  # builds A+C
            ("h2", "DB"),  # one message with two keys: B+D
            ("h3", "ABC"),  # three keys: more than allowed
            ("h4", "A"),
            ("h4", "B"),
            ("h4", "E"),  # full at A+B; E starts afresh
            ("h5", "A"),
            ("h5", "A"),  # the same key again changes nothing
        ],
    )
    assert decisions[3] is Decision.INVALID
    assert decisions[-1] is Decision.DUPLICATE
    assert tally.answers() == {"h1": "AC", "h2": "BD", "h4": "E", "h5": "A"}
    assert tally.counts == {"A": 2, "B": 1, "C": 1, "D": 1, "E": 1}
    # Shares of voters: they add up to more than 100.
    assert tally.snapshot()["percent"]["A"] == 50.0


def test_yes_no_abstain() -> None:
    q = Question.yesno()
    tally, decisions = run(q, [("h1", "A"), ("h2", "1"), ("h3", "B"), ("h4", "C"), ("h5", "D")])
    assert decisions[-1] is Decision.INVALID
    assert tally.counts == {"A": 2, "B": 1, "C": 1}
    summary = tally.snapshot()["summary"]
    assert summary["yes_of_decided"] == pytest.approx(66.7)
    assert summary["abstained"] == 1


def test_rating_one_to_five() -> None:
    q = Question.rating(5)
    tally, decisions = run(q, [("h1", "5"), ("h2", "4"), ("h3", "A"), ("h4", "6"), ("h5", "E")])
    assert decisions[3] is Decision.INVALID
    assert tally.counts == {"1": 1, "2": 0, "3": 0, "4": 1, "5": 2}
    assert tally.snapshot()["summary"]["mean"] == 3.75


def test_priority_ranking_weights_first_second_third() -> None:
    q = Question.ranking("ABCDE", weights=(10, 9, 8))
    tally, decisions = run(
        q,
        [
            ("h1", "CAB"),  # all three places in one message
            ("h2", "A"),
            ("h2", "C"),
            ("h2", "E"),  # one key at a time
            ("h3", "AB"),  # two places only
            ("h4", "AAB"),  # a key twice: invalid
            ("h5", "ABCD"),  # four places: invalid
        ],
    )
    assert decisions[-2:] == [Decision.INVALID, Decision.INVALID]
    assert tally.answers() == {"h1": "CAB", "h2": "ACE", "h3": "AB"}
    assert tally.counts == {"A": 9 + 10 + 10, "B": 8 + 9, "C": 10 + 9, "D": 0, "E": 8}
    summary = tally.snapshot()["summary"]
    assert summary["order"] == ["A", "C", "B", "E", "D"]


def test_a_change_of_policy_recounts_without_replaying() -> None:
    q = Question.single("AB")
    tally, _ = run(q, [("h1", "A"), ("h1", "B")])
    assert tally.counts == {"A": 0, "B": 1}
    tally.set_state(tally.state.model_copy(update={"policy": Policy.FIRST}))
    assert tally.counts == {"A": 1, "B": 0}


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_turns_presses_into_an_answer_its_points_accept(kind: Kind) -> None:
    q = {
        Kind.SINGLE: Question.single("ABC"),
        Kind.MULTI: Question.multi("ABC", 2),
        Kind.YESNO: Question.yesno(),
        Kind.RATING: Question.rating(4),
        Kind.RANKING: Question.ranking("ABCD", (3, 2)),
    }[kind]
    for a, b in itertools.product("ABCDE12345?", repeat=2):
        answer = q.answer(q.answer(None, a), b)
        if answer is not None:
            assert set(q.points(answer)) <= set(q.keys)


def test_questions_check_their_shape() -> None:
    with pytest.raises(ValueError, match="distinct"):
        Question.single("AAB")
    with pytest.raises(ValueError, match="max_choices"):
        Question.multi("AB", 3)
    with pytest.raises(ValueError, match="weight"):
        Question.ranking("ABC", weights=(3, 2, 1, 0.5))
