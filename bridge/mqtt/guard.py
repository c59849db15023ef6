"""What the service refuses from the bus: counted by reason, named in the log and in /health.

Anyone who can publish to the broker can try to feed the service; the roles' checks (vote
batches in the tally engine, round states and results in the service) report every message
they drop here, and nothing they drop is applied, stored or exported.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from dataclasses import dataclass

log = logging.getLogger(__name__)

RECENT = 20  # rejections kept for /health
LOG_FIRST = 10  # rejections of one reason logged one by one; after that every LOG_EVERY-th
LOG_EVERY = 1000


class Rejected(Exception):
    """A message from the bus failed a check; the message says which, in one line."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Rejection:
    t: float
    topic: str
    reason: str
    detail: str


class BusGuard:
    """Counts and remembers the messages dropped from the bus."""

    def __init__(self) -> None:
        self.by_reason: Counter[str] = Counter()
        self.recent: deque[Rejection] = deque(maxlen=RECENT)

    @property
    def rejected(self) -> int:
        return sum(self.by_reason.values())

    def reject(self, topic: str, exc: Rejected) -> None:
        """Record that the message on ``topic`` was dropped for ``exc``'s reason."""
        self.by_reason[exc.reason] += 1
        self.recent.append(Rejection(time.time(), topic, exc.reason, exc.detail[:200]))
        n = self.by_reason[exc.reason]
        if n <= LOG_FIRST or n % LOG_EVERY == 0:
            log.warning(
                "dropped a message on %s from the bus (%s, %d so far): %s",
                topic,
                exc.reason,
                n,
                exc.detail[:200],
            )

    def report(self) -> dict[str, object]:
        """The figures /health shows."""
        return {
            "rejected": self.rejected,
            "by_reason": dict(sorted(self.by_reason.items())),
            "recent": [
                {"t": r.t, "topic": r.topic, "reason": r.reason, "detail": r.detail}
                for r in self.recent
            ],
        }
