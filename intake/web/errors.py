"""Refusals as small HTML pages: a cadre's browser never shows raw JSON.

Every cadre route is an :class:`APIRoute` of the class :func:`route_class` makes: an
``HTTPException`` of status 400 or more (404 outside the scope, 403 for a wrong CSRF token
or role, 401 logged out…) and a request that fails validation become a short page in the
logged-in user's language (zh_CN otherwise) with the same status code and a link back to
the queue. Redirects (the 303 to the login page) pass unchanged. Routes outside ``/cadre``
use FastAPI's JSON answers as before.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from intake.web import auth
from intake.web.deps import WebDeps
from intake.web.render import page

#: What each refusal tells the cadre; other statuses get the generic text.
MESSAGES = {
    401: "cadre.oops.login",
    403: "cadre.oops.forbidden",
    404: "cadre.oops.not_found",
    422: "cadre.oops.invalid",
    429: "cadre.oops.busy",
    502: "cadre.oops.channel",
}
CSRF_MESSAGE = "cadre.oops.csrf"
OTHER_MESSAGE = "cadre.oops.other"


def _viewer(request: Request, deps: WebDeps) -> auth.Viewer | None:
    try:
        return auth.viewer(request, deps)
    except HTTPException:
        return None


async def error_page(
    request: Request,
    deps: WebDeps,
    status_code: int,
    detail: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The refusal page of ``status_code`` for the request's user."""
    viewer = await run_in_threadpool(_viewer, request, deps)
    if status_code == 403 and detail == auth.CSRF_DETAIL:
        message = CSRF_MESSAGE
    else:
        message = MESSAGES.get(status_code, OTHER_MESSAGE)
    context = {
        "viewer": viewer,
        "csrf": viewer.csrf if viewer else None,
        "message": message,
        "status": status_code,
    }
    response = page(
        request, "error.html", viewer.locale if viewer else "zh_CN", context, status_code
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return response


def route_class(deps: WebDeps) -> type[APIRoute]:
    """An :class:`APIRoute` whose refusals are :func:`error_page` pages."""

    class CadreRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    return await handler(request)
                except HTTPException as refused:
                    if refused.status_code < 400:
                        raise
                    return await error_page(
                        request, deps, refused.status_code, refused.detail, refused.headers
                    )
                except RequestValidationError:
                    return await error_page(request, deps, 422)

            return handle

    return CadreRoute
