"""The real 2017 iSkipper captures through ``decode_capture``: the published results, exactly."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from drivers.base import KeyFrame, NoiseFrame, PingFrame, RejectedFrame
from drivers.iskipper import decode_capture
from drivers.registry import load_driver

FOLDER = "iskipper-2017-04-13"
QUESTIONS = ["q2", "q3"]
PUBLISHED = {
    "q2": (147, {"A": 15, "B": 118, "C": 8, "D": 6, "E": 0}),
    "q3": (150, {"A": 17, "B": 2, "C": 9, "D": 119, "E": 3}),
}
# The README's packet counts are the `Captured:` lines; each file holds one ping among them.
PACKETS = {"q2": 1678, "q3": 2325}
PINGS = 1


def last_answers(frames: list[object]) -> dict[str, str]:
    """Last answer per handset, pings ignored: how the published results were counted."""
    answers: dict[str, str] = {}
    for frame in frames:
        if isinstance(frame, KeyFrame):
            answers[frame.handset] = frame.key
    return answers


def capture(captures: Path, question: str, suffix: str = ".txt") -> Path:
    return captures / FOLDER / f"2017-04-13-{question}{suffix}"


def published_tally(path: Path) -> tuple[int, dict[str, int]]:
    lines = path.read_text().splitlines()
    remotes = int(lines[0].split(":")[1])
    counts = {key: int(n) for key, n in (line.split() for line in lines[1:] if line.strip())}
    return remotes, counts


@pytest.mark.parametrize("question", QUESTIONS)
def test_last_answer_per_handset_is_exactly_the_published_csv(
    captures: Path, question: str
) -> None:
    frames = list(decode_capture(capture(captures, question).read_bytes()))
    with capture(captures, question, ".csv").open(newline="") as f:
        expected = dict(csv.reader(f))
    assert last_answers(frames) == expected


@pytest.mark.parametrize("question", QUESTIONS)
def test_tally_is_the_published_one(captures: Path, question: str) -> None:
    frames = list(decode_capture(capture(captures, question).read_bytes()))
    answers = last_answers(frames)
    counts = dict.fromkeys("ABCDE", 0) | dict(Counter(answers.values()))
    assert (len(answers), counts) == PUBLISHED[question]
    assert published_tally(capture(captures, question, "-tally.txt")) == PUBLISHED[question]


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_captured_line_decodes_and_the_rest_is_noise(captures: Path, question: str) -> None:
    data = capture(captures, question).read_bytes()
    frames = list(decode_capture(data))
    kinds = Counter(type(f) for f in frames)
    captured_lines = data.count(b"Captured: ")
    assert captured_lines == PACKETS[question]  # the README's figure counts the ping too
    assert kinds[KeyFrame] + kinds[PingFrame] == captured_lines
    assert kinds[PingFrame] == PINGS
    assert kinds[RejectedFrame] == 0
    assert kinds[NoiseFrame] == len(frames) - captured_lines
    assert len(frames) == data.count(b"\n")  # one frame per line, nothing lost or invented


def test_ping_handset_also_votes_and_the_ping_does_not_count(captures: Path) -> None:
    frames = list(decode_capture(capture(captures, "q2").read_bytes()))
    (ping,) = [f for f in frames if isinstance(f, PingFrame)]
    assert ping.handset == "43D4E176"
    assert ping.handset in last_answers(frames)  # it voted as well; the ping added nothing


def test_q3_capture_continues_the_q2_capture(captures: Path) -> None:
    # The q3 file starts with the whole q2 file: the recording ran on across both questions,
    # so q3's "last answer" includes remotes heard only during q2.
    q2 = capture(captures, "q2").read_bytes()
    q3 = capture(captures, "q3").read_bytes()
    assert q3.startswith(q2)
    only_q2 = set(last_answers(list(decode_capture(q2)))) - set(
        last_answers(list(decode_capture(q3[len(q2) :])))
    )
    assert len(only_q2) == 5
    assert only_q2 <= set(last_answers(list(decode_capture(q3))))


def test_driver_registry_loads_this_package_and_its_decoder(captures: Path) -> None:
    module = load_driver("iskipper")
    assert module.FAMILY == "iskipper"
    assert module.SUMMARY
    data = capture(captures, "q2").read_bytes()
    assert list(module.decode_capture(data)) == list(decode_capture(data))


@pytest.mark.parametrize("question", QUESTIONS)
def test_arsbridge_replay_recounts_the_published_tally(captures: Path, question: str) -> None:
    from bridge.tally.replay import replay

    result = replay("iskipper", capture(captures, question).read_bytes())
    remotes, counts = PUBLISHED[question]
    assert (result.voters, result.counts) == (remotes, counts)
    assert (result.presses, result.pings, result.rejected) == (PACKETS[question] - PINGS, 1, 0)
