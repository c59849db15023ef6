"""Rounds: the host opens and closes voting; displays read the tally."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ControllerDep, RoundId, ServiceDep
from bridge.questions import Question
from bridge.rounds import RoundState, Visibility
from bridge.votes import Policy

router = APIRouter(prefix="/rounds", tags=["rounds"])


class OpenRound(BaseModel):
    """How to open a round; everything is optional (single choice A-E, no timer)."""

    model_config = ConfigDict(extra="forbid")

    duration_s: float | None = Field(None, gt=0, le=86400, description="close after this long")
    title: str | None = Field(None, max_length=200)
    question: Question | None = None
    policy: Policy | None = None
    visibility: Visibility | None = None
    grace_s: float | None = Field(None, ge=0, le=60)

    def fields(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude={"duration_s"})


@router.get("")
async def list_rounds(controller: ControllerDep) -> list[RoundState]:
    """Every round this process knows, in the order they were created."""
    return controller.all()


@router.get("/{round_id}")
async def get_round(round_id: RoundId, controller: ControllerDep) -> RoundState:
    return controller.get(round_id)


@router.post("/{round_id}/open")
async def open_round(
    round_id: RoundId, controller: ControllerDep, body: OpenRound | None = None
) -> RoundState:
    """Open voting now (creating the round if needed); with ``duration_s`` a timer closes it."""
    body = body or OpenRound()
    return controller.open(round_id, duration_s=body.duration_s, **body.fields())


@router.post("/{round_id}/close")
async def close_round(round_id: RoundId, controller: ControllerDep) -> RoundState:
    """Close voting now; presses in flight still count for the round's grace period."""
    return controller.close(round_id)


@router.get("/{round_id}/tally")
async def get_tally(round_id: RoundId, service: ServiceDep) -> dict[str, Any]:
    """The live tally (counts hidden while the round's visibility says so)."""
    snapshot = service.tally_snapshot(round_id)
    if snapshot is None:
        raise HTTPException(404, f"no tally for round {round_id!r}: it was never opened")
    return snapshot
