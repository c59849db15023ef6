"""The MQTT state that browsers see, kept per topic and fanned out to SSE and WebSocket clients.

Displays must not talk to the broker themselves (its address and credentials stay in the
service), so the api role mirrors the retained topics a page needs: round states, tallies,
results, the current round, the agenda, receiver availability, bridge states and handset
tables. Vote batches are never mirrored: they name who pressed what.

A client first gets the latest message of every topic, then changes. Each client holds at
most one pending message per topic, so a slow display skips stale tallies instead of
falling behind: it always catches up to the present. A change is serialised once for all
clients; a client that stops reading is dropped. Per-handset tables go only to clients
that carry the technician's token.

A bridge's handset table is kept whole here, its change messages merged in
(:mod:`bridge.mqtt.handset_tables`); a client gets the whole table when it joins, then each
change message. Changes are not coalesced (each names other handsets): a client with more
than ``MAX_PENDING_CHANGES`` of one bridge waiting gets the whole table again instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from bridge.mqtt import handset_tables

log = logging.getLogger(__name__)

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
    "bridge/+/handset_changes",
)

# Change messages of one bridge's handset table a client may have waiting before it is given
# the whole table instead (a technician tool that reads slowly at tens of thousands of handsets).
MAX_PENDING_CHANGES = 32


# Per-handset tables name handsets: only clients with the technician's token get them.
PRIVATE = ("bridge/",)
PRIVATE_KINDS = (handset_tables.WHOLE, handset_tables.CHANGES)


def kind_of(topic: str) -> str:
    """The event name of a mirrored topic: ``tally``, ``state``, ``current``, ``agenda``..."""
    return topic.rsplit("/", 1)[-1]


def private(topic: str) -> bool:
    """Whether ``topic`` names handsets (for the technician only)."""
    return topic.startswith(PRIVATE) and kind_of(topic) in PRIVATE_KINDS


@dataclass(frozen=True, slots=True)
class Frame:
    """One message as every client receives it, serialised once for all of them."""

    topic: str
    kind: str
    data: str  # JSON: {"topic", "kind", "payload", "t"}


def frame(topic: str, payload: Any, t: float | None = None, raw: str | None = None) -> Frame:
    """``payload`` on ``topic``; ``t`` (default now) is the server's clock, for countdowns.

    ``raw`` is ``payload`` already encoded as JSON on one line (as it came or went on the
    bus): it goes into the frame as it is, instead of being encoded again."""
    stamp = round(time.time() if t is None else t, 3)
    kind = kind_of(topic)
    if raw is None:
        doc = {"topic": topic, "kind": kind, "payload": payload, "t": stamp}
        return Frame(topic, kind, msgspec.json.encode(doc).decode())
    head = json.dumps({"topic": topic, "kind": kind}, separators=(",", ":"))
    return Frame(topic, kind, f'{head[:-1]},"payload":{raw},"t":{json.dumps(stamp)}}}')


def one_line(raw: bytes | None) -> str | None:
    """``raw`` as text where it can stand in a frame as it is (UTF-8, on one line)."""
    if raw is None or b"\n" in raw or b"\r" in raw:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


class MirrorClient:
    """One browser's view: a coalescing queue of frames to send (one per topic at most, but
    every change message of a handset table)."""

    def __init__(self, prefixes: tuple[str, ...], *, technician: bool = False) -> None:
        self._prefixes = prefixes
        self._technician = technician
        self._pending: dict[str, Frame] = {}
        self._changes: dict[str, list[str]] = {}  # whole table's topic -> keys of changes
        self._numbered = 0
        self._ready = asyncio.Event()
        self.waiting_since: float | None = None  # monotonic time the oldest pending came
        self.on_drop: Callable[[], object] | None = None

    def wants(self, topic: str) -> bool:
        if private(topic) and not self._technician:
            return False
        return not self._prefixes or topic.startswith(self._prefixes)

    def put(self, item: Frame, now: float) -> None:
        if self.wants(item.topic):
            if item.kind == handset_tables.WHOLE:  # it holds every change waiting
                for key in self._changes.pop(item.topic, ()):
                    self._pending.pop(key, None)
            self._pending.pop(item.topic, None)  # re-insert: messages go out in order of change
            self._pending[item.topic] = item
            self._wake(now)

    def put_change(
        self, item: Frame, now: float, whole_topic: str, whole: Callable[[], Frame | None]
    ) -> bool:
        """A handset table's change message, kept beside those already waiting; past
        ``MAX_PENDING_CHANGES`` of them, the whole table (``whole()``) takes their place.
        False: the client is that far behind and does not follow the whole table."""
        if not self.wants(item.topic):
            return True
        keys = self._changes.setdefault(whole_topic, [])
        if len(keys) >= MAX_PENDING_CHANGES:
            replacement = whole() if self.wants(whole_topic) else None
            if replacement is None:
                return False  # no whole table to catch up with: let the client go
            self.put(replacement, now)
            return True
        self._numbered += 1
        key = f"{item.topic}#{self._numbered}"
        keys.append(key)
        self._pending[key] = item
        self._wake(now)
        return True

    def _wake(self, now: float) -> None:
        if self.waiting_since is None:
            self.waiting_since = now
        self._ready.set()

    async def next(self) -> list[Frame]:
        """Everything that changed since the last call (waits until something has)."""
        await self._ready.wait()
        self._ready.clear()
        out, self._pending = list(self._pending.values()), {}
        self._changes.clear()
        self.waiting_since = None
        return out


class Mirror:
    """The latest payload of every mirrored topic, and the clients that follow them.

    A change is serialised once and handed to every client; a client that has not taken
    what waits for it within ``stall_s`` is dropped (``on_drop``) instead of buffered for.
    """

    def __init__(
        self, *, stall_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.latest: dict[str, Any] = {}
        self._raw: dict[str, str] = {}  # the latest payloads' JSON, where it was at hand
        self._whole_frames: dict[str, Frame] = {}  # handset tables' frames, made when needed
        self.sightings = handset_tables.Sightings()  # every bridge's table merged
        # Told of each handset table and change message taken (not those older than the
        # copy): the tally's count of handsets heard, the desk's pairing by the next press.
        self.table_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.table_listener_failures = 0
        self._clock = clock
        self._clients: set[MirrorClient] = set()
        self._stall = stall_s
        self.dropped = 0  # clients dropped for not reading

    def update(self, topic: str, payload: Any, raw: bytes | None = None) -> None:
        """A message arrived on ``topic`` (relative to the base); None clears it. ``raw`` is
        the message's JSON as it came (or went), used as it is where it can be. A handset
        table or change message must have passed :func:`handset_tables.check`."""
        kind = kind_of(topic)
        tables = private(topic)
        if tables and (payload is not None or kind == handset_tables.CHANGES):
            if payload is not None:  # (a change message is never cleared)
                self._handsets(topic, kind, payload, raw)
            return
        self._store(topic, payload, raw)
        if tables and kind == handset_tables.WHOLE:  # a bridge's table cleared
            self.sightings.take(self._tables(), topic, None)
        self._fan_out(topic, payload, self._raw.get(topic))

    def _store(self, topic: str, payload: Any, raw: bytes | None) -> None:
        text = None if payload is None else one_line(raw)
        if payload is None:
            self.latest.pop(topic, None)
        else:
            self.latest[topic] = payload
        if text is None:
            self._raw.pop(topic, None)
        else:
            self._raw[topic] = text
        self._whole_frames.pop(topic, None)

    def _handsets(self, topic: str, kind: str, payload: Any, raw: bytes | None) -> None:
        """A bridge's whole handset table or change message, merged into the table kept."""
        whole_topic = topic.rsplit("/", 1)[0] + "/" + handset_tables.WHOLE
        whole = kind == handset_tables.WHOLE
        copy = handset_tables.apply(self.latest.get(whole_topic), payload, whole=whole)
        if copy is None:
            return  # older than the table kept
        for listener in self.table_listeners:
            try:
                listener(payload)
            except Exception:  # one reader's failure must not stop the others or the mirror
                self.table_listener_failures += 1
                log.exception("a reader of %s failed", topic)
        if whole:
            self._store(topic, copy, None)  # with "complete": the message as it came is not it
            self.sightings.take(self._tables(), topic, None)
            self._fan_out(topic, copy, None)
            return
        self._store(whole_topic, copy, None)
        self.sightings.take(self._tables(), whole_topic, payload["handsets"])
        item: Frame | None = None
        now = self._clock()
        for client in self._live(now):
            if client.wants(topic):
                item = item or frame(topic, payload, raw=one_line(raw))
                if not client.put_change(item, now, whole_topic, lambda: self._whole(whole_topic)):
                    self._drop(client)

    def _tables(self) -> dict[str, handset_tables.Copy]:
        """Every bridge's handset table kept, by topic."""
        return {
            topic: doc
            for topic, doc in self.latest.items()
            if kind_of(topic) == handset_tables.WHOLE and topic.startswith(PRIVATE)
        }

    def _whole(self, topic: str) -> Frame | None:
        """The frame of ``topic``'s latest payload, made once for every client that needs it."""
        item = self._whole_frames.get(topic)
        if item is None and topic in self.latest:
            item = self._whole_frames[topic] = frame(topic, self.latest[topic])
        return item

    def _fan_out(self, topic: str, payload: Any, text: str | None) -> None:
        item: Frame | None = None  # made once, and only if a client wants it
        now = self._clock()
        for client in self._live(now):
            if client.wants(topic):
                item = item or frame(topic, payload, raw=text)
                client.put(item, now)

    def _live(self, now: float) -> list[MirrorClient]:
        """The clients, less those dropped now for having stalled past ``stall_s``."""
        live = []
        for client in list(self._clients):
            if client.waiting_since is not None and now - client.waiting_since > self._stall:
                self._drop(client)
            else:
                live.append(client)
        return live

    def join(self, prefixes: Iterable[str] = (), *, technician: bool = False) -> MirrorClient:
        """A new client, primed with the latest message of every topic it wants."""
        client = MirrorClient(tuple(prefixes), technician=technician)
        now = self._clock()
        for topic, payload in self.latest.items():
            if client.wants(topic):
                raw = self._raw.get(topic)
                if raw is None and private(topic):
                    item = self._whole(topic)  # made once for every technician joining
                else:
                    item = frame(topic, payload, raw=raw)
                if item is not None:
                    client.put(item, now)
        self._clients.add(client)
        return client

    def leave(self, client: MirrorClient) -> None:
        self._clients.discard(client)

    def _drop(self, client: MirrorClient) -> None:
        self.leave(client)
        self.dropped += 1
        if client.on_drop is not None:
            client.on_drop()

    @property
    def clients(self) -> int:
        return len(self._clients)
