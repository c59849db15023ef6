"""The fault watch: stuck or jamming handsets, suspected spoofing, flat batteries, ailing
receivers, each raised as a flag with its reason.

Rules (thresholds are ``[faults]`` settings):

* **stuck**: a handset heard more than ``stuck_max_frames`` times within ``stuck_window_s``
  (a held key, a dying fob); a human's presses with their retransmits stay far below.
* **jamming**: a receiver reports a carrier or collision error while a handset has been heard
  on it at least ``jam_min_frames`` times within ``stuck_window_s``.
* **spoofing**: a press whose sequence number is more than ``spoof_seq_jump`` ahead of the
  handset's last accepted one; one heard on a receiver within ``spoof_window_s`` of another
  from the same handset ``spoof_rssi_db`` or more louder or quieter; or one heard within
  ``spoof_window_s`` on two receivers listed in ``far_apart``. Such a press is journaled as
  ``suspect`` with its reason and not counted; the flag asks the technician to look.
* **battery**: a handset reports less than ``low_battery`` percent.
* receivers: **errors** (the receiver reported one), **bad_frames** (at least
  ``bad_frame_ratio`` of at least ``bad_frame_min`` frames in ``receiver_window_s`` failed
  their checks), **backlog** (more than ``backlog_max`` events queued in the receiver).

A flag stays up for ``flag_keep_s`` after its condition last held, or until cleared.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.settings import FaultSettings
from drivers.base import Press, ReceiverStats

HANDSET_FLAGS = ("stuck", "jamming", "spoofing", "battery")
RECEIVER_FLAGS = ("errors", "bad_frames", "backlog")
MIN_HEARD = 64  # sightings kept per handset, at least (more when the thresholds need it)
# Sightings older than every window count for nothing; a handset's are forgotten once all of
# them are, at this pace (a pass over 50,000 handsets takes a few milliseconds).
PRUNE_EVERY_S = 10.0


@dataclass(slots=True)
class Flag:
    """One raised flag: what, why, since when, and when its condition last held."""

    kind: str
    reason: str
    since: float
    last: float

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "since": round(self.since, 3),
            "last": round(self.last, 3),
        }


@dataclass(slots=True)
class _Sighting:
    t: float
    receiver: str
    rssi: int | None


@dataclass(slots=True)
class _ReceiverSample:
    t: float
    frames: int
    rejected: int


class FaultWatch:
    """Flags handsets and receivers from what the bridge hears; pure, fed by the bridge."""

    def __init__(self, settings: FaultSettings) -> None:
        self.settings = settings
        self.handsets: dict[str, dict[str, Flag]] = {}
        self.receivers: dict[str, dict[str, Flag]] = {}
        self.raised: Counter[str] = Counter()  # flags raised since start, by kind
        self.changed = False  # a flag was raised or dropped since the bridge last published
        self.held: dict[str, Press] = {}  # the latest press held as suspect, by handset
        # The latest sightings of each handset, oldest first, at most ``_keep``: a list, not a
        # deque, as a deque takes a 64-slot block even for the two or three sightings most
        # handsets have (50,000 handsets: 40 MB against 10).
        self._heard: dict[str, list[_Sighting]] = {}
        # Enough sightings to count past either threshold within its window.
        self._keep = max(MIN_HEARD, settings.stuck_max_frames + 1, settings.jam_min_frames)
        self._pruned_at = 0.0
        self._seq: dict[str, int] = {}
        self._samples: dict[str, deque[_ReceiverSample]] = {}
        self._errors: dict[str, int] = {}
        far: dict[str, set[str]] = {}
        for a, b in settings.far_apart:
            far.setdefault(a, set()).add(b)
            far.setdefault(b, set()).add(a)
        self._far = far

    # Handsets (the hot path: called for every press and presence).

    def suspect(self, press: Press) -> str | None:
        """Why ``press`` looks forged (and the handset is flagged), or None; call it first."""
        s = self.settings
        last = self._seq.get(press.handset)
        reason = None
        if press.seq is not None and last is not None:
            step = (press.seq - last) & 0xFF
            if s.spoof_seq_jump < step < 128:
                reason = f"sequence jumped from {last} to {press.seq}"
        if reason is None:
            reason = self._odd_sighting(press)
        if reason is not None:
            self._raise(self.handsets, press.handset, "spoofing", reason, press.t)
            self.held[press.handset] = press
        return reason

    def _odd_sighting(self, press: Press) -> str | None:
        s = self.settings
        for seen in reversed(self._heard.get(press.handset, ())):
            if press.t - seen.t > s.spoof_window_s:
                break
            if seen.receiver in self._far.get(press.receiver, ()):
                return f"heard on {seen.receiver} and {press.receiver}, which are far apart"
            if (
                seen.receiver == press.receiver
                and seen.rssi is not None
                and press.rssi is not None
                and abs(seen.rssi - press.rssi) >= s.spoof_rssi_db
            ):
                return (
                    f"heard at {seen.rssi} and {press.rssi} dBm on {press.receiver} "
                    f"within {press.t - seen.t:.2f} s"
                )
        return None

    def accepted(self, press: Press) -> None:
        """``press`` was not held: its sequence number is the handset's from now on."""
        if press.seq is not None:
            last = self._seq.get(press.handset)
            if last is None or (press.seq - last) & 0xFF < 128:
                self._seq[press.handset] = press.seq

    def heard(
        self, handset: str, receiver: str, t: float, rssi: int | None, battery: int | None
    ) -> None:
        """Any transmission of ``handset`` (press, retransmit or presence)."""
        s = self.settings
        heard = self._heard.get(handset)
        if heard is None:
            heard = self._heard[handset] = []
        heard.append(_Sighting(t, receiver, rssi))
        if len(heard) > self._keep:
            del heard[0]
        if len(heard) <= s.stuck_max_frames:
            recent = 0  # too few sightings kept to be stuck: no need to count them
        else:
            recent = sum(1 for x in heard if t - x.t <= s.stuck_window_s)
        if recent > s.stuck_max_frames:
            self._raise(
                self.handsets,
                handset,
                "stuck",
                f"{recent} transmissions in {s.stuck_window_s:g} s (a key held down?)",
                t,
            )
        if battery is not None and battery < s.low_battery:
            self._raise(self.handsets, handset, "battery", f"battery at {battery} %", t)

    def clear(self, handset: str) -> bool:
        """The technician dealt with ``handset``: its flags and held press go, its sequence
        starts afresh."""
        self._seq.pop(handset, None)
        self._heard.pop(handset, None)
        self.held.pop(handset, None)
        dropped = self.handsets.pop(handset, None) is not None
        self.changed = self.changed or dropped
        return dropped

    def release(self, handset: str) -> Press | None:
        """The technician vouches for the press held for ``handset``: it is returned to be
        decided, its sequence becomes the handset's, and the handset's flags go."""
        press = self.held.get(handset)
        if press is None:
            return None
        self.clear(handset)
        self.accepted(press)
        return press

    # Receivers (reviewed every few seconds, not per press).

    def review(self, now: float, stats: Mapping[str, ReceiverStats]) -> None:
        """Check each receiver's counters, blame jammers for carrier errors, expire flags,
        and now and then forget the sightings of handsets quiet for longer than any window."""
        s = self.settings
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            horizon = now - max(s.stuck_window_s, s.spoof_window_s)
            for handset in [h for h, heard in self._heard.items() if heard[-1].t < horizon]:
                del self._heard[handset]
        for name, st in stats.items():
            samples = self._samples.setdefault(name, deque())
            samples.append(_ReceiverSample(now, st.frames, st.rejected))
            while len(samples) > 2 and now - samples[1].t >= s.receiver_window_s:
                samples.popleft()
            frames = st.frames - samples[0].frames
            rejected = st.rejected - samples[0].rejected
            if frames >= s.bad_frame_min and rejected >= s.bad_frame_ratio * frames:
                self._raise(
                    self.receivers,
                    name,
                    "bad_frames",
                    f"{rejected} of {frames} frames failed their checks",
                    now,
                )
            if st.errors > self._errors.get(name, 0):
                self._raise(self.receivers, name, "errors", st.last_error or "an error", now)
                if st.last_error.startswith("CARRIER"):
                    self._blame_jammers(name, now)
            self._errors[name] = st.errors
            queued = st.extra.get("rx_queue_depth", 0)
            if queued > s.backlog_max:
                self._raise(
                    self.receivers, name, "backlog", f"{queued} events queued for the host", now
                )
        for table in (self.handsets, self.receivers):
            for name in list(table):
                flags = table[name]
                for kind in [k for k, f in flags.items() if now - f.last > s.flag_keep_s]:
                    del flags[kind]
                    self.changed = True
                if not flags:
                    del table[name]

    def _blame_jammers(self, receiver: str, now: float) -> None:
        s = self.settings
        for handset, heard in self._heard.items():
            n = sum(1 for x in heard if x.receiver == receiver and now - x.t <= s.stuck_window_s)
            if n >= s.jam_min_frames:
                reason = f"{receiver} reports a carrier error while hearing it {n} times"
                self._raise(self.handsets, handset, "jamming", reason, now)

    # Reading.

    def flags_of(self, handset: str) -> list[dict[str, Any]]:
        flags = self.handsets.get(handset)
        return [f.to_json() for f in flags.values()] if flags else []

    def receivers_document(self) -> dict[str, list[dict[str, Any]]]:
        """Every receiver's raised flags."""
        return {
            r: [f.to_json() for f in flags.values()] for r, flags in sorted(self.receivers.items())
        }

    def document(self) -> dict[str, Any]:
        """Every raised flag, by handset and by receiver."""
        return {
            "handsets": {h: self.flags_of(h) for h in sorted(self.handsets)},
            "receivers": self.receivers_document(),
        }

    def _raise(
        self, table: dict[str, dict[str, Flag]], name: str, kind: str, reason: str, t: float
    ) -> None:
        flags = table.setdefault(name, {})
        flag = flags.get(kind)
        if flag is None:
            flags[kind] = Flag(kind, reason, t, t)
            self.raised[kind] += 1
            self.changed = True
        else:
            flag.reason, flag.last = reason, max(flag.last, t)
