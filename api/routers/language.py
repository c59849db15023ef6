"""The event's language, for the pages to start in (each page can switch)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ServiceDep
from bridge.event.language import Language

router = APIRouter(tags=["language"])


@router.get("/language")
async def language(service: ServiceDep) -> dict[str, Any]:
    """``{"language": "da", "languages": ["en", "da"]}``: ``[event] language`` and the choice."""
    return {
        "language": service.settings.event.language.value,
        "languages": [lang.value for lang in Language],
    }
