"""Question types: which keys a question accepts, how presses combine into an answer, and
what an answer is worth in the tally.

Keypads send letters (i>clicker ``A``-``E``, TurningPoint ``A``-``J`` once decoded) or digits.
A key names an option by its own symbol or by position: ``A`` and ``1`` are the first option,
``B`` and ``2`` the second, ``0`` the tenth. So a yes/no/abstain question takes ``A``/``1`` for
yes, and a rating question takes ``1``-``5`` or ``A``-``E``.

An answer is a string of option keys: one key for single choice, yes/no/abstain and rating;
the chosen keys in alphabetical order for multi-select; the keys in order of preference for a
priority ranking. A keypad that sends several keys in one message sets the whole answer; one
key at a time adds to it (see :meth:`Question.answer`).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

LETTERS = "ABCDEFGHIJ"
DIGITS = "1234567890"  # keypad order: 1 is the first option, 0 the tenth
DEFAULT_RANK_WEIGHTS = (10.0, 9.0, 8.0)
MAX_SCORED = 4096  # distinct answers whose points are kept (each an ordering of keys)
MAX_OPTIONS = 12  # ten answer keys, plus room for keys such as TurningPoint's "?"


class Kind(enum.StrEnum):
    SINGLE = "single"
    MULTI = "multi"
    YESNO = "yesno"
    RATING = "rating"
    RANKING = "ranking"


class Option(BaseModel):
    """One answer option: the key that selects it and what the audience reads."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(min_length=1, max_length=1)
    label: str = ""


class Question(BaseModel):
    """What a round asks and how its keys are counted."""

    model_config = ConfigDict(frozen=True)

    kind: Kind = Kind.SINGLE
    text: str = ""
    options: tuple[Option, ...]
    max_choices: int = Field(1, ge=1, le=10)  # multi-select: how many options one may pick
    weights: tuple[float, ...] = ()  # ranking: points for 1st, 2nd, ... choice

    @model_validator(mode="after")
    def _check(self) -> Question:
        keys = [o.key for o in self.options]
        if not 2 <= len(keys) <= MAX_OPTIONS:
            raise ValueError(f"a question needs 2 to {MAX_OPTIONS} options, got {len(keys)}")
        if len(set(keys)) != len(keys):
            raise ValueError(f"option keys must be distinct, got {keys}")
        if self.kind is Kind.MULTI and self.max_choices > len(keys):
            raise ValueError(f"max_choices {self.max_choices} exceeds the {len(keys)} options")
        if self.kind is Kind.RANKING:
            if not self.weights or len(self.weights) > len(keys):
                raise ValueError(
                    "a ranking needs 1 weight per ranked place, at most one per option"
                )
            if any(w <= 0 for w in self.weights):
                raise ValueError("ranking weights must be positive")
        elif self.weights:
            raise ValueError("only a ranking question has weights")
        if self.kind is Kind.YESNO and len(keys) != 3:
            raise ValueError("a yes/no/abstain question has exactly 3 options")
        return self

    # Construction.

    @classmethod
    def single(
        cls, keys: str = "ABCDE", labels: list[str] | None = None, text: str = ""
    ) -> Question:
        return cls(kind=Kind.SINGLE, text=text, options=_options(keys, labels))

    @classmethod
    def multi(
        cls, keys: str, max_choices: int, labels: list[str] | None = None, text: str = ""
    ) -> Question:
        return cls(
            kind=Kind.MULTI, text=text, options=_options(keys, labels), max_choices=max_choices
        )

    @classmethod
    def yesno(cls, text: str = "") -> Question:
        return cls(kind=Kind.YESNO, text=text, options=_options("ABC", ["Yes", "No", "Abstain"]))

    @classmethod
    def rating(cls, scale: int = 5, text: str = "", labels: list[str] | None = None) -> Question:
        return cls(kind=Kind.RATING, text=text, options=_options(DIGITS[:scale], labels))

    @classmethod
    def ranking(
        cls,
        keys: str,
        weights: tuple[float, ...] = DEFAULT_RANK_WEIGHTS,
        labels: list[str] | None = None,
        text: str = "",
    ) -> Question:
        return cls(
            kind=Kind.RANKING, text=text, options=_options(keys, labels), weights=tuple(weights)
        )

    # Keys and answers.

    @functools.cached_property
    def keys(self) -> tuple[str, ...]:
        # Cached: every press is scored against it, and a question never changes (frozen).
        return tuple(o.key for o in self.options)

    def resolve(self, symbol: str) -> str | None:
        """The option key a keypad symbol selects, or None when it selects none."""
        keys = self.keys
        if symbol in keys:
            return symbol
        index = LETTERS.find(symbol) if symbol in LETTERS else DIGITS.find(symbol)
        if symbol and 0 <= index < len(keys):
            return keys[index]
        return None

    def answer(self, previous: str | None, key: str) -> str | None:
        """The handset's answer after it sent ``key``, given its ``previous`` one; None: invalid.

        Single-answer kinds take exactly one key. Multi-select and ranking take several keys in
        one message as the whole answer; a single key is added to the previous answer, and once
        the answer is full the next key starts a new one.
        """
        if len(key) == 1 and self.kind in (Kind.SINGLE, Kind.YESNO, Kind.RATING):
            return self.resolve(key)  # the common case, without the lists below
        symbols = [self.resolve(s) for s in key]
        if not symbols or any(s is None for s in symbols):
            return None
        chosen = [s for s in symbols if s is not None]
        if self.kind in (Kind.SINGLE, Kind.YESNO, Kind.RATING):
            return chosen[0] if len(chosen) == 1 else None
        limit = self.max_choices if self.kind is Kind.MULTI else len(self.weights)
        if len(chosen) > 1:
            if len(set(chosen)) != len(chosen) or len(chosen) > limit:
                return None
            picks = chosen
        else:
            before = list(previous or "")
            if chosen[0] in before:
                return previous
            picks = [*before, chosen[0]] if len(before) < limit else chosen
        return "".join(sorted(picks)) if self.kind is Kind.MULTI else "".join(picks)

    @functools.cached_property
    def point_table(self) -> dict[str, Mapping[str, float]]:
        return {}  # answer -> its points, filled as answers come (a few dozen at most)

    def points(self, answer: str) -> Mapping[str, float]:
        """What ``answer`` adds to each option's count (scored once per distinct answer)."""
        known = self.point_table.get(answer)
        if known is None:
            if self.kind is Kind.RANKING:
                known = {key: self.weights[i] for i, key in enumerate(answer)}
            else:
                known = dict.fromkeys(answer, 1.0)
            if len(self.point_table) < MAX_SCORED:
                self.point_table[answer] = known
        return known

    # Results.

    def summarise(self, counts: dict[str, float], voters: int) -> dict[str, Any]:
        """Derived figures for display: percentages of votes cast, and the kind's own measures."""
        keys = self.keys
        out: dict[str, Any] = {"kind": self.kind.value}
        if self.kind is Kind.RANKING:
            total = sum(counts.get(k, 0.0) for k in keys)
            out["percent_of"] = "points"
            out["percent"] = {k: _pct(counts.get(k, 0.0), total) for k in keys}
            out["order"] = sorted(keys, key=lambda k: (-counts.get(k, 0.0), keys.index(k)))
            return out
        # Multi-select: the share of voters who picked each option (sums to more than 100).
        out["percent_of"] = "voters" if self.kind is Kind.MULTI else "votes"
        out["percent"] = {k: _pct(counts.get(k, 0.0), voters) for k in keys}
        if self.kind is Kind.YESNO:
            yes, no, abstain = (counts.get(k, 0.0) for k in keys)
            out["yes_of_decided"] = _pct(yes, yes + no) if yes + no else None
            out["abstained"] = int(abstain)
        elif self.kind is Kind.RATING:
            scored = sum((i + 1) * counts.get(k, 0.0) for i, k in enumerate(keys))
            out["mean"] = round(scored / voters, 2) if voters else None
        if self.kind is not Kind.RATING:
            # Yes/no is decided between yes and no; abstaining never leads.
            contenders = keys[:2] if self.kind is Kind.YESNO else keys
            top = max((counts.get(k, 0.0) for k in contenders), default=0.0)
            out["leading"] = [k for k in contenders if top > 0 and counts.get(k, 0.0) == top]
        return out

    def to_public(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _options(keys: str, labels: list[str] | None) -> tuple[Option, ...]:
    if labels is not None and len(labels) != len(keys):
        raise ValueError(f"{len(labels)} labels for {len(keys)} options")
    return tuple(Option(key=k, label=labels[i] if labels else "") for i, k in enumerate(keys))


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0
