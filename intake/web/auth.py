"""Sessions, CSRF and the logged-in user of the cadre pages.

The session is a signed cookie (itsdangerous, HMAC-SHA1 over a JSON payload with a
timestamp; ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when served over https) holding the user
id, the user's ``session_epoch`` and a random CSRF token. No session is stored
server-side, only the epoch on the user's row: logging out, disabling a user or resetting
their password bumps it, which ends every older session (a copied cookie too, and the
user's sessions on other devices) at its next request. Every form carries the CSRF token
(and htmx sends it as the ``X-CSRF-Token`` header); a POST without the session's own token
is refused with 403.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from intake.users import Scope, User, same_token
from intake.web.deps import WebDeps

COOKIE = "hotline_cadre"
MAX_AGE_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_DETAIL = "CSRF token missing or wrong"


@dataclass(frozen=True)
class WebSession:
    """What the cookie says: who (if anyone) and the CSRF token of this browser."""

    user_id: int | None
    epoch: int
    csrf: str


@dataclass(frozen=True)
class Viewer:
    """The logged-in user of a request, with their scope and CSRF token."""

    user: User
    scope: Scope
    csrf: str

    @property
    def locale(self) -> str:
        """The user's language for page texts."""
        return self.user.language


def _serializer(deps: WebDeps) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(deps.cookie_secret, salt="hotline-cadre-session")


def read_session(request: Request, deps: WebDeps) -> WebSession | None:
    """The request's session, or None if missing, forged or expired."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data: Any = _serializer(deps).loads(raw, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), str):
        return None
    user_id = data.get("u")
    return WebSession(
        user_id if isinstance(user_id, int) else None, int(data.get("e", 0)), data["c"]
    )


def write_session(response: Response, deps: WebDeps, session: WebSession) -> None:
    """Set the signed session cookie on ``response``."""
    token = _serializer(deps).dumps({"u": session.user_id, "e": session.epoch, "c": session.csrf})
    response.set_cookie(
        COOKIE,
        token,
        max_age=MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=deps.cookie_secure,
        path="/",
    )


def anonymous_session(request: Request, deps: WebDeps) -> WebSession:
    """The current session if any, else a fresh anonymous one (for the login form's CSRF)."""
    found = read_session(request, deps)
    if found is not None:
        return found
    return WebSession(None, 0, secrets.token_urlsafe(32))


def new_login_session(user: User) -> WebSession:
    """A fresh session after login: a new CSRF token, so a pre-login one is worthless."""
    assert user.id is not None
    return WebSession(user.id, user.session_epoch, secrets.token_urlsafe(32))


def viewer(request: Request, deps: WebDeps) -> Viewer:
    """The logged-in user, or an HTTPException: 303 to the login page for a page view."""
    session = read_session(request, deps)
    user = None
    if session is not None and session.user_id is not None:
        with deps.db.read() as db:
            user = db.get(User, session.user_id)
    if user is None or session is None or not user.active or user.session_epoch != session.epoch:
        raise _login_required(request)
    return Viewer(user, user.scope(), session.csrf)


def _login_required(request: Request) -> HTTPException:
    if request.method in ("GET", "HEAD"):
        target = "/cadre/login"
        headers = {"Location": target, "HX-Redirect": target}
        return HTTPException(status_code=303, detail="login required", headers=headers)
    return HTTPException(status_code=401, detail="login required")


async def check_csrf(request: Request, expected: str) -> None:
    """Refuse the request (403) unless it carries ``expected`` as form field or header."""
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not same_token(given, expected):
        raise HTTPException(status_code=403, detail=CSRF_DETAIL)


def client_address(request: Request) -> str:
    """The client's address for the login limits: the peer of the connection, or what a
    trusted proxy forwarded (uvicorn rewrites it only for ``HOTLINE_TRUSTED_PROXIES``)."""
    return request.client.host if request.client else "unknown"
