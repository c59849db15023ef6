"""Every text of the pages, the report, the exports and the API in both languages: the
catalogues hold the same keys with the same placeholders, and every key the code uses is
in them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bridge.event.language import Language, catalogue
from bridge.event.questions import Kind
from bridge.event.rounds import PhaseName, RoundStatus, Visibility
from bridge.event.votes import Decision, Policy
from bridge.reports.report import COLUMNS
from bridge.reports.tables import RESULTS_COLUMNS, VOTES_COLUMNS
from bridge.reports.workbook import SUMMARY_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "api" / "static"
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def pages(language: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC / "i18n" / f"{language}.json").read_text("utf-8"))
    return data


CATALOGUES = {
    "service": {lang.value: catalogue(lang) for lang in Language},
    "pages": {lang.value: pages(lang.value) for lang in Language},
}


@pytest.mark.parametrize("name", CATALOGUES)
def test_both_languages_have_every_text_with_the_same_placeholders(name: str) -> None:
    english, danish = CATALOGUES[name]["en"], CATALOGUES[name]["da"]
    assert sorted(english) == sorted(danish)
    for key, text in english.items():
        assert text.strip(), f"{name}: {key} is empty in English"
        assert danish[key].strip(), f"{name}: {key} is empty in Danish"
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(danish[key])), key


def keys_in_pages() -> set[str]:
    used: set[str] = set()
    for path in [*STATIC.glob("*.js"), *STATIC.glob("*.html")]:
        text = path.read_text("utf-8")
        used |= set(re.findall(r"\bt\(\s*\"([a-z0-9_.]+)\"", text))
        for key in re.findall(r"\btn\(\s*\"([a-z0-9_.]+)\"", text):
            used |= {f"{key}.one", f"{key}.other"}
        used |= set(re.findall(r"data-i18n(?:-title|-placeholder)?=\"([a-z0-9_.]+)\"", text))
    # Keys the pages build from a round's state.
    used |= {f"phase.{p.value}" for p in PhaseName} | {f"status.phase.{p.value}" for p in PhaseName}
    used |= {f"kind.{k.value}" for k in Kind} | {f"policy.{p.value}" for p in Policy}
    used |= {f"visibility.{v.value}" for v in Visibility}
    return used


def keys_in_service() -> set[str]:
    used = {f"column.{c}" for c in (*RESULTS_COLUMNS, *VOTES_COLUMNS, *SUMMARY_COLUMNS[:-1])}
    for column, values in (
        ("kind", Kind),
        ("policy", Policy),
        ("status", RoundStatus),
        ("decision", Decision),
        ("phase", PhaseName),
    ):
        used |= {f"value.{column}.{v.value}" for v in values}
    template = (ROOT / "bridge" / "reports" / "templates" / "report.html.j2").read_text("utf-8")
    used |= {f"report.{text}" for text in re.findall(r'_\("([^"]+)"', template)}
    used |= {f"report.{text}" for pair in COLUMNS.values() for text in pair}
    used |= {f"report.{s}" for s in ("voted", "re-voted", "not voted", "Results")}
    for path in (ROOT / "bridge").rglob("*.py"):
        text = path.read_text("utf-8")
        used |= {f"round_error.{k}" for k in re.findall(r'RoundError\(\s*"(\w+)"', text)}
        used |= {m for m in re.findall(r'\.t\(\s*"([a-z_]+\.[a-z_.]+)"', text) if "{" not in m}
    for path in (ROOT / "api").rglob("*.py"):
        text = path.read_text("utf-8")
        used |= {f"api.{k}" for k in re.findall(r'Refusal\(\s*\d+,\s*"(\w+)"', text)}
    return used


@pytest.mark.parametrize(
    ("name", "used"), [("pages", keys_in_pages()), ("service", keys_in_service())]
)
def test_every_text_the_code_uses_is_in_the_catalogue(name: str, used: set[str]) -> None:
    known = set(CATALOGUES[name]["en"])
    assert sorted(used - known) == []
    assert len(used) > 50  # the scan found the code's texts
