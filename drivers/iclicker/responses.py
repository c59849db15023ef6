"""Which reported responses are new: the base repeats itself, and its index wraps at 256.

A base reports one response many times: every RF retransmit of a remote is re-reported with
the response's index, both slots of a report may carry it, and the base re-sends earlier
responses (daveho/freepoll ``base.cpp``). FreePoll passes each (ID, answer, index) once.

That is not enough on its own. The index is one byte for the whole base, so after 256
responses an old triple can come back as a genuine new press; and a re-send of a handset's
*earlier* answer, arriving after its newer one, would look like a change of answer to the
bridge (the bridge cannot tell, because this index is not a per-handset sequence number).
So the filter unwraps indexes against the newest one seen, keeps each handset's newest
response, and passes a response only when it is newer than that.

Limit: one byte cannot tell a re-send 128 or more responses old from a response that many
short of 256 ahead; such a re-send would pass as new. The base's re-sends seen so far are
recent ones, and a handset's retransmits of its newest response are recognised at any age.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from drivers.base import KeyFrame, NoiseFrame, RejectedFrame
from drivers.iclicker.codec import (
    INDEX_MODULUS,
    BaseStatus,
    CommandAck,
    OtherReport,
    PullReport,
    Report,
    Response,
    Summary,
    VoteReport,
)

HALF_RING = INDEX_MODULUS // 2  # an index less than this far ahead of the newest is newer


@dataclass(slots=True)
class _Latest:
    key: str
    index: int
    position: int  # the index unwrapped: responses since the filter started


@dataclass(frozen=True, slots=True)
class Verdicts:
    """What :meth:`ResponseFilter.accept` made of a batch of responses."""

    new: tuple[Response, ...]  # oldest first
    repeats: int  # the handset's newest response again (retransmit, re-report, twin slot)
    stale: int  # an older response of a handset whose newer one was already passed


class ResponseFilter:
    """Passes each (ID, answer, index) once and never a response older than one it passed."""

    def __init__(self) -> None:
        self._latest: dict[str, _Latest] = {}
        self._head: int | None = None  # newest index seen
        self._position = 0  # unwrapped position of ``_head``

    def reset(self) -> None:
        """Forget everything: the base restarted its index (poll start, power cycle)."""
        self._latest.clear()
        self._head = None
        self._position = 0

    def accept(self, responses: Iterable[Response]) -> Verdicts:
        """Sort ``responses`` (one report's, in slot or record order) into new and not new."""
        fresh: list[tuple[int, Response]] = []
        repeats = stale = 0
        for r in responses:
            latest = self._latest.get(r.handset)
            if latest is not None and latest.key == r.key and latest.index == r.index:
                repeats += 1
                continue
            position = self._place(r.index)
            if latest is not None and position <= latest.position:
                stale += 1
                continue
            self._latest[r.handset] = _Latest(r.key, r.index, position)
            fresh.append((position, r))
        fresh.sort(key=lambda item: item[0])
        return Verdicts(tuple(r for _, r in fresh), repeats, stale)

    def _place(self, index: int) -> int:
        """The unwrapped position of ``index``: ahead of the newest by <128, else behind it."""
        if self._head is None:
            self._head = index
            return self._position
        ahead = (index - self._head) % INDEX_MODULUS
        if 0 < ahead < HALF_RING:
            self._head = index
            self._position += ahead
            return self._position
        return self._position - ((self._head - index) % INDEX_MODULUS)

    @property
    def handsets(self) -> int:
        """Handsets with at least one response since the last reset."""
        return len(self._latest)


Frame = KeyFrame | RejectedFrame | NoiseFrame
_KINDS: dict[type, str] = {
    CommandAck: "acks",
    BaseStatus: "status_reports",
    Summary: "summaries",
    OtherReport: "other_reports",
}


class ResponseReader:
    """Reports in, base frames out: new votes as :class:`KeyFrame`, everything else counted.

    A dropped repeat or stale response, an ignored answer code and a report that carries no
    vote each give a :class:`NoiseFrame`; a garbled slot or report a :class:`RejectedFrame`.
    ``KeyFrame.seq`` stays None: the index counts responses of the whole base, while the
    bridge reads ``seq`` as a handset's own press counter.
    """

    def __init__(self) -> None:
        self.filter = ResponseFilter()
        self.counts: Counter[str] = Counter()

    def reset(self) -> None:
        """The base restarted its index; the counters keep running."""
        self.filter.reset()

    def frames(self, report: Report) -> list[Frame]:
        """The frames one decoded report gives."""
        if isinstance(report, RejectedFrame):
            self.counts["rejected"] += 1
            return [report]
        if not isinstance(report, VoteReport | PullReport):
            self.counts[_KINDS[type(report)]] += 1
            return [NoiseFrame(_raw(report))]
        verdicts = self.filter.accept(report.responses())
        self.counts["repeats"] += verdicts.repeats
        self.counts["stale"] += verdicts.stale
        self.counts["ignored_codes"] += report.ignored
        out: list[Frame] = [KeyFrame(r.handset, r.key) for r in verdicts.new]
        dropped = verdicts.repeats + verdicts.stale + report.ignored
        if dropped:
            raw = report.to_bytes()
            out.extend(NoiseFrame(raw) for _ in range(dropped))
        if isinstance(report, VoteReport) and report.garbled:
            self.counts["rejected"] += 1
            out.append(RejectedFrame(report.garbled, "garbled response slot"))
        return out


def _raw(report: CommandAck | BaseStatus | Summary | OtherReport) -> bytes:
    if isinstance(report, CommandAck | BaseStatus):
        return report.to_bytes()
    return report.raw
