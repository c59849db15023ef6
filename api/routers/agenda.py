"""The agenda: the event's themes, loaded from TOML and edited here."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from api.deps import DeskDep, Refusal, ServiceDep
from bridge.event.agenda import Agenda, Theme

router = APIRouter(prefix="/agenda", tags=["agenda"])


def _agenda(desk: DeskDep) -> Agenda:
    if desk.agenda is None:
        raise Refusal(404, "no_agenda")
    return desk.agenda


@router.get("")
async def get_agenda(desk: DeskDep) -> Agenda:
    return _agenda(desk)


def _check_size(agenda: Agenda, service: ServiceDep) -> Agenda:
    most = service.settings.api.max_themes
    if len(agenda.themes) > most:
        raise HTTPException(413, f"{len(agenda.themes)} themes; at most {most} ([api] max_themes)")
    return agenda


@router.put("", responses={413: {"description": "over [api] max_agenda_bytes or max_themes"}})
async def put_agenda(agenda: Agenda, desk: DeskDep, service: ServiceDep) -> Agenda:
    """Replace the agenda; rounds already created keep the question they were created with."""
    return await desk.set_agenda(_check_size(agenda, service))


@router.put("/themes/{theme_id}")
async def put_theme(theme_id: str, theme: Theme, desk: DeskDep, service: ServiceDep) -> Agenda:
    """Add a theme, or replace the one with this ID."""
    if theme.id != theme_id:
        raise Refusal(422, "id_differs", body=theme.id, path=theme_id)
    agenda = _agenda(desk)
    themes = [theme if t.id == theme_id else t for t in agenda.themes]
    if all(t.id != theme_id for t in agenda.themes):
        themes.append(theme)
    changed = Agenda.model_validate({**agenda.model_dump(), "themes": themes})
    return await desk.set_agenda(_check_size(changed, service))


@router.delete("/themes/{theme_id}")
async def delete_theme(theme_id: str, desk: DeskDep) -> Agenda:
    agenda = _agenda(desk)
    if agenda.theme(theme_id) is None:
        raise Refusal(404, "no_theme", theme=theme_id)
    themes = [t for t in agenda.themes if t.id != theme_id]
    return await desk.set_agenda(agenda.model_copy(update={"themes": themes}))
