"""The audit trail: every host, technician and organiser action, as JSON or CSV."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import DeskDep
from api.routers.results import CsvResponse
from bridge.reports.tables import audit_csv

router = APIRouter(tags=["audit"])


@router.get("/audit")
async def audit(desk: DeskDep, round: str | None = None) -> list[dict[str, Any]]:
    """Every action in the order it was made (``?round=`` for one round's)."""
    entries = await asyncio.to_thread(desk.audit.entries, round)
    return [asdict(e) for e in entries]


@router.get("/audit.csv", response_class=CsvResponse)
async def audit_table(desk: DeskDep) -> Response:
    """The audit trail as CSV: ``id, time, role, action, round, params``."""
    entries = await asyncio.to_thread(desk.audit.entries)
    return Response(
        audit_csv(entries),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
