"""Roster files as organisers keep them: CSV and .xlsx, read whole or not at all.

A CSV may be separated by commas or semicolons (Danish Excel saves ``;``), with or without a
UTF-8 byte-order mark; an ``.xlsx`` file is read from its first sheet. Headers are matched
without regard to case; the columns arsbridge knows (``id,name,segment,table,seat,
organisation,handset``) fill the participant, every other column is kept as an attribute.
Every problem is reported with its line and column letter, and a file with any problem
changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from pydantic import ValidationError

from bridge.event.roster import (
    COLUMN_NAME,
    CSV_COLUMNS,
    MAX_ATTRIBUTE_CHARS,
    MAX_ATTRIBUTES,
    Participant,
    Roster,
    RosterError,
)

XLSX_MAGIC = b"PK\x03\x04"  # an .xlsx file is a zip archive
DELIMITERS = (",", ";", "\t")
MAX_REPORTED = 20  # problems listed one by one; beyond that only their number
DEFAULT_MAX_ROWS = 5000  # see [event] roster_max_rows


def read_roster(data: bytes, source: str = "roster", *, max_rows: int = DEFAULT_MAX_ROWS) -> Roster:
    """A roster from a file's bytes (.xlsx or CSV, told apart by content); raises
    :class:`RosterError` (422) listing every row problem with its line and column."""
    if data.startswith(XLSX_MAGIC):
        return roster_from_rows(_xlsx_rows(data, source), source, max_rows=max_rows)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RosterError(
            f"{source} line {line}: not UTF-8 (byte 0x{data[exc.start]:02X}); "
            "save it as 'CSV UTF-8' or as .xlsx",
            422,
        ) from None
    return roster_from_csv(text, source, max_rows=max_rows)


def load_roster(path: Path, *, max_rows: int = DEFAULT_MAX_ROWS) -> Roster:
    """A roster from a CSV or .xlsx file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RosterError(f"roster {path}: {exc.strerror or exc}", 422) from None
    return read_roster(data, f"roster {path}", max_rows=max_rows)


def roster_from_csv(
    text: str, source: str = "roster", *, max_rows: int = DEFAULT_MAX_ROWS
) -> Roster:
    """A roster from CSV text; lines starting with ``#`` before the header are comments."""
    text = text.removeprefix("\ufeff")
    lines = text.splitlines(keepends=True)
    skipped = 0
    while skipped < len(lines) and lines[skipped].lstrip().startswith("#"):
        skipped += 1
    header = lines[skipped] if skipped < len(lines) else ""
    reader = csv.reader(io.StringIO("".join(lines[skipped:])), delimiter=_delimiter(header))
    try:
        rows = [(reader.line_num + skipped, row) for row in reader]
    except csv.Error as exc:
        raise RosterError(f"{source} line {reader.line_num + skipped}: {exc}", 422) from None
    return roster_from_rows(rows, source, max_rows=max_rows)


def _delimiter(header: str) -> str:
    """The separator of a header line: the one that splits it into the most columns."""
    counts = {d: len(next(csv.reader([header], delimiter=d), [])) for d in DELIMITERS}
    return max(DELIMITERS, key=lambda d: counts[d])  # ties go to the comma, listed first


def _xlsx_rows(data: bytes, source: str) -> Iterator[tuple[int, list[str]]]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise RosterError(f"{source}: not a readable .xlsx file ({exc})", 422) from None
    try:
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_cell_text(v) for v in values]
    finally:
        book.close()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a table number typed as 12 is stored as 12.0
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def roster_from_rows(
    rows: Iterable[tuple[int, list[str]]], source: str, *, max_rows: int = DEFAULT_MAX_ROWS
) -> Roster:
    """A roster from numbered rows of cells, the first non-empty one being the header."""
    problems: list[str] = []
    columns: list[str] | None = None
    roster = Roster()
    seen: set[str] = set()
    count = 0
    for line, cells in rows:
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if columns is None:
            columns = _header(cells, line, source)
            continue
        count += 1
        if count > max_rows:
            raise RosterError(
                f"{source} line {line}: more than {max_rows} participants "
                "(the limit is [event] roster_max_rows)",
                413,
            )
        problems += _row(roster, columns, cells, line, seen)
    if columns is None:
        raise RosterError(f"{source}: the file is empty; it needs a header with an 'id'", 422)
    if problems:
        shown = [f"{source} {p}" for p in problems[:MAX_REPORTED]]
        more = len(problems) - len(shown)
        message = "; ".join(shown) + (f"; and {more} more" if more else "")
        raise RosterError(message, 422, tuple(f"{source} {p}" for p in problems))
    return roster


def _header(cells: list[str], line: int, source: str) -> list[str]:
    columns = [c.casefold() for c in cells]
    while columns and not columns[-1]:
        columns.pop()  # spreadsheets often save empty columns after the last one
    if "id" not in columns:
        found = ", ".join(repr(c) for c in columns[:8])
        raise RosterError(
            f"{source} line {line}: the header needs an 'id' column "
            f"(found {found}; separate columns with commas or semicolons)",
            422,
        )
    for i, name in enumerate(columns):
        where = f"line {line}, column {get_column_letter(i + 1)}"
        if not name:
            raise RosterError(f"{source} {where}: a column without a name", 422)
        if columns.index(name) != i:
            raise RosterError(f"{source} {where}: a second column named {name!r}", 422)
        if name not in CSV_COLUMNS and not re.match(COLUMN_NAME, name):
            raise RosterError(f"{source} {where}: {name!r} cannot name a column", 422)
    if len(set(columns) - set(CSV_COLUMNS)) > MAX_ATTRIBUTES:
        raise RosterError(
            f"{source} line {line}: more than {MAX_ATTRIBUTES} columns of our own", 422
        )
    return columns


def _row(
    roster: Roster, columns: list[str], cells: list[str], line: int, seen: set[str]
) -> list[str]:
    """Add one row to ``roster``; the problems it has, each naming its line and column."""
    extra = [i for i in range(len(columns), len(cells)) if cells[i]]
    if extra:
        return [f"line {line}, column {get_column_letter(extra[0] + 1)}: beyond the header"]
    values = dict(zip(columns, cells, strict=False))
    fields: dict[str, Any] = {k: v for k, v in values.items() if k in CSV_COLUMNS}
    fields["attributes"] = {k: v for k, v in values.items() if k not in CSV_COLUMNS and v}

    def where(column: str) -> str:
        name = column if column in columns else "id"
        return f"line {line}, column {get_column_letter(columns.index(name) + 1)} ({name})"

    long = [k for k, v in fields["attributes"].items() if len(v) > MAX_ATTRIBUTE_CHARS]
    if long:
        return [f"{where(k)}: at most {MAX_ATTRIBUTE_CHARS} characters" for k in long]

    try:
        participant = Participant.model_validate(fields)
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            column = loc[1] if loc[0] == "attributes" and len(loc) > 1 else loc[0]
            out.append(f"{where(column)}: {err['msg']}")
        return out
    if participant.id in seen:
        return [f"{where('id')}: {participant.id!r} is on an earlier line too"]
    seen.add(participant.id)
    try:
        roster.put(participant)
    except RosterError as exc:
        return [f"{where('handset')}: {exc}"]
    return []
