"""The web console at `/console/`: static pages (no build step), a same-origin proxy to the
metrics and alerts APIs, and `GET /v1/whoami` so a page knows its key's tenant and scopes."""

from __future__ import annotations

from fastapi import APIRouter

from services.goals.console import pages, proxy, whoami

router = APIRouter(lifespan=proxy.lifespan)
router.include_router(whoami.router)
router.include_router(proxy.router)
router.include_router(pages.router)

__all__ = ["router"]
