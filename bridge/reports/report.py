"""The printable results report: one HTML document for the event, a page per theme.

It is the document handed out after the event, so it shows every round's results whatever
the round's visibility was during the event. The figures come from the final results
documents (``RoundTally.snapshot(full=True)``); the small functions here derive what a page
prints for each question kind, and ``templates/report.html.j2`` only lays it out.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2

from bridge.event.agenda import Agenda, Theme
from bridge.event.language import DEFAULT, Language, Locale, locale
from bridge.event.questions import Kind, Question
from bridge.event.rounds import RoundState, Visibility
from bridge.reports.appendix import AppendixRound, provenance
from bridge.reports.formats import clock, ends, hhmm, number, percent, translate, weighting

TRACK_PX = 200.0  # a full bar: 100 % of votes cast, or the leading option's points
BAR_PX = 12.0

# What a chart row's two figures are, per question kind: (value, percent).
COLUMNS = {
    Kind.SINGLE: ("Votes", "% of votes cast"),
    Kind.MULTI: ("Voters choosing", "% of voters"),
    Kind.YESNO: ("Votes", "% of votes cast"),
    Kind.RATING: ("Votes", "% of votes cast"),
    Kind.RANKING: ("Points", "% of all points"),
}


@dataclass(frozen=True)
class ReportRound:
    """One round for the report: its state and its full final results document."""

    state: RoundState
    results: Mapping[str, Any]


@dataclass(frozen=True)
class OptionRow:
    """One option's line in a round's chart."""

    key: str
    label: str
    value: float  # votes; voters choosing it (multi-select); points (ranking)
    percent: float  # of votes cast; of voters (multi-select); of all points (ranking)
    bar_px: float
    leading: bool
    place: int | None = None  # ranking: its place in the resulting order


@dataclass(frozen=True)
class YesNo:
    """A yes/no/abstain result: yes as a share of the decided votes (abstentions left out)."""

    yes: float
    no: float
    abstained: float
    yes_of_decided: float | None  # None when nobody decided


@dataclass(frozen=True)
class SegmentRow:
    """One participant group's split, or only the fact that it was too small to show."""

    name: str
    suppressed: bool
    voters: int | None = None
    percent: tuple[float, ...] = ()  # per option, in the question's order
    yes_of_decided: float | None = None
    mean: float | None = None
    first: str | None = None  # ranking: the key with the most points in this group


@dataclass(frozen=True)
class RoundView:
    """Everything a round's block on its theme page prints."""

    state: RoundState
    results: Mapping[str, Any]
    voted: bool
    has_counts: bool
    rows: tuple[OptionRow, ...]
    yesno: YesNo | None
    mean: float | None
    shares_total: float
    segments: tuple[SegmentRow, ...]
    groupings: tuple[tuple[str, tuple[SegmentRow, ...]], ...]  # the event's other groupings
    tables: Mapping[str, Any]  # the results document's: seated, voted, complete per table
    opened: str
    closed: str
    voting_time: str
    hidden_live: bool  # the audience never saw these results during the event


@dataclass(frozen=True)
class ThemeView:
    """One printed page: a theme (or a round outside the agenda) and its rounds by attempt."""

    id: str
    title: str
    question: Question
    theme: Theme | None
    rounds: tuple[RoundView, ...]

    @property
    def voted(self) -> bool:
        return any(r.voted for r in self.rounds)


@dataclass(frozen=True)
class AgendaItem:
    """A line of the programme on the cover: a theme or a break."""

    starts: str
    ends: str
    title: str
    speaker: str = ""
    theme_id: str | None = None  # None: a break
    status: str = ""  # a theme's "voted", "re-voted", "not voted"; "" when not in this document


# Derived figures.


def bar_length(value: float, scale: float, track: float = TRACK_PX) -> float:
    """Length of a bar for ``value`` on an axis from 0 to ``scale``; 0 when there is no scale."""
    if scale <= 0:
        return 0.0
    return round(track * min(max(value, 0.0), scale) / scale, 1)


def option_rows(question: Question, results: Mapping[str, Any]) -> tuple[OptionRow, ...]:
    """The chart: percentages on a 0-100 % axis; a ranking's points against the leader's,
    in the resulting order."""
    keys, labels = question.keys, {o.key: o.label for o in question.options}
    value = {k: float(results.get("counts", {}).get(k, 0.0)) for k in keys}
    percent = {k: float(results.get("percent", {}).get(k, 0.0)) for k in keys}
    ranking = question.kind is Kind.RANKING
    # Equal points share a place, so a tie is not presented as an order.
    place = {k: 1 + sum(v > value[k] for v in value.values()) for k in keys} if ranking else {}
    top = max(value.values(), default=0.0)
    bars = {
        k: bar_length(value[k], top) if ranking else bar_length(percent[k], 100.0) for k in keys
    }
    leading = (
        {k for k in keys if place[k] == 1 and value[k] > 0}
        if ranking
        else set(results.get("summary", {}).get("leading", []))
    )
    return tuple(
        OptionRow(k, labels[k], value[k], percent[k], bars[k], k in leading, place.get(k))
        for k in sorted(keys, key=lambda k: (place.get(k, 0), keys.index(k)))
    )


def yes_no(question: Question, counts: Mapping[str, float]) -> YesNo:
    """Yes, no and abstentions of a yes/no/abstain question, and yes of the decided votes."""
    yes, no, abstained = (float(counts.get(k, 0.0)) for k in question.keys)
    decided = yes + no
    return YesNo(yes, no, abstained, round(100.0 * yes / decided, 1) if decided else None)


def rating_mean(question: Question, counts: Mapping[str, float]) -> float | None:
    """The mean rating, the first option scoring 1; None without votes."""
    votes = sum(float(counts.get(k, 0.0)) for k in question.keys)
    scored = sum((i + 1) * float(counts.get(k, 0.0)) for i, k in enumerate(question.keys))
    return round(scored / votes, 2) if votes else None


def segment_rows(question: Question, results: Mapping[str, Any]) -> tuple[SegmentRow, ...]:
    """Results by participant group; a suppressed group carries nothing but its name."""
    return group_rows(question, results.get("segments", {}))


def grouping_rows(
    question: Question, results: Mapping[str, Any]
) -> tuple[tuple[str, tuple[SegmentRow, ...]], ...]:
    """Results by each of the event's other groupings (municipality, sector...)."""
    return tuple(
        (str(grouping), group_rows(question, groups))
        for grouping, groups in results.get("groups", {}).items()
    )


def group_rows(question: Question, groups: Mapping[str, Any]) -> tuple[SegmentRow, ...]:
    """The rows of one grouping's table; a suppressed group carries nothing but its name."""
    rows = []
    for name, seg in groups.items():
        if seg.get("suppressed", False):
            rows.append(SegmentRow(name=str(name), suppressed=True))
            continue
        counts = {k: float(v) for k, v in seg.get("counts", {}).items()}
        measure: dict[str, Any] = {}
        if question.kind is Kind.YESNO:
            measure["yes_of_decided"] = yes_no(question, counts).yes_of_decided
        elif question.kind is Kind.RATING:
            measure["mean"] = rating_mean(question, counts)
        elif question.kind is Kind.RANKING and any(counts.values()):
            measure["first"] = max(question.keys, key=lambda k: counts.get(k, 0.0))
        percent = tuple(float(seg.get("percent", {}).get(k, 0.0)) for k in question.keys)
        rows.append(SegmentRow(str(name), False, int(seg["voters"]), percent, **measure))
    return tuple(rows)


def voting_time(state: RoundState) -> str:
    """How long voting was open, pauses left out: "3 min 05 s"."""
    seconds = round(sum(w.end - w.start for w in state.windows if w.end is not None))
    return f"{seconds // 60} min {seconds % 60:02d} s" if state.windows else ""


def programme(
    agenda: Agenda, status: Mapping[str, str], lang: Locale | None = None
) -> tuple[AgendaItem, ...]:
    """Themes in agenda order with each break placed before the first theme starting after it."""
    breaks = sorted(agenda.breaks, key=lambda b: b.starts)
    items: list[AgendaItem] = []
    for theme in [*agenda.themes, None]:
        starts = theme.starts if theme is not None else None
        while breaks and (theme is None or (starts is not None and breaks[0].starts < starts)):
            b = breaks.pop(0)
            when = (hhmm(b.starts, lang), ends(b.starts, b.minutes, lang))
            items.append(AgendaItem(*when, b.title))
        if theme is not None:
            when = (hhmm(starts, lang), ends(starts, theme.minutes, lang))
            items.append(
                AgendaItem(*when, theme.title, theme.speaker, theme.id, status.get(theme.id, ""))
            )
    return tuple(items)


# Assembly.


def round_view(report_round: ReportRound, tz: dt.tzinfo, lang: Locale | None = None) -> RoundView:
    """What the report prints for one round."""
    state, results = report_round.state, report_round.results
    question = state.question
    counts = {k: float(v) for k, v in results.get("counts", {}).items()}
    rows = option_rows(question, results)
    return RoundView(
        state=state,
        results=results,
        voted=state.opened_at is not None,
        has_counts="counts" in results,
        rows=rows,
        yesno=yes_no(question, counts) if question.kind is Kind.YESNO else None,
        mean=rating_mean(question, counts) if question.kind is Kind.RATING else None,
        shares_total=round(sum(r.percent for r in rows), 1),
        segments=segment_rows(question, results),
        groupings=grouping_rows(question, results),
        tables=results.get("tables", {}),
        opened=clock(results.get("opened_at", state.opened_at), tz, lang),
        closed=clock(results.get("closed_at", state.closed_at), tz, lang),
        voting_time=voting_time(state),
        hidden_live=state.visibility is Visibility.HIDDEN and not state.revealed,
    )


def theme_views(
    agenda: Agenda | None,
    rounds: Sequence[ReportRound],
    tz: dt.tzinfo,
    whole_event: bool,
    lang: Locale | None = None,
) -> tuple[ThemeView, ...]:
    """Rounds grouped by theme, attempts in order: agenda themes first, then other rounds."""
    groups: dict[str, list[ReportRound]] = {}
    for r in rounds:
        groups.setdefault(_theme_id(agenda, r.state), []).append(r)
    ids = [t.id for t in agenda.themes] if agenda is not None else []
    if not whole_event:
        ids = [i for i in ids if i in groups]
    ids += [i for i in groups if i not in ids]
    views = []
    for theme_id in ids:
        theme = agenda.theme(theme_id) if agenda is not None else None
        members = sorted(groups.get(theme_id, []), key=lambda r: r.state.attempt)
        # A theme not on the agenda has rounds (that is how its ID came in), so [0] exists.
        source = theme if theme is not None else members[0].state
        attempts = tuple(round_view(r, tz, lang) for r in members)
        views.append(
            ThemeView(theme_id, source.title or theme_id, source.question, theme, attempts)
        )
    return tuple(views)


def render_report(
    *,
    agenda: Agenda | None,
    rounds: Sequence[ReportRound],
    title: str | None = None,
    generated_at: dt.datetime | None = None,
    whole_event: bool = True,
    language: Language = DEFAULT,
    appendix: Sequence[AppendixRound] = (),
) -> str:
    """The report as one self-contained HTML document: a cover, then a page per theme.

    Times print in the agenda's time zone, else in ``generated_at``'s (default: now, in this
    machine's zone). With an
    agenda and ``whole_event``, every agenda theme gets a page, "not voted" when no round of
    it ran; ``whole_event=False`` makes a document of the given rounds only. ``language``
    chooses the headings and the number, date and time formats. ``appendix`` adds a last page
    on how the results were produced (see :mod:`bridge.reports.appendix`).
    """
    lang = locale(language)
    generated = generated_at or dt.datetime.now()
    if generated.tzinfo is None:
        generated = generated.astimezone()  # a naive time is this machine's local time
    # Event times read in the agenda's zone; without one, in the zone of ``generated_at``.
    tz = (agenda.tz if agenda is not None else None) or generated.tzinfo or dt.UTC
    themes = theme_views(agenda, rounds, tz, whole_event, lang)
    status = {t.id: _status(t) for t in themes}
    opened = [r.state.opened_at for t in themes for r in t.rounds if r.state.opened_at is not None]
    date = (
        agenda.date
        if agenda is not None and agenda.date
        else (dt.datetime.fromtimestamp(min(opened), tz).date() if opened else None)
    )
    english = lang.language is Language.EN
    return _template(lang.language).render(
        lang=lang.language.value,
        _=functools.partial(translate, lang),
        hhmm=functools.partial(hhmm, lang=lang),
        title=title or (agenda.title if agenda is not None else translate(lang, "Results")),
        agenda=agenda,
        programme=programme(agenda, status, lang) if agenda is not None else (),
        themes=themes,
        date=(f"{date.day} {date:%B %Y}" if english else lang.date(date)) if date else "",
        generated=generated.strftime(
            "%Y-%m-%d %H:%M %Z" if english else "%d.%m.%Y %H.%M %Z"
        ).strip(),
        columns=COLUMNS,
        kinds=Kind,
        weighting=functools.partial(weighting, lang=lang),
        track_px=TRACK_PX,
        bar_px=BAR_PX,
        appendix=[provenance(a, tz) for a in appendix],
    )


@functools.cache
def _template(language: Language = DEFAULT) -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bridge.reports", "templates"),
        autoescape=True,  # labels and titles come from operators and imported files
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    lang = locale(language)
    env.filters["pct"] = functools.partial(percent, lang=lang)
    env.filters["pct0"] = functools.partial(percent, lang=lang, digits=0)
    env.filters["num"] = functools.partial(number, lang=lang)
    return env.get_template("report.html.j2")


def _status(theme: ThemeView) -> str:
    voted = [r for r in theme.rounds if r.voted]
    return "re-voted" if len(voted) > 1 else "voted" if voted else "not voted"


def _theme_id(agenda: Agenda | None, state: RoundState) -> str:
    if state.theme:
        return state.theme
    theme = agenda.theme_of_round(state.round) if agenda is not None else None
    return theme.id if theme is not None else state.round
