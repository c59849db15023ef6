"""Simulated audiences: who holds which handset, and what they mean to vote.

An :class:`Audience` plans a round as a time-ordered list of key presses (first answers,
changes of answer, abstentions, presence pings) and knows the tally it intends, so a test
can compare what came out of the service with what the audience meant. Everything is
driven by a seeded :class:`random.Random`, so the same seed gives the same round.
How the presses travel over the air is :mod:`firmware_sim.radio`'s business.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from drivers.ids import iclicker_id

Policy = Literal["last", "first"]
IdForm = Callable[[random.Random], str]

MAX_CHANGES = 3  # a delegate rarely changes their mind more than three times in one vote
MIN_CHANGE_GAP_S = 2.0  # seconds between two presses of one handset: people read, then press
PICK_GAP_S = 1.5  # seconds between the keys of one multi-key answer


def _iclicker(rng: random.Random) -> str:
    return iclicker_id((rng.randrange(256), rng.randrange(256), rng.randrange(256)))


def _hex6(rng: random.Random) -> str:
    return f"{rng.randrange(1 << 24):06X}"


def _beyondq(rng: random.Random) -> str:
    # The Beyond Question radio carries a 21-bit raw ID (24 bits shifted right by 3).
    return f"{rng.randrange(1 << 21):06X}"


ID_FORMS: dict[str, IdForm] = {
    "iclicker": _iclicker,  # 8 hex digits, fourth byte the XOR of the first three
    "turning": _hex6,  # 6 hex digits as printed on the ResponseCard
    "arsrx": _hex6,  # the ARS-RX handset ID, 3 bytes shown as 6 hex digits
    "beyondq": _beyondq,
}


def make_handset_ids(n: int, family: str | IdForm = "iclicker", seed: int = 0) -> list[str]:
    """``n`` distinct, valid IDs of ``family`` (a name in :data:`ID_FORMS`, or a generator)."""
    if n < 0:
        raise ValueError(f"cannot make {n} handset IDs")
    if callable(family):
        form = family
    else:
        try:
            form = ID_FORMS[family]
        except KeyError:
            known = ", ".join(sorted(ID_FORMS))
            raise ValueError(f"unknown handset family {family!r}; known: {known}") from None
    rng = random.Random(seed)
    ids: dict[str, None] = {}
    tries = 0
    while len(ids) < n:
        tries += 1
        if tries > 20 * n + 1000:
            raise ValueError(f"the ID form of {family!r} cannot give {n} distinct IDs")
        ids.setdefault(form(rng), None)
    return list(ids)


@dataclass(frozen=True, slots=True)
class PlannedPress:
    """One key press a delegate means to make, ``at`` seconds after the round opened."""

    at: float
    handset: str
    key: str


@dataclass(frozen=True, slots=True)
class PlannedPing:
    """A handset announcing itself (presence) without voting, ``at`` seconds into the round."""

    at: float
    handset: str


@dataclass(frozen=True, slots=True)
class VotePlan:
    """What an audience will do in one round, and the tally it intends."""

    options: tuple[str, ...]
    duration_s: float
    presses: tuple[PlannedPress, ...]
    pings: tuple[PlannedPing, ...] = ()
    picks: int = 1  # keys each voter picks (multi-select, ranking), pressed one after another

    def answers(self, policy: Policy = "last") -> dict[str, str]:
        """The answer that counts for each handset that voted, under ``policy``: its key, or
        its ``picks`` keys in the order pressed."""
        pressed: dict[str, list[str]] = {}
        for press in self.presses:
            pressed.setdefault(press.handset, []).append(press.key)
        n = self.picks
        return {
            h: "".join(keys[-n:] if policy == "last" else keys[:n]) for h, keys in pressed.items()
        }

    def expected(self, policy: Policy = "last") -> dict[str, int]:
        """Votes per option (every option listed, zeros included) under ``policy``; a voter
        who picks several options gives each of them one vote."""
        counts = dict.fromkeys(self.options, 0)
        for answer in self.answers(policy).values():
            for key in answer:
                counts[key] = counts.get(key, 0) + 1
        return counts

    @property
    def voters(self) -> int:
        """How many handsets cast at least one vote."""
        return len({p.handset for p in self.presses})

    @property
    def changes(self) -> int:
        """How many presses changed a handset's earlier answer."""
        last: dict[str, str] = {}
        changed = 0
        for press in self.presses:
            if press.handset in last and last[press.handset] != press.key:
                changed += 1
            last[press.handset] = press.key
        return changed

    def shifted(self, offset_s: float) -> VotePlan:
        """The same plan starting ``offset_s`` seconds later."""
        return VotePlan(
            self.options,
            self.duration_s,
            tuple(PlannedPress(p.at + offset_s, p.handset, p.key) for p in self.presses),
            tuple(PlannedPing(p.at + offset_s, p.handset) for p in self.pings),
        )


class Audience:
    """Delegates holding ``handset_ids``; each :meth:`plan` call draws a new round from ``seed``."""

    def __init__(self, handset_ids: Sequence[str], seed: int = 0) -> None:
        if len(set(handset_ids)) != len(handset_ids):
            raise ValueError("an audience needs distinct handset IDs")
        self.handset_ids = tuple(handset_ids)
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.handset_ids)

    def plan(
        self,
        options: Sequence[str],
        *,
        duration_s: float,
        change_rate: float = 0.2,
        abstain_rate: float = 0.05,
        weights: Mapping[str, float] | Sequence[float] | None = None,
        ping_rate: float = 0.0,
        picks: int = 1,
    ) -> VotePlan:
        """Plan one round on ``options`` lasting ``duration_s`` seconds.

        ``change_rate`` is the chance that a voter changes their answer (and again, up to
        :data:`MAX_CHANGES` times); ``abstain_rate`` the chance that a delegate does not vote;
        ``weights`` the relative popularity of the options (drawn at random when omitted);
        ``ping_rate`` the chance that a handset also sends a presence ping; ``picks`` how
        many distinct options each voter picks (multi-select and ranking keypads send them
        one key at a time; such voters do not change their mind). All presses fall inside
        ``[0, duration_s)``.
        """
        if not 1 <= picks <= len(options):
            raise ValueError(f"picks must be between 1 and {len(options)}, got {picks}")
        keys = tuple(options)
        if not keys or len(set(keys)) != len(keys) or not all(keys):
            raise ValueError(f"options must be distinct, non-empty keys, got {keys!r}")
        if duration_s <= 0:
            raise ValueError(f"duration_s must be positive, got {duration_s}")
        for name, rate in (
            ("change_rate", change_rate),
            ("abstain_rate", abstain_rate),
            ("ping_rate", ping_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        popularity = self._weights(keys, weights)
        rng = self._rng
        presses: list[PlannedPress] = []
        pings: list[PlannedPing] = []
        for handset in self.handset_ids:
            if rng.random() < ping_rate:
                pings.append(PlannedPing(rng.uniform(0.0, duration_s), handset))
            if rng.random() < abstain_rate:
                continue
            # Most delegates answer early in the window, a few wait until near the end.
            at = rng.betavariate(1.6, 4.0) * duration_s * 0.8
            if picks > 1:
                for key in self._pick(keys, popularity, picks):
                    presses.append(PlannedPress(at, handset, key))
                    at = min(at + PICK_GAP_S, duration_s * 0.999)
                continue
            key = rng.choices(keys, popularity)[0]
            presses.append(PlannedPress(at, handset, key))
            for _ in range(MAX_CHANGES):
                if len(keys) < 2 or rng.random() >= change_rate:
                    break
                earliest = at + MIN_CHANGE_GAP_S
                if earliest >= duration_s:
                    break
                at = rng.uniform(earliest, min(duration_s, earliest + duration_s / 3))
                key = rng.choice([k for k in keys if k != key])
                presses.append(PlannedPress(at, handset, key))
        presses.sort(key=lambda p: p.at)
        pings.sort(key=lambda p: p.at)
        return VotePlan(keys, duration_s, tuple(presses), tuple(pings), picks)

    def _pick(self, keys: tuple[str, ...], popularity: list[float], n: int) -> list[str]:
        """``n`` distinct keys, the popular ones more likely and more likely first."""
        left = dict(zip(keys, popularity, strict=True))
        chosen = []
        for _ in range(n):
            key = self._rng.choices(list(left), list(left.values()))[0]
            chosen.append(key)
            del left[key]
        return chosen

    def _weights(
        self, keys: tuple[str, ...], weights: Mapping[str, float] | Sequence[float] | None
    ) -> list[float]:
        if weights is None:
            # Real rounds usually have one clear favourite and a tail of minority options.
            return [self._rng.expovariate(1.0) ** 2 + 0.02 for _ in keys]
        values = (
            [float(weights.get(k, 0.0)) for k in keys]
            if isinstance(weights, Mapping)
            else [float(w) for w in weights]
        )
        if len(values) != len(keys) or any(w < 0 for w in values) or sum(values) <= 0:
            raise ValueError(f"weights {weights!r} do not fit options {keys!r}")
        return values
