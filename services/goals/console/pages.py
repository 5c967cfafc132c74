"""The console's static files, served as they are from `static/` (HTML, CSS, ES modules).

Strict headers: a Content-Security-Policy of `'self'` only (no inline script, so nothing
injected into a label can run and read the key from session storage), no referrer, no framing,
and `no-cache` so a deploy is seen on the next load (revalidated by ETag)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from shared.api import PUBLIC
from shared.errors import NotFound

STATIC = Path(__file__).parent / "static"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("", openapi_extra=PUBLIC)
async def console_root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=308)


@router.get("/", openapi_extra=PUBLIC)
async def console_index() -> FileResponse:
    return _file("index.html")


@router.get("/{name}", openapi_extra=PUBLIC)
async def console_asset(name: str) -> FileResponse:
    return _file(name)


def _file(name: str) -> FileResponse:
    """A file directly in `static/` with a known type; nothing else (no paths, no dotfiles)."""
    path = STATIC / name
    media_type = MEDIA_TYPES.get(path.suffix)
    if "/" in name or name.startswith(".") or media_type is None or not path.is_file():
        raise NotFound(f"no console file '{name}'")
    return FileResponse(path, media_type=media_type, headers=HEADERS)
