"""The printed results report: figures per question kind, escaping, and one A4 page per theme.

The rounds are built the way the tally engine builds them: RoundTally objects for the
example agenda's themes, seated by the example roster, fed journal records, then rendered
with ``snapshot(full=True)``. Expected figures are counted independently from the answers
each test delegate gave.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
import struct
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser

from bridge.desk.event_desk import seating_document
from bridge.event.agenda import Agenda, Theme, load_agenda
from bridge.event.questions import Kind, Question
from bridge.event.roster import Participant, Roster
from bridge.event.roster_files import load_roster
from bridge.event.rounds import RoundState, RoundStatus, Visibility, Window
from bridge.event.votes import Decision, Policy, Record
from bridge.reports.report import (
    TRACK_PX,
    ReportRound,
    bar_length,
    programme,
    rating_mean,
    render_report,
    weighting,
    yes_no,
)
from bridge.tally.count import RoundTally
from bridge.tally.seating import SeatingPlan

ROOT = Path(__file__).resolve().parents[3]
TZ = ZoneInfo("Europe/Copenhagen")
DAY = dt.date(2025, 11, 20)
GENERATED = dt.datetime(2025, 11, 20, 19, 0, tzinfo=TZ)
HOSTILE = '<script>alert("x")</script> & <b>bold</b>'
RX = "rx1"
FULL_ONLY = {"counts", "percent", "summary", "segments", "tables"}
A4_CONTENT_MM = 210 - 2 * 13  # the page's width less the template's @page margins
BAR_COLOURS = {(0x2F, 0x6E, 0xA5), (0x12, 0x3F, 0x66)}  # --bar and --lead in the template


# Building the event's rounds.


@dataclass
class Built:
    """A round as the tally engine would report it, and the answers that went into it."""

    round: ReportRound
    answers: dict[str, str]  # participant ID -> the answer that counts under the policy
    heard: int = 0  # handsets pressed in the round, counted or not


def _roster() -> Roster:
    roster = load_roster(ROOT / "config" / "rosters" / "vestegn-summit.csv")
    for i, p in enumerate(roster.participants()):
        roster.pair(p.id, f"{0xA00000 + i:06X}")  # TurningPoint-form IDs, one per delegate
    return roster


def _answer(question: Question, rng: random.Random) -> str:
    keys = list(question.keys)
    if question.kind is Kind.MULTI:
        return "".join(sorted(rng.sample(keys, question.max_choices)))
    if question.kind is Kind.RANKING:
        return "".join(rng.sample(keys, len(question.weights)))
    return rng.choice(keys)


def build_round(
    theme: Theme,
    roster: Roster,
    *,
    attempt: int = 1,
    seed: int = 1,
    turnout: float = 0.92,
    voters_in: dict[str, int] | None = None,  # segment -> at most this many voters
    **state_fields: Any,
) -> Built:
    """A closed round of ``theme``: delegates vote at random, some do not vote at all."""
    rng = random.Random(seed)
    starts = dt.datetime.combine(DAY, theme.starts or dt.time(9), TZ)
    opened = starts.timestamp() + 20 * 60 + 17 * attempt  # after presentation and discussion
    closed = opened + 180
    round_id = theme.id if attempt == 1 else f"{theme.id}-{attempt}"
    state = RoundState(
        round=round_id,
        **{**theme.round_fields(), **state_fields},
        attempt=attempt,
        status=RoundStatus.CLOSED,
        windows=[Window(start=opened, end=closed)],
        closed_at=closed,
    )
    tally = RoundTally(state, seating=SeatingPlan(seating_document(roster)), min_segment=5)
    answers: dict[str, str] = {}
    per_segment: Counter[str] = Counter()
    heard = 0
    ids = itertools.count(1)  # journal record IDs grow per bridge; the tally drops repeats
    for n, p in enumerate(roster.participants(), start=1):
        assert p.handset is not None
        votes = rng.random() < turnout
        if voters_in is not None and p.segment in voters_in:
            votes = votes and per_segment[p.segment] < voters_in[p.segment]
        t = opened + 1 + n * 0.5
        if not votes:
            if rng.random() < 0.3:  # heard only after the close: late, not counted
                heard += 1
                tally.apply(Record(next(ids), closed + 10, RX, p.handset, "A", Decision.LATE))
            continue
        heard += 1
        per_segment[p.segment] += 1
        first = answers[p.id] = _answer(state.question, rng)
        tally.apply(Record(next(ids), t, RX, p.handset, first, Decision.COUNTED, round_id, first))
        if rng.random() < 0.2:  # a change of mind: counts only where the last answer does
            last = _answer(state.question, rng)
            tally.apply(
                Record(next(ids), t + 60, RX, p.handset, last, Decision.CHANGED, round_id, last)
            )
            answers[p.id] = first if state.policy is Policy.FIRST else last
    tally.final = True
    return Built(ReportRound(state, tally.snapshot(heard=heard, now=closed + 5)), answers, heard)


@dataclass
class Event:
    agenda: Agenda
    roster: Roster
    rounds: dict[str, Built]  # by round ID

    @property
    def report_rounds(self) -> list[ReportRound]:
        return [b.round for b in self.rounds.values()]

    def participant(self, pid: str) -> Participant:
        return self.roster.get(pid)


def build_event(agenda: Agenda | None = None) -> Event:
    """The example summit: every question kind, a re-vote, a suppressed group, a hidden
    round, a round left ready (never voted) and a theme with no round at all."""
    agenda = agenda or load_agenda(ROOT / "config" / "agendas" / "vestegn-summit.toml")
    roster = _roster()
    theme = {t.id: t for t in agenda.themes}
    rounds = {
        "infrastructure": build_round(theme["infrastructure"], roster, seed=1, turnout=0.6),
        "infrastructure-2": build_round(theme["infrastructure"], roster, attempt=2, seed=2),
        "business-development": build_round(theme["business-development"], roster, seed=3),
        "skills": build_round(theme["skills"], roster, seed=4),
        "labour-market": build_round(
            theme["labour-market"],
            roster,
            seed=5,
            voters_in={"politicians": 4},
            visibility=Visibility.HIDDEN,
        ),
        "energy-climate": build_round(theme["energy-climate"], roster, seed=6, policy=Policy.FIRST),
        "priorities": build_round(theme["priorities"], roster, seed=7),
        # The longest page: a ranking of five options, voted twice.
        "priorities-2": build_round(theme["priorities"], roster, attempt=2, seed=8),
    }
    # Created, never opened: the theme was skipped on the day.
    ready = RoundState(round="business-areas", **theme["business-areas"].round_fields())
    seating = SeatingPlan(seating_document(roster))
    never = RoundTally(ready, seating=seating).snapshot(now=0.0)
    rounds["business-areas"] = Built(ReportRound(ready, never), answers={})
    return Event(agenda, roster, rounds)


@pytest.fixture(scope="module")
def event() -> Event:
    return build_event()


@pytest.fixture(scope="module")
def html(event: Event) -> str:
    return render_report(agenda=event.agenda, rounds=event.report_rounds, generated_at=GENERATED)


@pytest.fixture(scope="module")
def doc(html: str) -> Node:
    return parse(html)


# A small DOM from the standard library's parser, enough to read figures back.


VOID = {"meta", "link", "br", "hr", "img", "input"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    @property
    def words(self) -> str:
        return " ".join(self.text.split())

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def walk(self) -> Iterator[Node]:
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.walk()

    def all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.walk()
            if (tag is None or n.tag == tag)
            and (cls is None or cls in n.classes())
            and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def one(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, cls, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} class={cls} {attrs}> found"
        return found[0]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def num(text: str) -> float:
    """The number in a cell such as "57", "28.1%" or "—" (NaN)."""
    match = re.search(r"-?\d+(?:\.\d+)?", text)
    return float(match.group()) if match else float("nan")


def pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


# Expected figures, counted from the answers.


def expected_counts(question: Question, answers: dict[str, str]) -> dict[str, float]:
    counts = dict.fromkeys(question.keys, 0.0)
    for answer in answers.values():
        for place, key in enumerate(answer):
            counts[key] += question.weights[place] if question.kind is Kind.RANKING else 1
    return counts


def chart(doc: Node, round_id: str) -> dict[str, Node]:
    rows = doc.one("article", id=f"round-{round_id}").one("table", cls="chart").all("tr")
    return {r.attrs["data-key"]: r for r in rows if "data-key" in r.attrs}


def bar_width(row: Node) -> float:
    return float(row.one("rect", cls="fill").attrs["width"])


# The cover and the pages.


def test_cover_names_the_event_marks_the_example_and_lists_the_programme(doc: Node) -> None:
    cover = doc.one("section", id="cover")
    assert cover.one("h1").words == "Vestegn Business Summit (example)"
    assert "Example" in cover.one(id="example-marking").words
    assert cover.one("dd", cls="venue").words == "Example conference centre, Vestegnen"
    assert cover.one("dd", cls="date").words == "20 November 2025"  # from the first round
    rows = cover.one("table", cls="programme").one("tbody").all("tr")
    cells = [[c.words for c in r.all("td")] for r in rows]
    assert cells[0] == [
        "14:00–14:25",
        "Infrastructure and mobility",
        "Regional transport planner",
        "re-voted",
    ]
    assert cells[3] == ["15:15–15:40", "Coffee", "", ""]
    status = {r.attrs["data-theme"]: r.all("td")[3].words for r in rows if "data-theme" in r.attrs}
    assert status == {
        "infrastructure": "re-voted",
        "business-development": "voted",
        "business-areas": "not voted",
        "skills": "voted",
        "labour-market": "voted",
        "energy-climate": "voted",
        "profile": "not voted",
        "priorities": "re-voted",
    }
    assert [c[1] for c in cells][-2:] == ["Summing up by the chair", "Dinner and networking"]


def test_one_section_per_theme_in_agenda_order_each_marked_as_example(
    doc: Node, event: Event
) -> None:
    sections = doc.all("section", cls="theme")
    assert [s.attrs["data-theme"] for s in sections] == [t.id for t in event.agenda.themes]
    for s in [doc.one("section", id="cover"), *sections]:
        assert "Example – not a real event" in s.one("footer").words
        assert "Generated 2025-11-20 19:00 CET" in s.one("footer").words


def test_single_choice_shows_votes_percent_of_votes_cast_and_bars(doc: Node, event: Event) -> None:
    built = event.rounds["business-development"]
    question = built.round.state.question
    counts = expected_counts(question, built.answers)
    voters = len(built.answers)
    rows = chart(doc, "business-development")
    assert list(rows) == list(question.keys)
    for key, row in rows.items():
        assert num(row.one("td", cls="value").text) == counts[key]
        assert num(row.one("td", cls="percent").text) == pct(counts[key], voters)
        assert bar_width(row) == pytest.approx(TRACK_PX * pct(counts[key], voters) / 100, abs=0.1)
        label = next(o.label for o in question.options if o.key == key)
        assert row.one("td", cls="label").words == label
    top = max(counts.values())
    assert {k for k, r in rows.items() if "leading" in r.classes()} == {
        k for k, c in counts.items() if c == top
    }
    section = doc.one("section", id="theme-business-development")
    assert section.one("p", cls="question").words == question.text
    assert section.one("dd", cls="policy").words == "last answer counts"


def test_multi_select_shows_share_of_voters_and_says_shares_exceed_100(
    doc: Node, event: Event
) -> None:
    built = event.rounds["skills"]
    counts = expected_counts(built.round.state.question, built.answers)
    voters = len(built.answers)
    rows = chart(doc, "skills")
    shares = {k: num(r.one("td", cls="percent").text) for k, r in rows.items()}
    assert shares == {k: pct(c, voters) for k, c in counts.items()}
    assert sum(counts.values()) == 2 * voters  # everyone picked two
    article = doc.one("article", id="round-skills")
    assert "add up to more than 100%" in article.one("span", cls="multi-note").words
    assert num(article.one("b", cls="shares-total").text) == pytest.approx(sum(shares.values()))
    assert sum(shares.values()) > 190
    header = [th.words for th in article.one("table", cls="chart").one("thead").all("th")]
    assert header[-2:] == ["Voters choosing", "% of voters"]


def test_yes_no_shows_yes_of_decided_and_hides_a_small_group(doc: Node, event: Event) -> None:
    built = event.rounds["labour-market"]
    counts = expected_counts(built.round.state.question, built.answers)
    yes, no, abstain = counts["A"], counts["B"], counts["C"]
    article = doc.one("article", id="round-labour-market")
    assert num(article.one("b", cls="yes-of-decided").text) == pct(yes, yes + no)
    assert num(article.one("span", cls="yes").text) == yes
    assert num(article.one("span", cls="no").text) == no
    assert num(article.one("span", cls="abstained").text) == abstain
    # The results were hidden during the event; the handout shows them, and says so.
    assert "hidden from the displays" in article.words
    segments = article.one("table", cls="segments")
    small = segments.one("tr", data_segment="politicians")
    assert "suppressed" in small.classes()
    assert small.all("td") == [small.one("td", cls="suppressed")]
    assert small.one("td", cls="suppressed").words == (
        "Too few voters in this group to show its results."
    )
    assert not re.search(r"\d", small.words), "a suppressed group shows no number at all"
    business = segments.one("tr", data_segment="business")
    group = {
        pid: a for pid, a in built.answers.items() if event.participant(pid).segment == "business"
    }
    g = expected_counts(built.round.state.question, group)
    assert num(business.one("td", cls="voters").text) == len(group)
    assert [num(c.text) for c in business.all("td", cls="percent")] == [
        pct(g[k], len(group)) for k in "ABC"
    ]
    assert num(business.one("td", cls="measure").text) == pct(g["A"], g["A"] + g["B"])


def test_rating_shows_mean_distribution_and_first_answer_policy(doc: Node, event: Event) -> None:
    built = event.rounds["energy-climate"]
    question = built.round.state.question
    counts = expected_counts(question, built.answers)
    voters = len(built.answers)
    article = doc.one("article", id="round-energy-climate")
    mean = sum(int(k) * c for k, c in counts.items()) / voters
    assert num(article.one("b", cls="mean").text) == round(mean, 2)
    rows = chart(doc, "energy-climate")
    assert list(rows) == ["1", "2", "3", "4", "5"]
    assert {k: num(r.one("td", cls="value").text) for k, r in rows.items()} == counts
    assert {k: num(r.one("td", cls="percent").text) for k, r in rows.items()} == {
        k: pct(c, voters) for k, c in counts.items()
    }
    assert "1 (Not at all) to 5 (Decisively)" in article.one("p", cls="headline").words
    assert article.one("dd", cls="policy").words == "first answer counts"


def test_ranking_shows_points_weighting_and_resulting_order(doc: Node, event: Event) -> None:
    built = event.rounds["priorities"]
    question = built.round.state.question
    points = expected_counts(question, built.answers)
    total = sum(points.values())
    assert total == len(built.answers) * (10 + 9 + 8)
    article = doc.one("article", id="round-priorities")
    assert article.one("span", cls="weighting").words == "1st choice 10 points, 2nd 9, 3rd 8"
    order = sorted(question.keys, key=lambda k: (-points[k], question.keys.index(k)))
    assert article.one("span", cls="order").words == " › ".join(order)
    rows = chart(doc, "priorities")
    assert list(rows) == order  # the chart reads top-down in the resulting order
    top = max(points.values())
    for key, row in rows.items():
        assert num(row.one("td", cls="value").text) == points[key]
        assert num(row.one("td", cls="percent").text) == pct(points[key], total)
        assert num(row.one("td", cls="place").text) == 1 + sum(
            p > points[key] for p in points.values()
        )
        assert bar_width(row) == pytest.approx(TRACK_PX * points[key] / top, abs=0.1)
    assert bar_width(rows[order[0]]) == TRACK_PX


def test_turnout_against_paired_and_heard_handsets(doc: Node, event: Event) -> None:
    built = event.rounds["skills"]
    voters = len(built.answers)
    turnout = doc.one("article", id="round-skills").one("p", cls="turnout")
    assert num(turnout.one("b", cls="voters").text) == voters
    assert num(turnout.one("span", cls="paired").text) == 220
    assert num(turnout.one("b", cls="of-paired").text) == pct(voters, 220)
    assert num(turnout.one("span", cls="heard").text) == built.heard
    assert num(turnout.one("b", cls="of-heard").text) == pct(voters, built.heard)
    assert built.heard > voters  # some handsets were heard only after the close


def test_tables_complete_and_incomplete(doc: Node, event: Event) -> None:
    built = event.rounds["infrastructure"]
    voted = Counter(event.participant(pid).table for pid in built.answers)
    seated = event.roster.seated()
    tables = doc.one("article", id="round-infrastructure").one("div", cls="tables")
    grid = {li.attrs["data-table"]: li for li in tables.all("li")}
    assert list(grid) == sorted(seated, key=int)
    complete = {t for t, n in seated.items() if voted[t] >= n}
    assert {t for t, li in grid.items() if "complete" in li.classes()} == complete
    assert len(complete) < len(seated), "the test needs an incomplete table"
    for table, li in grid.items():
        assert int(li.attrs["data-voted"]) == voted[table]
        assert li.words == (
            f"{table} ✓" if table in complete else f"{table} {voted[table]}/{seated[table]}"
        )
    assert num(tables.one("span", cls="tables-complete").text) == len(complete)
    assert num(tables.one("span", cls="tables-total").text) == len(seated)


def test_revote_appears_with_the_first_attempt_marked_as_such(doc: Node, event: Event) -> None:
    section = doc.one("section", id="theme-infrastructure")
    first, second = section.all("article", cls="round")
    assert (first.attrs["data-round"], second.attrs["data-round"]) == (
        "infrastructure",
        "infrastructure-2",
    )
    assert not first.all(data_revote="true")
    assert "a re-vote followed" in first.one("h3").words
    assert second.one("span", data_revote="true").words == "Re-vote"
    assert second.one("h3").words == "Re-vote Attempt 2"
    # 14:00 start, 20 minutes of presentation and discussion, 17 s per attempt; Copenhagen time
    assert (first.one("dd", cls="opened").words, first.one("dd", cls="closed").words) == (
        "14:20:17",
        "14:23:17",
    )
    assert second.one("dd", cls="opened").words == "14:20:34"
    for article, built in (
        (first, event.rounds["infrastructure"]),
        (second, event.rounds["infrastructure-2"]),
    ):
        assert num(article.one("b", cls="voters").text) == len(built.answers)


def test_unvoted_themes_say_so_and_show_their_options_without_figures(doc: Node) -> None:
    for theme_id in ("profile", "business-areas"):
        section = doc.one("section", id=f"theme-{theme_id}")
        assert section.one("p", cls="not-voted").words == "Not voted"
        assert not section.all("table", cls="chart")
        assert not section.all("rect")
    options = doc.one("section", id="theme-profile").one("table", cls="options").all("tr")
    assert [c.words for c in options[0].all("td")] == ["A", "As one metropolitan business region"]


def test_hostile_text_stays_text(event: Event) -> None:
    agenda = event.agenda.model_copy(update={"venue": HOSTILE})
    theme = agenda.themes[0]
    question = Question.single("AB", [HOSTILE, "plain"], text=HOSTILE)
    theme = theme.model_copy(update={"title": HOSTILE, "question": question})
    agenda = agenda.model_copy(update={"themes": [theme]})
    built = build_round(theme, event.roster, seed=9)
    html = render_report(agenda=agenda, rounds=[built.round], title=HOSTILE, generated_at=GENERATED)
    doc = parse(html)
    assert not doc.all("script")
    assert not [b for b in doc.all("b") if b.words == "bold"]
    assert html.count("<script") == 0
    assert doc.one("h1").text == HOSTILE
    assert doc.one("dd", cls="venue").text == HOSTILE
    assert chart(doc, theme.id)["A"].one("td", cls="label").text == HOSTILE
    assert doc.one("title").text == f"{HOSTILE} – results"


def test_a_single_round_document_has_the_cover_and_one_page(event: Event) -> None:
    doc = parse(
        render_report(
            agenda=event.agenda,
            rounds=[event.rounds["skills"].round],
            generated_at=GENERATED,
            whole_event=False,
        )
    )
    assert [s.attrs["id"] for s in doc.all("section")] == ["cover", "theme-skills"]
    assert doc.one(id="example-marking")
    status = [r.all("td")[3].words for r in doc.one("table", cls="programme").all("tr")[1:]]
    assert "voted" in status
    assert "not voted" not in status


def test_without_an_agenda_rounds_are_grouped_by_theme(event: Event) -> None:
    rounds = [event.rounds[r].round for r in ("infrastructure-2", "infrastructure", "skills")]
    doc = parse(render_report(agenda=None, rounds=rounds, generated_at=GENERATED))
    assert doc.one("h1").words == "Results"
    assert not doc.all(id="example-marking")
    sections = doc.all("section", cls="theme")
    assert [s.attrs["data-theme"] for s in sections] == ["infrastructure", "skills"]
    assert [a.attrs["data-attempt"] for a in sections[0].all("article")] == ["1", "2"]


def test_results_not_final_or_without_counts_say_so(event: Event) -> None:
    built = event.rounds["skills"]
    results = built.round.results
    provisional = {**results, "final": False}
    # What snapshot(full=False) leaves: no counts, percentages, groups or tables.
    bare = {k: v for k, v in results.items() if k not in FULL_ONLY} | {"hidden": True}
    for doc_results, words in ((provisional, "Provisional"), (bare, "carries no counts")):
        report_round = ReportRound(built.round.state, doc_results)
        doc = parse(render_report(agenda=None, rounds=[report_round], generated_at=GENERATED))
        assert words in doc.one("article").words
    assert not doc.all("table", cls="chart")
    assert num(doc.one("b", cls="voters").text) == len(built.answers)


# The derived figures on their own.


def test_bar_length_is_proportional_and_clamped() -> None:
    assert bar_length(25.0, 100.0) == TRACK_PX / 4
    assert bar_length(150.0, 100.0) == TRACK_PX
    assert bar_length(-1.0, 100.0) == 0.0
    assert bar_length(5.0, 0.0) == 0.0


def test_kind_measures_without_votes() -> None:
    assert yes_no(Question.yesno(), {"A": 0, "B": 0, "C": 4}).yes_of_decided is None
    assert rating_mean(Question.rating(5), {}) is None
    assert rating_mean(Question.rating(5), {"1": 1, "5": 1}) == 3.0
    assert weighting((3.0, 1.5)) == "1st choice 3 points, 2nd 1.5"


def test_programme_places_breaks_between_themes(event: Event) -> None:
    titles = [i.title for i in programme(event.agenda, {})]
    assert titles.index("Coffee") == titles.index("Business areas and clusters") + 1
    assert titles.index("Break") == titles.index("Energy and climate") + 1


# In the browser: printed pages and drawn bars.


def pdf_pages(pdf: bytes) -> int:
    """Page objects in a PDF (``/Type /Page``, not ``/Pages``)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def png_pixels(png: bytes) -> list[list[tuple[int, int, int]]]:
    """Rows of RGB pixels of an 8-bit RGB or RGBA PNG (what Chromium's screenshots are)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data, width, height, bpp = 8, b"", 0, 0, 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8, f"PNG depth {depth}"
            assert colour in (2, 6), f"PNG colour type {colour}: not RGB or RGBA"
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            data += body
        pos += 12 + length
    raw, stride = zlib.decompress(data), width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        method, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):  # undo the PNG filter of this scanline
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            p = a + b - c
            paeth = min((abs(p - a), 0, a), (abs(p - b), 1, b), (abs(p - c), 2, c))[2]
            line[x] = (line[x] + (0, a, b, (a + b) // 2, paeth)[method]) & 0xFF
        rows.append([(line[x], line[x + 1], line[x + 2]) for x in range(0, stride, bpp)])
        prev = line
    return rows


@pytest.mark.browser
async def test_prints_a_page_per_theme_and_draws_bars_to_scale(
    html: str, event: Event, browser: Browser, tmp_path: Path
) -> None:
    page = await browser.new_page(viewport={"width": 1000, "height": 1400})
    await page.set_content(html, wait_until="load")
    pdf = await page.pdf(prefer_css_page_size=True, print_background=True)
    (tmp_path / "report.pdf").write_bytes(pdf)
    assert pdf_pages(pdf) == 1 + len(event.agenda.themes)

    built = event.rounds["business-development"]
    counts = expected_counts(built.round.state.question, built.answers)
    voters = len(built.answers)
    bars = page.locator("#round-business-development svg.bar")
    assert await bars.count() == len(counts)
    for i, key in enumerate(built.round.state.question.keys):
        rect = bars.nth(i).locator("rect.fill")
        want = TRACK_PX * pct(counts[key], voters) / 100
        assert float(await rect.get_attribute("width") or "nan") == pytest.approx(want, abs=0.1)
        box = await rect.bounding_box()
        assert box is not None
        assert box["width"] == pytest.approx(want, abs=0.5)
        # The drawn bar: columns of the fill colour along the bar's middle line.
        shot = await bars.nth(i).screenshot(path=tmp_path / f"bar-{key}.png")
        pixels = png_pixels(shot)
        middle = pixels[len(pixels) // 2]
        filled = sum(1 for px in middle if px in BAR_COLOURS)
        assert filled == pytest.approx(want, abs=1.5)
    await page.screenshot(path=tmp_path / "report.png", full_page=True)

    # Laid out as printed (A4 less the margins), no theme's block runs past its page.
    await page.emulate_media(media="print")
    await page.set_viewport_size({"width": round(A4_CONTENT_MM * 96 / 25.4), "height": 1200})
    heights = await page.evaluate(
        "() => [...document.querySelectorAll('section.page')]"
        ".map(s => [s.id, s.scrollHeight, s.clientHeight])"
    )
    assert len(heights) == 1 + len(event.agenda.themes)
    assert [h for h in heights if h[1] > h[2]] == []
