"""Rounds: the host runs each theme through its phases and opens and closes voting."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ControllerDep, RecordsDep, Refusal, RoundId, ServiceDep
from bridge.event.questions import Question
from bridge.event.rounds import PhaseName, RoundState, Visibility
from bridge.event.votes import Policy

router = APIRouter(prefix="/rounds", tags=["rounds"])


class RoundFields(BaseModel):
    """What a round asks and how it counts; omitted fields come from the agenda's theme
    (or default to single choice A-E)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, max_length=200)
    question: Question | None = None
    policy: Policy | None = None
    visibility: Visibility | None = None
    paired_only: bool | None = None
    anonymous: bool | None = None
    grace_s: float | None = Field(None, ge=0, le=60)

    def fields(self) -> dict[str, Any]:
        """The round's own fields, without the options of the command that carried them."""
        return self.model_dump(exclude_none=True, include=set(RoundFields.model_fields))


class OpenRound(RoundFields):
    """Open voting; the timer closes it after ``duration_s`` (default: the theme's planned
    voting time), or never with ``timer`` false."""

    duration_s: float | None = Field(None, gt=0, le=86400)
    timer: bool = True


class PhaseChange(OpenRound):
    phase: PhaseName


class Extension(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(gt=0, le=3600)


class Reveal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revealed: bool = True


@router.get("")
async def list_rounds(controller: ControllerDep) -> list[RoundState]:
    """Every round, in the order they were created."""
    return controller.all()


@router.get("/current")
async def current_round(controller: ControllerDep) -> RoundState | None:
    """The round the host is running now (or ran last), if any."""
    return controller.find(controller.current) if controller.current else None


@router.get("/{round_id}")
async def get_round(round_id: RoundId, controller: ControllerDep) -> RoundState:
    return controller.get(round_id)


@router.post("/{round_id}")
async def create_round(
    round_id: RoundId, controller: ControllerDep, body: RoundFields | None = None
) -> RoundState:
    """Define a round without opening it (an agenda theme's round needs no body)."""
    return controller.create(round_id, **(body or RoundFields()).fields())


@router.delete("/{round_id}", status_code=204)
async def delete_round(round_id: RoundId, controller: ControllerDep, records: RecordsDep) -> None:
    """Remove a round that was never opened and holds no presses (a mistaken one)."""
    if next(iter(records.journal.records(round_id=round_id)), None) is not None:
        raise Refusal(409, "holds_presses", round=round_id)
    controller.delete(round_id)


@router.post("/{round_id}/open")
async def open_round(
    round_id: RoundId, controller: ControllerDep, body: OpenRound | None = None
) -> RoundState:
    """Open voting now; a round not created yet is made from its agenda theme or the body
    (a title or question), else 404."""
    body = body or OpenRound()
    return controller.open(round_id, duration_s=body.duration_s, timer=body.timer, **body.fields())


@router.post("/{round_id}/close")
async def close_round(round_id: RoundId, controller: ControllerDep) -> RoundState:
    """Close voting now; presses in flight still count for the round's grace period."""
    return controller.close(round_id)


@router.post("/{round_id}/extend")
async def extend_round(round_id: RoundId, body: Extension, controller: ControllerDep) -> RoundState:
    """Give voting more time (a round without a timer gets one)."""
    return controller.extend(round_id, body.seconds)


@router.post("/{round_id}/pause")
async def pause_round(round_id: RoundId, controller: ControllerDep) -> RoundState:
    """Stop voting and the timer; presses until resume do not count."""
    return controller.pause(round_id)


@router.post("/{round_id}/resume")
async def resume_round(round_id: RoundId, controller: ControllerDep) -> RoundState:
    return controller.resume(round_id)


@router.post("/{round_id}/reset")
async def reset_round(round_id: RoundId, controller: ControllerDep) -> RoundState:
    """Back to ready; earlier presses stay in the journal but no longer count."""
    return controller.reset(round_id)


@router.post("/{round_id}/revote")
async def revote(round_id: RoundId, controller: ControllerDep) -> RoundState:
    """A new round on the same theme and question; the first one stays as it was."""
    return controller.revote(round_id)


@router.post("/{round_id}/phase")
async def set_phase(round_id: RoundId, body: PhaseChange, controller: ControllerDep) -> RoundState:
    """Move the round to a phase: ``voting`` opens it, ``results`` closes it."""
    extra: dict[str, Any] = body.fields()
    if body.phase is PhaseName.VOTING:
        extra |= {"duration_s": body.duration_s, "timer": body.timer}
    return controller.set_phase(round_id, body.phase, **extra)


@router.post("/{round_id}/reveal")
async def reveal(
    round_id: RoundId, controller: ControllerDep, body: Reveal | None = None
) -> RoundState:
    """Show (or hide again) the results of a round whose visibility is ``hidden``."""
    return controller.reveal(round_id, (body or Reveal()).revealed)


@router.get("/{round_id}/tally")
async def get_tally(round_id: RoundId, service: ServiceDep) -> dict[str, Any]:
    """The live tally (counts hidden while the round's visibility says so)."""
    snapshot = service.tally_snapshot(round_id)
    if snapshot is None:
        raise Refusal(404, "no_tally", round=round_id)
    return snapshot
