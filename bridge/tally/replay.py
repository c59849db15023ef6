"""Offline recount of a receiver capture through the production codec, intake and tally.

``arsbridge replay`` reads a capture file, decodes it with the driver's own codec, places
every press in one open round and decides on it with :class:`bridge.press.intake.Intake` (the
same dedup as the live service), then counts with :class:`bridge.tally.count.RoundTally`.
Captures carry no usable timestamps, so presses are spaced evenly in file order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bridge.event.questions import LETTERS, Question
from bridge.event.rounds import RoundState, RoundStatus, Window
from bridge.event.votes import Decision, Policy
from bridge.press.intake import Intake
from bridge.tally.count import RoundTally
from drivers.base import BadFrame, KeyFrame, NoiseFrame, Presence, Press, stamp
from drivers.registry import load_driver

RECEIVER = "replay"
SPACING_S = 0.001  # synthetic time between two frames of a capture
DEFAULT_KEYS = "ABCDE"


@dataclass(slots=True)
class ReplayResult:
    """What a capture says, counted: the figures ``arsbridge replay --json`` prints."""

    driver: str
    policy: Policy
    voters: int
    counts: dict[str, int]
    presses: int  # answer packets read
    duplicates: int
    changes: int
    rejected: int  # frames that failed a check
    noise: int  # lines or bytes that carry nothing
    pings: int
    handsets_heard: int
    invalid: int
    answers: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "policy": self.policy.value,
            "voters": self.voters,
            "counts": self.counts,
            "presses": self.presses,
            "duplicates": self.duplicates,
            "changes": self.changes,
            "rejected": self.rejected,
            "noise": self.noise,
            "pings": self.pings,
            "handsets_heard": self.handsets_heard,
            "invalid": self.invalid,
            "rejected_reasons": self.reasons,
        }


def replay(driver: str, data: bytes, *, policy: Policy = Policy.LAST) -> ReplayResult:
    """Recount ``data`` (a capture for ``driver``); raises UnknownDriver for a bad name."""
    module = load_driver(driver)
    frames = list(module.decode_capture(data))
    question = Question.single(_option_keys(f.key for f in frames if isinstance(f, KeyFrame)))
    state = RoundState(
        round="replay",
        question=question,
        policy=policy,
        status=RoundStatus.OPEN,
        windows=[Window(start=0.0)],
        grace_s=0.0,
    )
    intake = Intake()
    intake.update_round(state)
    tally = RoundTally(state)
    decisions: Counter[Decision] = Counter()
    reasons: Counter[str] = Counter()
    heard: set[str] = set()
    noise = pings = 0
    for n, frame in enumerate(frames, start=1):
        if isinstance(frame, NoiseFrame):
            noise += 1
            continue
        event = stamp(frame, RECEIVER, n * SPACING_S)
        if isinstance(event, Press):
            heard.add(event.handset)
            rec = intake.decide(event, n)
            decisions[rec.decision] += 1
            tally.apply(rec)
        elif isinstance(event, Presence):
            heard.add(event.handset)
            pings += 1
        elif isinstance(event, BadFrame):
            reasons[event.reason.split(":")[0]] += 1
    answers = tally.answers()
    return ReplayResult(
        driver=driver,
        policy=policy,
        voters=len(answers),
        counts={k: int(v) for k, v in tally.counts.items()},
        presses=sum(decisions.values()),
        duplicates=decisions[Decision.DUPLICATE] + decisions[Decision.STALE],
        changes=decisions[Decision.CHANGED],
        rejected=sum(reasons.values()),
        noise=noise,
        pings=pings,
        handsets_heard=len(heard),
        invalid=decisions[Decision.INVALID],
        answers=answers,
        reasons=dict(reasons),
    )


def _option_keys(keys: Iterable[str]) -> str:
    """A-E, plus any other key the capture holds (TurningPoint keypads have A-J and ``?``)."""
    seen = {symbol for key in keys for symbol in key}
    extra = sorted(seen - set(DEFAULT_KEYS), key=lambda k: (k not in LETTERS, k))
    return DEFAULT_KEYS + "".join(extra)
