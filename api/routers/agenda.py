"""The agenda: the event's themes, loaded from TOML and edited here."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import DeskDep, Refusal
from bridge.event.agenda import Agenda, Theme

router = APIRouter(prefix="/agenda", tags=["agenda"])


def _agenda(desk: DeskDep) -> Agenda:
    if desk.agenda is None:
        raise Refusal(404, "no_agenda")
    return desk.agenda


@router.get("")
async def get_agenda(desk: DeskDep) -> Agenda:
    return _agenda(desk)


@router.put("")
async def put_agenda(agenda: Agenda, desk: DeskDep) -> Agenda:
    """Replace the agenda; rounds already created keep the question they were created with."""
    return await desk.set_agenda(agenda)


@router.put("/themes/{theme_id}")
async def put_theme(theme_id: str, theme: Theme, desk: DeskDep) -> Agenda:
    """Add a theme, or replace the one with this ID."""
    if theme.id != theme_id:
        raise Refusal(422, "id_differs", body=theme.id, path=theme_id)
    agenda = _agenda(desk)
    themes = [theme if t.id == theme_id else t for t in agenda.themes]
    if all(t.id != theme_id for t in agenda.themes):
        themes.append(theme)
    return await desk.set_agenda(Agenda.model_validate({**agenda.model_dump(), "themes": themes}))


@router.delete("/themes/{theme_id}")
async def delete_theme(theme_id: str, desk: DeskDep) -> Agenda:
    agenda = _agenda(desk)
    if agenda.theme(theme_id) is None:
        raise Refusal(404, "no_theme", theme=theme_id)
    themes = [t for t in agenda.themes if t.id != theme_id]
    return await desk.set_agenda(agenda.model_copy(update={"themes": themes}))
