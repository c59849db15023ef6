"""Participants, their handsets, and pairing: the technician's side of the roster."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import DeskDep, ServiceDep
from bridge.event.roster import Participant, roster_from_csv

router = APIRouter(tags=["participants"])


class Pairing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    participant: str
    handset: str


class NextHandset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    participant: str
    timeout_s: float = Field(30.0, gt=0, le=300)


@router.get("/participants")
async def list_participants(desk: DeskDep) -> list[Participant]:
    return desk.roster.participants()


@router.get("/participants.csv")
async def participants_csv(desk: DeskDep) -> Response:
    return Response(desk.roster.to_csv(), media_type="text/csv; charset=utf-8")


@router.put(
    "/participants",
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def put_participants(request: Request, desk: DeskDep) -> list[Participant]:
    """Replace the roster with a CSV (``id,name,segment,table,seat,organisation,handset``)."""
    if not request.headers.get("content-type", "").startswith("text/csv"):
        raise HTTPException(415, "send the roster as text/csv")
    text = (await request.body()).decode("utf-8-sig", errors="replace")
    await desk.set_roster(roster_from_csv(text, "uploaded roster"))
    return desk.roster.participants()


@router.get("/participants/{participant_id}")
async def get_participant(participant_id: str, desk: DeskDep) -> Participant:
    return desk.roster.get(participant_id)


@router.put("/participants/{participant_id}")
async def put_participant(
    participant_id: str, participant: Participant, desk: DeskDep
) -> Participant:
    if participant.id != participant_id:
        raise HTTPException(
            422, f"the body's id {participant.id!r} differs from the path's {participant_id!r}"
        )
    return await desk.put_participant(participant)


@router.delete("/participants/{participant_id}", status_code=204)
async def delete_participant(participant_id: str, desk: DeskDep) -> None:
    await desk.remove_participant(participant_id)


@router.post("/pairing")
async def pair(body: Pairing, desk: DeskDep) -> Participant:
    """Give a participant a handset by its printed ID."""
    return await desk.pair(body.participant, body.handset)


@router.post("/pairing/next")
async def pair_next(body: NextHandset, desk: DeskDep) -> Participant:
    """Pair the participant with the next unpaired handset whose key is pressed."""
    return await desk.pair_next(body.participant, body.timeout_s)


@router.delete("/pairing/{participant_id}")
async def unpair(participant_id: str, desk: DeskDep) -> Participant:
    return await desk.pair(participant_id, None)


@router.get("/handsets", response_model=list[dict[str, Any]])
async def handsets(service: ServiceDep) -> Response:
    """Every handset heard this session: where and when, signal, battery, who holds it."""
    roster = service.desk.roster if service.desk is not None else None
    out = []
    for handset, seen in sorted(service.handsets().items()):
        holder = roster.holder(handset) if roster is not None else None
        out.append(
            {
                "handset": handset,
                **seen,
                "participant": holder.id if holder is not None else None,
                "name": holder.name if holder is not None else None,
            }
        )
    # Encoded at once: FastAPI's generic encoder takes seconds over 50,000 handsets, and the
    # technician's board asks every 2 s.
    return Response(_encoder.encode(out), media_type="application/json")


_encoder = msgspec.json.Encoder()
