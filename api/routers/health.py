"""``GET /health``: is the service fit to run a vote."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ServiceDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(service: ServiceDep) -> dict[str, Any]:
    """Broker link, receivers, journal and tally engine at a glance; ``status`` ok or degraded."""
    return service.health()
