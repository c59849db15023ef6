"""The MQTT state that browsers see, kept per topic and fanned out to SSE and WebSocket clients.

Displays must not talk to the broker themselves (its address and credentials stay in the
service), so the api role mirrors the retained topics a page needs: round states, tallies,
results, the current round, the agenda, receiver availability, bridge states and handset
tables. Vote batches are never mirrored: they name who pressed what.

A client first gets the latest message of every topic, then changes. Each client holds at
most one pending message per topic, so a slow display skips stale tallies instead of
falling behind: it always catches up to the present.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

# Topic patterns below the base, in MQTT filter syntax.
# Exact filters, not round/#: a broker with topic ACLs grants a subscription only within
# what the role may read (bridge.mqtt.access).
PATTERNS = (
    "round/+/state",
    "round/+/tally",
    "round/+/results",
    "round/current",
    "agenda",
    "rx/+/availability",
    "bridge/+/state",
    "bridge/+/handsets",
)


def kind_of(topic: str) -> str:
    """The event name of a mirrored topic: ``tally``, ``state``, ``current``, ``agenda``..."""
    return topic.rsplit("/", 1)[-1]


class MirrorClient:
    """One browser's view: a coalescing queue of (topic, payload) to send."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self._prefixes = prefixes
        self._pending: dict[str, Any] = {}
        self._ready = asyncio.Event()

    def wants(self, topic: str) -> bool:
        return not self._prefixes or topic.startswith(self._prefixes)

    def put(self, topic: str, payload: Any) -> None:
        if self.wants(topic):
            self._pending.pop(topic, None)  # re-insert: messages go out in order of change
            self._pending[topic] = payload
            self._ready.set()

    async def next(self) -> list[tuple[str, Any]]:
        """Everything that changed since the last call (waits until something has)."""
        await self._ready.wait()
        self._ready.clear()
        out, self._pending = list(self._pending.items()), {}
        return out


class Mirror:
    """The latest payload of every mirrored topic, and the clients that follow them."""

    def __init__(self) -> None:
        self.latest: dict[str, Any] = {}
        self._clients: set[MirrorClient] = set()

    def update(self, topic: str, payload: Any) -> None:
        """A message arrived on ``topic`` (relative to the base); None clears it."""
        if payload is None:
            self.latest.pop(topic, None)
        else:
            self.latest[topic] = payload
        for client in self._clients:
            client.put(topic, payload)

    def join(self, prefixes: Iterable[str] = ()) -> MirrorClient:
        """A new client, primed with the latest message of every topic it wants."""
        client = MirrorClient(tuple(prefixes))
        for topic, payload in self.latest.items():
            client.put(topic, payload)
        self._clients.add(client)
        return client

    def leave(self, client: MirrorClient) -> None:
        self._clients.discard(client)

    @property
    def clients(self) -> int:
        return len(self._clients)
