"""The agenda: the event's themes, loaded from TOML and edited here."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from api.deps import DeskDep
from bridge.event.agenda import Agenda, Theme

router = APIRouter(prefix="/agenda", tags=["agenda"])


def _agenda(desk: DeskDep) -> Agenda:
    if desk.agenda is None:
        raise HTTPException(404, "no agenda loaded: PUT one, or set [event] agenda")
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
        raise HTTPException(422, f"the body's id {theme.id!r} differs from the path's {theme_id!r}")
    agenda = _agenda(desk)
    themes = [theme if t.id == theme_id else t for t in agenda.themes]
    if all(t.id != theme_id for t in agenda.themes):
        themes.append(theme)
    return await desk.set_agenda(Agenda.model_validate({**agenda.model_dump(), "themes": themes}))


@router.delete("/themes/{theme_id}")
async def delete_theme(theme_id: str, desk: DeskDep) -> Agenda:
    agenda = _agenda(desk)
    if agenda.theme(theme_id) is None:
        raise HTTPException(404, f"the agenda has no theme {theme_id!r}")
    themes = [t for t in agenda.themes if t.id != theme_id]
    return await desk.set_agenda(agenda.model_copy(update={"themes": themes}))
