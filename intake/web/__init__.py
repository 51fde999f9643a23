"""The cadres' web pages: login, the intake queue, items, the procedure, exports.

Server-rendered (FastAPI + Jinja2) with htmx 2 shipped in ``static/`` (no CDN). The
composition root builds a :class:`WebDeps` and includes :func:`cadre_router`; it mounts
:data:`STATIC_DIR` at ``/cadre/static``.

    app.include_router(cadre_router(deps))
    app.mount("/cadre/static", StaticFiles(directory=STATIC_DIR), name="cadre-static")
"""

from __future__ import annotations

from fastapi import APIRouter

from intake.web.deps import WebDeps
from intake.web.export_pages import build_account_router, build_export_router
from intake.web.helpers import helpers_router
from intake.web.pages import build_router
from intake.web.render import STATIC_DIR
from intake.web.reports import build_reports_router

__all__ = ["STATIC_DIR", "WebDeps", "cadre_router"]


def cadre_router(deps: WebDeps) -> APIRouter:
    """Every cadre route (pages and exports) in one router."""
    router = APIRouter()
    router.include_router(build_router(deps))
    router.include_router(build_export_router(deps))
    router.include_router(build_account_router(deps))
    router.include_router(build_reports_router(deps))
    router.include_router(helpers_router(deps))
    return router
