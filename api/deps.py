"""Dependencies that hand routes the parts of the running service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request

from bridge.controller import RoundController
from bridge.service import Service

ROUND_ID = r"^[A-Za-z0-9_.-]{1,64}$"


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def get_controller(service: Annotated[Service, Depends(get_service)]) -> RoundController:
    if service.controller is None:
        raise HTTPException(503, "this process does not run the api role (round control)")
    return service.controller


ServiceDep = Annotated[Service, Depends(get_service)]
ControllerDep = Annotated[RoundController, Depends(get_controller)]
RoundId = Annotated[str, Path(pattern=ROUND_ID, description="round ID: letters, digits, _ . -")]
