"""The login form's answer: the session on success, a polite refusal saying when to retry.

Who is refused is decided by :func:`intake.logins.authenticate`; this module turns its
answer into the page. The login page is shown before anyone is known, so a refusal is
written in Chinese and then English; a wait gives the time (Beijing) to come back and a
``Retry-After`` header, rounded up to the minute so that coming back "at 10:42" works.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from intake.logins import LoginRefused, authenticate
from intake.users import User
from intake.web import auth
from intake.web.deps import WebDeps
from intake.web.render import page
from intake.workdays import SHANGHAI
from locales import translate

#: The main line of each refusal (``{time}``: when to try again).
MESSAGES = {
    "invalid": "cadre.login.invalid",
    "delayed": "cadre.login.delayed",
    "locked": "cadre.login.address_locked",
}
RETRY_AT = "cadre.login.retry_at"
#: The login form's fields by their label.
FIELDS = {"username": "cadre.login.username", "password": "cadre.login.password"}
LANGUAGES = ("zh_CN", "en")


async def submit(request: Request, deps: WebDeps) -> Response:
    """Check the CSRF token and the password; log in, or show the form with why not."""
    session = auth.anonymous_session(request, deps)
    await auth.check_csrf(request, session.csrf)
    form = await request.form()
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    given = {"username": username.strip(), "password": password}
    missing = [name for name in FIELDS if not given[name]]
    if missing:  # not an attempt: nothing to count against the address or the user
        context = {
            "csrf": session.csrf,
            "error": "missing",
            "notices": missing_texts(missing),
            "username": username,
            "missing": missing,
        }
        return page(request, "login.html", "zh_CN", context, status_code=422)
    result = await run_in_threadpool(
        _authenticate, deps, username, password, auth.client_address(request)
    )
    if isinstance(result, User):
        welcome = RedirectResponse("/cadre/", status_code=303)
        auth.write_session(welcome, deps, auth.new_login_session(result))
        return welcome
    context = {
        "csrf": session.csrf,
        "error": result.reason,
        "notices": refusal_texts(result),
        "username": username,
    }
    status = 401 if result.reason == "invalid" else 429
    response = page(request, "login.html", "zh_CN", context, status_code=status)
    if status == 429 and result.retry_at is not None:
        seconds = (result.retry_at - deps.clock()).total_seconds()
        response.headers["Retry-After"] = str(max(1, math.ceil(seconds)))
    return response


def refusal_texts(refused: LoginRefused) -> list[tuple[str, str]]:
    """``(language, text)`` lines of a refusal, Chinese first."""
    when = _clock_time(refused.retry_at) if refused.retry_at else None
    lines: list[tuple[str, str]] = []
    for language in LANGUAGES:
        main = MESSAGES[refused.reason]
        if refused.reason == "invalid":
            text = translate(language, main)
            if when:
                text += " " + translate(language, RETRY_AT, time=when)
        else:
            text = translate(language, main, time=when or "")
        lines.append((language, text))
    return lines


def missing_texts(missing: list[str]) -> list[tuple[str, str]]:
    """``(language, text)`` lines naming every empty field of the login form, Chinese first."""
    lines = []
    for language in LANGUAGES:
        names = [translate(language, FIELDS[name]) for name in missing]
        joined = (", " if language == "en" else "、").join(names)
        lines.append((language, translate(language, "cadre.error.missing_fact", fact=joined)))
    return lines


def _clock_time(moment: datetime) -> str:
    """``HH:MM`` in Beijing, the minute after ``moment`` unless it is on the minute."""
    local = moment.astimezone(SHANGHAI)
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return local.strftime("%H:%M")


def _authenticate(deps: WebDeps, username: str, password: str, client: str) -> User | LoginRefused:
    with deps.db.write() as db:
        return authenticate(
            db, username, password, client=client, now=deps.clock(), rules=deps.throttle
        )
