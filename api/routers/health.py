"""``GET /health``: is the service fit to run a vote."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ServiceDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(service: ServiceDep) -> dict[str, Any]:
    """Broker link, receivers, journal and tally engine at a glance; ``status`` ok, degraded
    (a link or receiver down, or a warning) or critical (presses are not being made durable)."""
    return service.health()
