"""Participants, their handsets, and pairing: the technician's side of the roster."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import DeskDep, Refusal, ServiceDep
from api.routers.results import CsvResponse
from bridge.event.roster import CSV_COLUMNS, Participant
from bridge.event.roster_files import read_roster
from bridge.reports.tables import pairings_csv, spreadsheet_safe

router = APIRouter(tags=["participants"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROSTER_TYPES = ("text/csv", XLSX)


class Pairing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    participant: str
    handset: str
    loaner: bool = False  # a spare handed out for a while; ended by pairing another or none


class NextHandset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    participant: str
    timeout_s: float = Field(30.0, gt=0, le=300)


@router.get("/participants")
async def list_participants(desk: DeskDep) -> list[Participant]:
    return desk.roster.participants()


@router.get("/participants.csv", response_class=CsvResponse)
async def participants_csv(desk: DeskDep) -> Response:
    """The roster as CSV (the organiser's own columns after arsbridge's), with cells a
    spreadsheet would run as formulas quoted."""
    rows = csv.DictReader(io.StringIO(desk.roster.to_csv()))
    out = io.StringIO()
    writer = csv.DictWriter(out, rows.fieldnames or CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(spreadsheet_safe(row))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


@router.put(
    "/participants",
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
async def put_participants(
    request: Request, desk: DeskDep, service: ServiceDep
) -> list[Participant]:
    """Replace the roster, all or nothing, with a CSV (comma or semicolon) or an .xlsx file."""
    if not request.headers.get("content-type", "").startswith(ROSTER_TYPES):
        raise HTTPException(415, f"send the roster as text/csv or {XLSX}")
    limit = service.settings.event.roster_max_bytes
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(
                413, f"the roster is larger than {limit} bytes ([event] roster_max_bytes)"
            )
    roster = read_roster(
        bytes(body), "uploaded roster", max_rows=service.settings.event.roster_max_rows
    )
    await desk.set_roster(roster)
    return desk.roster.participants()


@router.get("/participants/{participant_id}")
async def get_participant(participant_id: str, desk: DeskDep) -> Participant:
    return desk.roster.get(participant_id)


@router.put("/participants/{participant_id}")
async def put_participant(
    participant_id: str, participant: Participant, desk: DeskDep
) -> Participant:
    if participant.id != participant_id:
        raise Refusal(422, "id_differs", body=participant.id, path=participant_id)
    return await desk.put_participant(participant)


@router.delete("/participants/{participant_id}", status_code=204)
async def delete_participant(participant_id: str, desk: DeskDep) -> None:
    await desk.remove_participant(participant_id)


@router.post("/pairing")
async def pair(body: Pairing, desk: DeskDep) -> Participant:
    """Give a participant a handset by its printed ID; the pairing it replaces ends now."""
    return await desk.pair(body.participant, body.handset, loaner=body.loaner)


@router.get("/pairings")
async def pairing_history(desk: DeskDep) -> dict[str, Any]:
    """Every pairing there has been: handset, participant, start, end, loaner."""
    return desk.pairings.to_doc()


@router.get("/pairings.csv", response_class=CsvResponse)
async def pairing_history_csv(desk: DeskDep) -> Response:
    """The pairing history as CSV, one row per pairing."""
    return Response(pairings_csv(desk.pairings), media_type="text/csv; charset=utf-8")


@router.post("/pairing/next")
async def pair_next(body: NextHandset, desk: DeskDep) -> Participant:
    """Pair the participant with the next unpaired handset whose key is pressed."""
    return await desk.pair_next(body.participant, body.timeout_s)


@router.delete("/pairing/{participant_id}")
async def unpair(participant_id: str, desk: DeskDep) -> Participant:
    return await desk.pair(participant_id, None)
