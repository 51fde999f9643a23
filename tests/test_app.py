"""The application factory: what someone opening the service's address sees, the API
pages only on request, and the session cookie ``Secure`` whenever the service is https.
"""

from __future__ import annotations

import random

import httpx
import pytest
from cadre_support import PASSWORD, VILLAGE_A, add_user, client_for, csrf_of
from conftest import FakeClock

from bot.app import create_app
from bot.config import Settings
from bot.services import Services, build_services
from intake.users import Role
from intake.web.auth import COOKIE


async def test_the_address_alone_opens_the_cadre_pages(services: Services) -> None:
    async with client_for(services) as client:
        response = await client.get("/")
        assert response.status_code == 303 and response.headers["location"] == "/cadre/"
        login = await client.get("/", follow_redirects=True)
    assert login.status_code == 200 and "<form" in login.text


def _services(settings: Settings, clock: FakeClock, **changes: object) -> Services:
    return build_services(settings.model_copy(update=changes), clock=clock, rng=random.Random(2026))


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
async def test_the_api_pages_are_off_unless_asked_for(
    settings: Settings, clock: FakeClock, path: str
) -> None:
    off = _services(settings, clock)
    on = _services(settings, clock, api_docs=True)
    try:
        async with client_for(off) as client:
            assert (await client.get(path)).status_code == 404
        async with client_for(on) as client:
            assert (await client.get(path)).status_code == 200
    finally:
        off.db.dispose()
        on.db.dispose()


async def _login_cookie(services: Services) -> str:
    """The Set-Cookie header of a successful login."""
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    transport = httpx.ASGITransport(app=create_app(services.settings, services))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        form = await client.get("/cadre/login")
        response = await client.post(
            "/cadre/login",
            data={"username": "cun", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    return cookie.lower()


@pytest.mark.parametrize(
    ("public_url", "cookie_secure", "secure"),
    [
        ("https://fanpin.example.cn", None, True),
        ("HTTPS://fanpin.example.cn/", None, True),
        ("http://127.0.0.1:8000", None, False),
        ("https://fanpin.example.cn", False, False),  # an explicit setting wins
        ("http://10.1.1.1:8000", True, True),
    ],
)
async def test_the_session_cookie_is_secure_when_the_service_is_https(
    settings: Settings,
    clock: FakeClock,
    public_url: str,
    cookie_secure: bool | None,
    secure: bool,
) -> None:
    built = _services(settings, clock, public_url=public_url, cookie_secure=cookie_secure)
    try:
        cookie = await _login_cookie(built)
    finally:
        built.db.dispose()
    assert ("; secure" in cookie) is secure, cookie
