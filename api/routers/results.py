"""Results and exports: final results, recounts, CSV files, the printable report."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse, Response

from api.deps import ControllerDep, DeskDep, RecordsDep, RoundId, ServiceDep
from bridge.event.rounds import RoundState, RoundStatus
from bridge.event.votes import Policy
from bridge.reports.report import ReportRound, render_report
from bridge.reports.tables import results_csv, votes_csv
from bridge.service import Service
from bridge.tally.results import recount_results

router = APIRouter(tags=["results"])

CSV = "text/csv; charset=utf-8"


class CsvResponse(Response):
    """A CSV table (the media type the OpenAPI schema names for these routes)."""

    media_type = "text/csv"


def _attachment(body: str, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def final_results(service: Service, state: RoundState) -> dict[str, Any]:
    """The round's published final results; 409 while it is open or settling, 403 while the
    host keeps them hidden."""
    if state.status is not RoundStatus.CLOSED:
        raise HTTPException(
            409, f"round {state.round!r} is {state.status}; results come after it closes"
        )
    if not state.results_visible:
        raise HTTPException(
            403,
            f"the results of round {state.round!r} are hidden until the "
            f"host reveals them (POST /api/v1/rounds/{state.round}/reveal)",
        )
    doc = service.results(state.round)
    if doc is None:
        raise HTTPException(
            409, f"round {state.round!r} closed; its results come once the grace period has passed"
        )
    return doc


@router.get("/rounds/{round_id}/results")
async def round_results(
    round_id: RoundId,
    service: ServiceDep,
    controller: ControllerDep,
    records: RecordsDep,
    policy: Annotated[Policy | None, Query(description="recount: which answer counts")] = None,
    grace_s: Annotated[
        float | None, Query(ge=0, le=600, description="recount: grace period")
    ] = None,
) -> dict[str, Any]:
    """Final results; with ``policy`` or ``grace_s``, recounted from the journal."""
    state = controller.get(round_id)
    if (policy is None and grace_s is None) or not state.results_visible:
        return final_results(service, state)
    if state.status is not RoundStatus.CLOSED:
        raise HTTPException(409, f"round {round_id!r} is {state.status}; recount it once closed")
    presses = await asyncio.to_thread(records.records, round_id)
    return recount_results(
        presses,
        state,
        policy=policy,
        grace_s=grace_s,
        echo_window_s=service.settings.dedup.echo_window_s,
        seating=service.seats,
        min_segment=service.settings.event.min_segment,
    )


@router.get("/rounds/{round_id}/results.csv", response_class=CsvResponse)
async def round_results_csv(
    round_id: RoundId, service: ServiceDep, controller: ControllerDep
) -> Response:
    """The round's results, one row per option."""
    doc = final_results(service, controller.get(round_id))
    return _attachment(results_csv([doc]), CSV, f"{round_id}-results.csv")


@router.get("/rounds/{round_id}/votes.csv", response_class=CsvResponse)
async def round_votes_csv(
    round_id: RoundId, controller: ControllerDep, records: RecordsDep, service: ServiceDep
) -> Response:
    """Every press of the round with its time, receiver, handset, key and decision."""
    controller.get(round_id)
    presses = await asyncio.to_thread(records.records, round_id)
    roster = service.desk.roster if service.desk is not None else None
    return _attachment(votes_csv(presses, roster), CSV, f"{round_id}-votes.csv")


@router.get("/results.csv", response_class=CsvResponse)
async def event_results_csv(service: ServiceDep, controller: ControllerDep) -> Response:
    """Every closed round's results, one row per option."""
    docs = [
        d
        for s in controller.all()
        if s.results_visible and (d := service.results(s.round)) is not None
    ]
    return _attachment(results_csv(docs), CSV, "results.csv")


@router.get("/votes.csv", response_class=CsvResponse)
async def event_votes_csv(
    controller: ControllerDep, records: RecordsDep, service: ServiceDep
) -> Response:
    """Every press of every round."""
    presses = []
    for state in controller.all():
        presses += await asyncio.to_thread(records.records, state.round)
    roster = service.desk.roster if service.desk is not None else None
    return _attachment(votes_csv(sorted(presses, key=lambda r: r.id), roster), CSV, "votes.csv")


def _report_rounds(service: Service, states: list[RoundState]) -> list[ReportRound]:
    """Rounds for the report; results the host keeps hidden stay out of it."""
    return [
        ReportRound(s, (service.results(s.round) or {}) if s.results_visible else {})
        for s in states
    ]


@router.get("/report.html", response_class=HTMLResponse)
async def event_report(service: ServiceDep, controller: ControllerDep, desk: DeskDep) -> str:
    """The printable report of the whole event: a cover, then one page per theme."""
    return render_report(agenda=desk.agenda, rounds=_report_rounds(service, controller.all()))


@router.get("/rounds/{round_id}/report.html", response_class=HTMLResponse)
async def round_report(
    round_id: RoundId, service: ServiceDep, controller: ControllerDep, desk: DeskDep
) -> str:
    """The printable report of one round."""
    state = controller.get(round_id)
    return render_report(
        agenda=desk.agenda, rounds=_report_rounds(service, [state]), whole_event=False
    )
