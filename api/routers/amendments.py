"""Amendments and revisions: the explicit way to correct a closed round's final results."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException

from api.deps import ControllerDep, DeskDep, RecordsDep, RoundId, ServiceDep
from api.routers.results import final_results
from bridge.service import Service
from bridge.tally.amend import Amendment, AmendmentError, ResultsArchive, amend_round

router = APIRouter(tags=["results"])


def _archive(service: Service) -> ResultsArchive:
    if service.kept is None:
        raise HTTPException(503, "this process does not run the api role (results archive)")
    return service.kept.archive


@router.get("/rounds/{round_id}/revisions")
async def revisions(
    round_id: RoundId, service: ServiceDep, controller: ControllerDep
) -> list[dict[str, Any]]:
    """Every kept revision of the round's final results, oldest first (amendments included)."""
    final_results(service, controller.get(round_id))  # 409 before they are final, 403 hidden
    return await asyncio.to_thread(_archive(service).revisions, round_id)


@router.get("/rounds/{round_id}/revisions/{revision}")
async def revision(
    round_id: RoundId, revision: int, service: ServiceDep, controller: ControllerDep
) -> dict[str, Any]:
    """One kept revision of the round's final results."""
    final_results(service, controller.get(round_id))
    doc = await asyncio.to_thread(_archive(service).revision, round_id, revision)
    if doc is None:
        raise HTTPException(404, f"round {round_id!r} has no revision {revision} of its results")
    return doc


@router.post("/rounds/{round_id}/amendments", status_code=201)
async def amend(
    round_id: RoundId,
    body: Amendment,
    service: ServiceDep,
    desk: DeskDep,
    controller: ControllerDep,
    records: RecordsDep,
) -> dict[str, Any]:
    """Correct a closed round's final results: who, why, and pairings put right; the round is
    recounted under its own rules and the result is its next revision (the old one is kept)."""
    state = controller.get(round_id)
    final_results(service, state)
    presses = await asyncio.to_thread(records.records, round_id)
    voted = await asyncio.to_thread(records.participants, state)
    try:
        doc = await amend_round(
            desk,
            _archive(service),
            presses,
            state,
            body,
            echo_window_s=service.settings.dedup.echo_window_s,
            min_segment=service.settings.event.min_segment,
            participants=voted,
            pairings_max=service.settings.event.amendment_pairings_max,
        )
    except AmendmentError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    assert service.kept is not None
    await service.kept.amended(doc)
    return doc
