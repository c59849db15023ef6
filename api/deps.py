"""Dependencies that hand routes the parts of the running service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from bridge.desk.controller import RoundController
from bridge.desk.event_desk import EventDesk
from bridge.event.language import Locale, locale, parse_language
from bridge.service import Service
from bridge.tally.results import EventRecords

ROUND_ID = r"^[A-Za-z0-9_.-]{1,64}$"


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def get_desk(service: Annotated[Service, Depends(get_service)]) -> EventDesk:
    if service.desk is None:
        raise Refusal(503, "no_api_role")
    return service.desk


def get_controller(desk: Annotated[EventDesk, Depends(get_desk)]) -> RoundController:
    return desk.controller


def get_records(service: Annotated[Service, Depends(get_service)]) -> Iterator[EventRecords]:
    """The event's journal and store, read through connections of their own (closed after)."""
    records = EventRecords(service.settings.journal.path)
    try:
        yield records
    finally:
        records.close()


class Refusal(Exception):
    """A request the API turns down, its message from the catalogue (``api.<key>``), answered
    in the request's language."""

    def __init__(self, status: int, key: str, **values: Any) -> None:
        self.status = status
        self.key = key
        self.values = values
        super().__init__(self.text(locale()))

    def text(self, lang: Locale) -> str:
        values = dict(self.values)
        if "state" in values:  # a round's status, named in the request's language
            values["state"] = lang.t(f"value.status.{values['state']}")
        return lang.t(f"api.{self.key}", **values)


def request_locale(request: Request) -> Locale:
    """The language a request asks for with ``?lang=``, else the event's ``[event] language``."""
    service: Service = request.app.state.service
    default = service.settings.event.language
    return locale(parse_language(request.query_params.get("lang"), default))


ServiceDep = Annotated[Service, Depends(get_service)]
LocaleDep = Annotated[Locale, Depends(request_locale)]
DeskDep = Annotated[EventDesk, Depends(get_desk)]
ControllerDep = Annotated[RoundController, Depends(get_controller)]
RecordsDep = Annotated[EventRecords, Depends(get_records)]
RoundId = Annotated[str, Path(pattern=ROUND_ID, description="round ID: letters, digits, _ . -")]
