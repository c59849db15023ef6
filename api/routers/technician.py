"""The technician's board: handsets with their flags, receivers, roll call."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ServiceDep
from bridge.event.roster import Roster
from bridge.health import RollCall, board_filter, handset_board
from bridge.service import Service

router = APIRouter(tags=["technician"])

FLAG_KINDS = ("any", "stuck", "jamming", "spoofing", "battery", "silent")
TEXT_MAX = 60  # a handset ID, a participant ID or part of a name
Short = Annotated[str | None, Query(max_length=TEXT_MAX)]


def _board(service: Service, since: float | None = None) -> list[dict[str, Any]]:
    return handset_board(_roster(service), service.handsets(), since=since)


FlagQuery = Annotated[str | None, Query(description=f"one of {', '.join(FLAG_KINDS)}")]
SinceQuery = Annotated[float | None, Query(ge=0, description="silent: not heard since")]


@dataclass(frozen=True, slots=True)
class BoardView:
    """Which of the board's rows a request wants: its filters, and since when a paired
    handset not heard is ``silent``."""

    flag: str | None
    table: str | None
    receiver: str | None
    text: str | None
    since: float | None

    def rows(
        self, roster: Roster | None, seen: dict[str, dict[str, Any]], only: set[str] | None = None
    ) -> list[dict[str, Any]]:
        board = handset_board(roster, seen, since=self.since, only=only)
        return board_filter(
            board, flag=self.flag, table=self.table, receiver=self.receiver, text=self.text
        )


def board_view(
    flag: FlagQuery = None,
    table: Short = None,
    receiver: Short = None,
    q: Short = None,
    since: SinceQuery = None,
) -> BoardView:
    if flag is not None and flag not in FLAG_KINDS:
        raise HTTPException(422, f"flag must be one of {', '.join(FLAG_KINDS)}, got {flag!r}")
    return BoardView(flag, table, receiver, q, since)


View = Annotated[BoardView, Depends(board_view)]


def _roster(service: Service) -> Roster | None:
    return service.desk.roster if service.desk is not None else None


@router.get("/handsets", response_model=list[dict[str, Any]])
async def handsets(service: ServiceDep, view: View) -> Response:
    """Every handset heard and every paired one, flagged first: where and when last heard,
    signal, battery, who holds it, and its flags."""
    rows = view.rows(_roster(service), service.handsets())
    # Encoded as it is: rows of plain JSON values, 50,000 of them at the largest events,
    # which a generic encoder and a response model would copy twice more.
    return Response(msgspec.json.encode(rows), media_type="application/json")


@router.get("/handsets/changes", response_model=dict[str, Any])
async def handset_changes(
    service: ServiceDep,
    view: View,
    after: Annotated[str | None, Query(max_length=120, description="an earlier cursor")] = None,
) -> Response:
    """The board's rows changed since the answer that gave the cursor ``after``, for a board
    that keeps its rows (at 50,000 handsets the whole board is ~6 MB):
    ``{"cursor", "whole", "rows", "gone"}``. ``rows`` are the rows changed that pass the
    filters (the same as ``GET /handsets``), ``gone`` the handsets changed that no longer
    do. Without ``after``, or when the cursor no longer applies (the service started again,
    the roster changed, other filters or ``since``), ``whole`` is true and ``rows`` is the
    whole board."""
    seen = service.handsets()  # first: it takes this process's own bridge's latest changes
    sightings = service.mirror.sightings
    roster = _roster(service)
    digest = hashlib.blake2b(msgspec.json.encode(view), digest_size=6).hexdigest()
    held_by = f"{roster.token}.{roster.revision}" if roster is not None else "-"
    basis = f"{sightings.epoch}:{held_by}:{digest}:"
    held = after.removeprefix(basis) if after is not None and after.startswith(basis) else ""
    changed = sightings.changed_since(int(held)) if held.isascii() and held.isdigit() else None
    rows = view.rows(roster, seen, only=changed)
    gone = [] if changed is None else sorted(changed - {row["handset"] for row in rows})
    body = {
        "cursor": f"{basis}{sightings.version}",
        "whole": changed is None,
        "rows": rows,
        "gone": gone,
    }
    return Response(msgspec.json.encode(body), media_type="application/json")


@router.delete("/handsets/{handset}/flags")
async def clear_flags(handset: str, service: ServiceDep) -> dict[str, Any]:
    """The technician has dealt with the handset: its flags go, its sequence starts afresh."""
    if service.core is None:
        raise HTTPException(503, "this process does not run the bridge role (receivers)")
    if not service.core.watch.clear(handset.strip().upper()):
        raise HTTPException(404, f"handset {handset!r} has no flags on this bridge")
    return {"handset": handset.strip().upper(), "flags": []}


@router.post("/handsets/{handset}/release")
async def release_held_press(handset: str, service: ServiceDep) -> dict[str, Any]:
    """The technician vouches for the press held as suspected spoofing: it is decided now
    (counted if its round was open when it was pressed) and the handset's flags go."""
    if service.core is None:
        raise HTTPException(503, "this process does not run the bridge role (receivers)")
    rec = service.core.release(handset.strip().upper())
    if rec is None:
        raise HTTPException(404, f"no press of handset {handset!r} is held on this bridge")
    return {
        "handset": rec.handset,
        "key": rec.key,
        "decision": rec.decision.value,
        "round": rec.round,
    }


@router.get("/receivers")
async def receivers(service: ServiceDep) -> dict[str, Any]:
    """Every receiver: online or not, its error, its counters and its flags. ``chatter`` is
    what a receiver prints besides frames (idle and debug lines: harmless); ``damaged`` the
    frames that failed a check (interference, a failing link)."""
    flags: dict[str, list[dict[str, Any]]] = {}
    for topic, doc in service.mirror.latest.items():
        if topic.startswith("bridge/") and topic.endswith("/handsets") and doc:
            flags.update(doc.get("receivers", {}))
    out: dict[str, Any] = {}
    core = service.core
    if core is not None:
        flags.update(core.watch.receivers_document())
        for name, st in core.status.items():
            receiver = core.receivers.get(name)
            stats = receiver.stats if receiver is not None else None
            out[name] = {
                "family": st.family,
                "online": st.online,
                "error": st.error,
                "since": st.since,
                "counters": {
                    "frames": stats.frames if stats else 0,
                    "presses": stats.presses if stats else 0,
                    "damaged": stats.rejected if stats else 0,
                    "chatter": stats.noise if stats else 0,
                    "errors": stats.errors if stats else 0,
                },
                "last_error": stats.last_error if stats else "",
                "flags": flags.get(name, []),
            }
    for name, rx_flags in flags.items():
        out.setdefault(name, {"flags": rx_flags})
    return out


class RollCallStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table: str | None = Field(None, max_length=20)


def _roll_call(request: Request) -> RollCall:
    call: RollCall | None = getattr(request.app.state, "roll_call", None)
    if call is None:
        raise HTTPException(404, "no roll call is running: POST /api/v1/rollcall starts one")
    return call


@router.post("/rollcall")
async def start_roll_call(
    body: RollCallStart, request: Request, service: ServiceDep
) -> dict[str, Any]:
    """ "Press any key": for the room, or for one table; who has not been heard since now."""
    table = body.table or None
    seated = service.desk.roster.seated() if service.desk is not None else {}
    if table is not None and table not in seated:
        raise HTTPException(404, f"no participant is seated at table {table!r}")
    call = RollCall(service.clock.time(), table)  # the clock receivers stamp presses with
    request.app.state.roll_call = call
    return call.report(_board(service))


@router.get("/rollcall")
async def roll_call(request: Request, service: ServiceDep) -> dict[str, Any]:
    """The running roll call: paired handsets expected, heard since it began, and missing;
    ``{"running": false}`` when none runs."""
    call: RollCall | None = getattr(request.app.state, "roll_call", None)
    if call is None:
        return {"running": False}
    return call.report(_board(service))


@router.delete("/rollcall", status_code=204)
async def end_roll_call(request: Request) -> None:
    _roll_call(request)
    request.app.state.roll_call = None
