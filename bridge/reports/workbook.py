"""The results as an Excel workbook: a summary sheet, then one sheet per round."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bridge.event.language import Locale, locale
from bridge.reports.tables import RESULTS_COLUMNS, cell, headers, results_rows

SHEET_NAME_MAX = 31  # Excel's limit
SUMMARY_COLUMNS = ("round", "title", "kind", "status", "voters", "leading")
BOLD = Font(bold=True)


def results_workbook(
    documents: Iterable[dict[str, Any]], title: str = "", lang: Locale | None = None
) -> bytes:
    """The ``.xlsx`` file: the summary of every round, then each round's rows per option."""
    lang = lang or locale()
    docs = list(documents)
    book = Workbook()
    summary = book.active
    assert summary is not None  # a new workbook has one sheet
    summary.title = _name(lang.t("sheet.summary"), set())
    if title:
        summary.append([lang.t("summary.event"), title])
        summary.append([])
    _header(
        summary, [lang.t(f"column.{c}") for c in SUMMARY_COLUMNS[:-1]] + [lang.t("summary.leading")]
    )
    taken = {summary.title}
    for doc in docs:
        labels = {o["key"]: o["label"] or o["key"] for o in doc["question"]["options"]}
        leading = ", ".join(labels.get(k, k) for k in doc.get("summary", {}).get("leading", []))
        summary.append(
            [
                doc["round"],
                doc.get("title", ""),
                cell("kind", doc["question"]["kind"], lang),
                cell("status", doc["status"], lang),
                doc["voters"],
                leading,
            ]
        )
        sheet = book.create_sheet(_name(doc["round"], taken))
        taken.add(sheet.title)
        _header(sheet, headers(RESULTS_COLUMNS, lang))
        for row in results_rows(doc):
            # Numbers stay numbers, so a spreadsheet can sum and chart them.
            sheet.append(
                [
                    row[c]
                    if c in ("count", "percent", "voters", "attempt")
                    else cell(c, row[c], lang)
                    for c in RESULTS_COLUMNS
                ]
            )
        percent = RESULTS_COLUMNS.index("percent") + 1
        for (value,) in sheet.iter_rows(min_row=2, min_col=percent, max_col=percent):
            value.number_format = "0.0"
        _widths(sheet)
    _widths(summary)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _header(sheet: Worksheet, names: list[str]) -> None:
    sheet.append(names)
    for c in sheet[sheet.max_row]:
        c.font = BOLD


def _name(wanted: str, taken: set[str]) -> str:
    """A sheet name Excel accepts (no ``[]:*?/\\``, 31 characters) that is not taken yet."""
    base = re.sub(r"[\[\]:*?/\\]", "-", wanted)[:SHEET_NAME_MAX] or "-"
    name, n = base, 2
    while name in taken:
        suffix = f" ({n})"
        name, n = base[: SHEET_NAME_MAX - len(suffix)] + suffix, n + 1
    return name


def _widths(sheet: Worksheet) -> None:
    for index, column in enumerate(sheet.columns, start=1):
        longest = max((len(str(c.value)) for c in column if c.value is not None), default=4)
        sheet.column_dimensions[get_column_letter(index)].width = min(60, max(8, longest + 2))
