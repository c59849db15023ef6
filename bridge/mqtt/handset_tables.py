"""Handset tables on the bus: the whole table now and then, the changes in between.

A bridge publishes two topics (docs/mqtt.md):

- ``ars/bridge/{bridge}/handsets`` (retained): every handset it heard this session, at most
  every ``[mqtt] handsets_whole_interval_ms`` while anything changes. A reader that comes
  late starts from it.
- ``ars/bridge/{bridge}/handset_changes`` (not retained): the entries made again since the
  last change message (a handset heard, its flags changed; ``null``: the entry is gone), at
  most every ``[mqtt] handsets_interval_ms``. At 50,000 handsets the whole table is about
  5 MB; a second's changes at 2,000 presses/s about 200 kB.

Both carry the bridge's ``epoch`` (new each time the bridge starts) and ``seq``: a change's
number, counted from 1 in each epoch; a whole table carries the number of the last change it
holds. An entry is the handset's whole state, never an increment, so a reader takes any change
newer than its copy; a change that skips a number (one lost while a reader was away) is taken
too, and the copy is marked incomplete until the next whole table. A whole table older than
the copy (a broker handing back a retained table after a reconnect) is ignored.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterable
from typing import Any

WHOLE = "handsets"
CHANGES = "handset_changes"
# A change message numbered further than this past the reader's copy is not taken (the whole
# table puts the copy right): a bridge sends about one a second, and a number far ahead
# would make the reader ignore every real change after it.
MAX_SEQ_JUMP = 10_000
SEQ_MAX = 2**53  # JSON's exact integers

# A reader's copy of one bridge's table: the whole document as published, changes merged in,
# with "complete": False while a change is known to be missing.
Copy = dict[str, Any]


class Malformed(ValueError):
    """Not a handset table or change message; the message says what is wrong, in one line."""


def check(doc: Any, *, whole: bool) -> dict[str, Any]:
    """``doc`` as a handset table (``whole``) or change message, or :class:`Malformed`."""
    if not isinstance(doc, dict):
        raise Malformed("not a JSON object")
    handsets = doc.get("handsets")
    if not isinstance(handsets, dict):
        raise Malformed("'handsets' is not an object")
    if not isinstance(doc.get("epoch", ""), str):
        raise Malformed("'epoch' is not a string")
    seq = doc.get("seq", 0)
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= SEQ_MAX:
        raise Malformed("'seq' is not a count")
    if not isinstance(doc.get("receivers", {}), dict):
        raise Malformed("'receivers' is not an object")
    for handset, entry in handsets.items():
        if entry is None and not whole:
            continue
        problem = _entry_problem(entry)
        if problem:
            raise Malformed(f"entry of {handset[:40]!r} {problem}")
    return doc


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _entry_problem(entry: Any) -> str:
    """What is wrong with a table entry, in a few words ("" when nothing is)."""
    if not isinstance(entry, dict):
        return "is not an object"
    if not _number(entry.get("last")):
        return "has no time last heard ('last')"
    for key in ("presses", "held"):
        count = entry.get(key, 0)
        if not _number(count) or count < 0:
            return f"has a '{key}' that is not a count"
    for key in ("rssi", "bat"):
        if entry.get(key) is not None and not _number(entry[key]):
            return f"has a '{key}' that is not a number"
    if not isinstance(entry.get("rx", ""), (str, type(None))):
        return "has an 'rx' that is not a name"
    flags = entry.get("flags", [])
    if not isinstance(flags, list) or not all(
        isinstance(f, dict) and isinstance(f.get("kind"), str) for f in flags
    ):
        return "has 'flags' that are not a list of flags"
    return ""


def read(topic: str, data: bytes) -> dict[str, Any]:
    """The handset table or change message ``data`` on ``topic``; ValueError when it is not
    JSON or not one."""
    return check(json.loads(data), whole=not topic.endswith("/" + CHANGES))


def too_far(copy: Copy | None, doc: dict[str, Any]) -> bool:
    """Whether change message ``doc`` is numbered too far past ``copy`` to be taken."""
    return (
        copy is not None
        and copy.get("epoch", "") == doc.get("epoch", "")
        and doc.get("seq", 0) > copy.get("seq", 0) + MAX_SEQ_JUMP
    )


def apply(copy: Copy | None, doc: dict[str, Any], *, whole: bool) -> Copy | None:
    """``copy`` with ``doc`` (checked: :func:`check`) taken in; None when ``doc`` is older
    than the copy and changes nothing. A change is merged into ``copy`` itself."""
    epoch, seq = doc.get("epoch", ""), doc.get("seq", 0)
    if whole:
        if copy is not None and copy.get("epoch", "") == epoch and seq < copy.get("seq", 0):
            return None  # a table from before changes the copy already holds
        return {**doc, "complete": True}
    if copy is None:
        # Changes before any whole table (this reader started after the last one): what they
        # name is known, the rest comes with the next whole table.
        entries = {h: e for h, e in doc["handsets"].items() if e is not None}
        return {**doc, "handsets": entries, "complete": False}
    if copy.get("epoch", "") != epoch:
        return None  # a bridge started again publishes its whole table first
    held = copy.get("seq", 0)
    if seq <= held or seq > held + MAX_SEQ_JUMP:
        return None
    table = copy["handsets"]
    for handset, entry in doc["handsets"].items():
        if entry is None:
            table.pop(handset, None)
        else:
            table[handset] = entry
    if seq != held + 1:
        copy["complete"] = False
    copy["seq"] = seq
    for key in ("t", "receivers"):
        if key in doc:
            copy[key] = doc[key]
    return copy


class Sightings:
    """Every bridge's table merged: each handset's latest sighting (the entry heard last, of
    whichever bridge heard it), and the version at which it last changed, so that a reader
    (the technician's board) can ask for what changed since the version it holds."""

    def __init__(self) -> None:
        self.epoch = secrets.token_hex(4)  # versions count from 0 in each process
        self.version = 0
        self.latest: dict[str, dict[str, Any]] = {}
        self.changed_at: dict[str, int] = {}  # handsets gone from every table stay here
        self._source: dict[str, str] = {}  # handset -> the table its latest sighting is from

    def take(self, copies: dict[str, Copy], topic: str, handsets: Iterable[str] | None) -> None:
        """The table ``copies[topic]`` changed: the entries of ``handsets``, or (None) all of
        them (a whole table, or the table cleared)."""
        if handsets is None:
            names = {h for h, source in self._source.items() if source == topic}
            if topic in copies:
                names.update(copies[topic]["handsets"])
        else:
            names = set(handsets)
        self.version += 1
        for handset in names:
            best, source = None, ""
            for name, copy in copies.items():
                entry = copy["handsets"].get(handset)
                if entry is not None and (best is None or _last(entry) > _last(best)):
                    best, source = entry, name
            if best == self.latest.get(handset):  # a whole table repeats most entries
                continue
            if best is None:
                del self.latest[handset], self._source[handset]
            else:
                self.latest[handset], self._source[handset] = best, source
            self.changed_at[handset] = self.version

    def changed_since(self, version: int) -> set[str]:
        """The handsets whose sighting changed (or went) after ``version``."""
        return {h for h, at in self.changed_at.items() if at > version}


def _last(entry: dict[str, Any]) -> float:
    last = entry.get("last")
    return float(last) if isinstance(last, (int, float)) else 0.0
