"""Results and exports: final results, recounts, CSV files, the printable report."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from api.deps import (
    ControllerDep,
    DeskDep,
    LocaleDep,
    RecordsDep,
    Refusal,
    RoundId,
    ServiceDep,
)
from bridge.desk.event_desk import EventDesk
from bridge.event.rounds import RoundState, RoundStatus
from bridge.event.votes import Policy
from bridge.reports.appendix import AppendixRound, appendix_round
from bridge.reports.report import ReportRound, render_report
from bridge.reports.tables import groups_csv, in_order, results_csv, votes_csv
from bridge.reports.workbook import results_workbook
from bridge.service import Service
from bridge.tally.results import EventRecords, recount_results

router = APIRouter(tags=["results"])

CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class CsvResponse(Response):
    """A CSV table (the media type the OpenAPI schema names for these routes)."""

    media_type = "text/csv"


class XlsxResponse(Response):
    """An Excel workbook (the media type the OpenAPI schema names for it)."""

    media_type = XLSX


def _attachment(body: str | bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def final_results(service: Service, state: RoundState) -> dict[str, Any]:
    """The round's published final results; 409 while it is open or settling, 403 while the
    host keeps them hidden."""
    if state.status is not RoundStatus.CLOSED:
        raise Refusal(409, "results_after_close", round=state.round, state=state.status.value)
    if not state.results_visible:
        raise Refusal(403, "results_hidden", round=state.round)
    doc = service.results(state.round)
    if doc is None:
        raise Refusal(409, "results_settling", round=state.round)
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
        raise Refusal(409, "recount_closed", round=round_id, state=state.status.value)
    presses = await asyncio.to_thread(records.records, round_id)
    voted = await asyncio.to_thread(records.participants, state)
    return recount_results(
        presses,
        state,
        policy=policy,
        grace_s=grace_s,
        echo_window_s=service.settings.dedup.echo_window_s,
        seating=service.seats,
        min_segment=service.settings.event.min_segment,
        participants=voted,
    )


@router.get("/rounds/{round_id}/results.csv", response_class=CsvResponse)
async def round_results_csv(
    round_id: RoundId, service: ServiceDep, controller: ControllerDep, lang: LocaleDep
) -> Response:
    """The round's results, one row per option (``?lang=`` for another language)."""
    doc = final_results(service, controller.get(round_id))
    return _attachment(results_csv([doc], lang), CSV, f"{round_id}-results.csv")


@router.get("/rounds/{round_id}/groups.csv", response_class=CsvResponse)
async def round_groups_csv(
    round_id: RoundId, service: ServiceDep, controller: ControllerDep, lang: LocaleDep
) -> Response:
    """The round's results by segment and by each grouping of the event, small groups
    suppressed."""
    doc = final_results(service, controller.get(round_id))
    return _attachment(groups_csv([doc], lang), CSV, f"{round_id}-groups.csv")


@router.get("/rounds/{round_id}/votes.csv", response_class=CsvResponse)
async def round_votes_csv(
    round_id: RoundId,
    controller: ControllerDep,
    records: RecordsDep,
    service: ServiceDep,
    lang: LocaleDep,
) -> Response:
    """Every press of the round with its time, receiver, handset, key and decision."""
    state = controller.get(round_id)
    presses = await asyncio.to_thread(records.records, round_id)
    pairings = service.desk.pairings if service.desk is not None else None
    body = votes_csv(presses, pairings, [state], lang)
    return _attachment(body, CSV, f"{round_id}-votes.csv")


def _published(service: Service, controller: ControllerDep) -> list[dict[str, Any]]:
    return [
        d
        for s in controller.all()
        if s.results_visible and (d := service.results(s.round)) is not None
    ]


@router.get("/results.csv", response_class=CsvResponse)
async def event_results_csv(
    service: ServiceDep, controller: ControllerDep, lang: LocaleDep
) -> Response:
    """Every closed round's results, one row per option."""
    return _attachment(results_csv(_published(service, controller), lang), CSV, "results.csv")


@router.get("/results.xlsx", response_class=XlsxResponse)
async def event_results_xlsx(
    service: ServiceDep, controller: ControllerDep, desk: DeskDep, lang: LocaleDep
) -> Response:
    """Every closed round's results as a workbook: a summary sheet, one sheet per round."""
    title = desk.agenda.title if desk.agenda is not None else ""
    body = results_workbook(_published(service, controller), title, lang)
    return _attachment(body, XLSX, "results.xlsx")


@router.get("/groups.csv", response_class=CsvResponse)
async def event_groups_csv(
    service: ServiceDep, controller: ControllerDep, lang: LocaleDep
) -> Response:
    """Every closed round's results by segment and by each grouping of the event."""
    return _attachment(groups_csv(_published(service, controller), lang), CSV, "groups.csv")


@router.get("/votes.csv", response_class=CsvResponse)
async def event_votes_csv(
    controller: ControllerDep, records: RecordsDep, service: ServiceDep, lang: LocaleDep
) -> Response:
    """Every press of every round."""
    presses = []
    for state in controller.all():
        presses += await asyncio.to_thread(records.records, state.round)
    pairings = service.desk.pairings if service.desk is not None else None
    body = votes_csv(in_order(presses), pairings, controller.all(), lang)
    return _attachment(body, CSV, "votes.csv")


def _report_rounds(service: Service, states: list[RoundState]) -> list[ReportRound]:
    """Rounds for the report; results the host keeps hidden stay out of it."""
    return [
        ReportRound(s, (service.results(s.round) or {}) if s.results_visible else {})
        for s in states
    ]


def _appendix(
    rounds: list[ReportRound], records: EventRecords, desk: EventDesk
) -> list[AppendixRound]:
    """How the shown results were produced: rules, windows, presses by decision, actions."""
    audit = desk.audit.entries()
    return [
        appendix_round(r.state, r.results, records.records(r.state.round), audit)
        for r in rounds
        if r.results
    ]


@router.get("/report.html", response_class=HTMLResponse)
async def event_report(
    service: ServiceDep,
    controller: ControllerDep,
    desk: DeskDep,
    records: RecordsDep,
    lang: LocaleDep,
) -> str:
    """The printable report of the whole event: a cover, one page per theme, and an appendix
    on how the results were produced."""
    rounds = _report_rounds(service, controller.all())
    appendix = await asyncio.to_thread(_appendix, rounds, records, desk)
    return render_report(
        agenda=desk.agenda, rounds=rounds, appendix=appendix, language=lang.language
    )


@router.get("/rounds/{round_id}/report.html", response_class=HTMLResponse)
async def round_report(
    round_id: RoundId,
    service: ServiceDep,
    controller: ControllerDep,
    desk: DeskDep,
    records: RecordsDep,
    lang: LocaleDep,
) -> str:
    """The printable report of one round, with its appendix."""
    rounds = _report_rounds(service, [controller.get(round_id)])
    appendix = await asyncio.to_thread(_appendix, rounds, records, desk)
    return render_report(
        agenda=desk.agenda,
        rounds=rounds,
        whole_event=False,
        appendix=appendix,
        language=lang.language,
    )
