"""The cadres' side of the helper's month (issue 7): helpers, households, visits, roster.

- :mod:`intake.web.helpers.access` — the scope rules of these pages;
- :mod:`intake.web.helpers.pages` — helpers per village or township, a helper (and their
  link code), a household's visit history, the overdue list, the visit log download;
- :mod:`intake.web.helpers.imports` — roster imports running in the background;
- :mod:`intake.web.helpers.upload` — the roster upload page and its progress bar.

    app.include_router(helpers_router(deps))
"""

from __future__ import annotations

from fastapi import APIRouter

from intake.web.deps import WebDeps
from intake.web.helpers.pages import build_pages_router
from intake.web.helpers.upload import build_upload_router

__all__ = ["helpers_router"]


def helpers_router(deps: WebDeps) -> APIRouter:
    """Every route of the helpers pages (the upload's first: its paths are fixed)."""
    router = APIRouter()
    router.include_router(build_upload_router(deps))
    router.include_router(build_pages_router(deps))
    return router
