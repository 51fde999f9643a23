"""Browser hardening over real HTTP: every answer under /cadre (each GET route the app
has, found from its route table, plus refusals, a 404 and a static file) carries the
Content-Security-Policy, framing and referrer headers and, with personal data, no-store;
no rendered page holds an inline script, handler or style the policy would refuse.
"""

from __future__ import annotations

import re

import httpx
from cadre_support import add_user, apply_by_chat, callback_item, client_for, login

from bot.app import create_app
from bot.services import Services
from intake.reports.filing import ReportDraft, file_report
from intake.reports.kinds import report_rules
from intake.reports.models import Report
from intake.users import Role

#: What a page's markup must not hold: each would be refused by ``script-src 'self'`` /
#: ``style-src 'self'`` (an inline script, an event handler attribute, a javascript: URL,
#: an inline style attribute or element).
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:|\sstyle\s*=|<style", re.I
)


def _cadre_gets(services: Services, item_id: int, report_id: int = 1) -> list[str]:
    """Every GET route under /cadre (from the app's route table, as its schema lists it),
    with each path parameter filled in every way it can be."""
    schema = create_app(services.settings, services).openapi()
    templates = [
        path for path, operations in schema["paths"].items()
        if path.startswith("/cadre") and "get" in operations
    ]  # fmt: skip
    assert len(templates) >= 8, templates
    urls = []
    for template in templates:
        url = template.replace("{item_id}", str(item_id)).replace("{attachment_id}", "1")
        url = url.replace("{report_id}", str(report_id)).replace("{call_id}", "0" * 12)
        url = url.replace("{helper_id}", "1").replace("{household_id}", "1")
        url = url.replace("{visit_id}", "1")
        url = url.replace("{job_id}", "0" * 32)
        kinds = ("roster", "measures", "screening", "reports") if "{kind}" in url else ("",)
        urls += [url.replace("{kind}", kind) for kind in kinds]
    return urls


def _assert_hardened(response: httpx.Response, *, personal: bool = True) -> None:
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    policy = response.headers.get("content-security-policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in policy.split("; ") if part}
    assert directives.get("script-src") == ["'self'"], where
    assert directives.get("style-src") == ["'self'"], where
    assert directives.get("frame-ancestors") == ["'none'"], where
    assert directives.get("object-src") == ["'none'"], where
    assert "unsafe" not in policy, where
    assert response.headers.get("x-frame-options") == "DENY", where
    assert response.headers.get("referrer-policy") == "same-origin", where
    assert response.headers.get("x-content-type-options") == "nosniff", where
    if personal:
        assert response.headers.get("cache-control") == "no-store", where
    if response.headers.get("content-type", "").startswith("text/html"):
        found = INLINE.search(response.text)
        assert found is None, f"{where}: inline {found.group(0) if found else ''!r}"


def _report(services: Services) -> Report:
    """A tip from the chat, so the report pages are rendered too."""
    policy = services.default_policy
    draft = ReportDraft("tip", "gangkou-bailing", "household", "<b>他家</b>", "张大山")
    with services.db.write() as db:
        return file_report(
            db,
            draft,
            policy=policy,
            rules=report_rules(policy),
            cipher=services.cipher,
            calendar=services.calendar,
            new_code=services.effects.new_code,
            now=services.clock(),
        )


async def test_every_cadre_page_sends_the_hardening_headers(services: Services) -> None:
    item = apply_by_chat(services, sender="sec-1")
    callback = callback_item(services, "gangkou-bailing")
    report = _report(services)
    add_user(services, "root", Role.ADMIN, None)
    seen = 0
    async with client_for(services) as client:
        _assert_hardened(await client.get("/cadre/login"))
        _assert_hardened(await client.get("/cadre/"))  # the redirect to the login page
        _assert_hardened(await client.post(f"/cadre/items/{item.id}/act"))  # 401 page
        csrf = await login(client, "root")
        for item_id in (item.id or 0, callback.id or 0):
            for url in _cadre_gets(services, item_id, report.id or 0):
                response = await client.get(url)
                assert response.status_code < 500, url
                assert "{" not in url, url
                _assert_hardened(response)
                seen += response.status_code == 200
        _assert_hardened(await client.get("/cadre/no-such-page"))
        _assert_hardened(await client.get("/cadre/items/abc"))  # 422 page
        forged = await client.post(f"/cadre/items/{item.id}/act", data={"csrf_token": "x"})
        _assert_hardened(forged)
        logout = await client.post("/cadre/logout", data={"csrf_token": csrf})
        _assert_hardened(logout)
    assert seen >= 16, "the pages themselves, not only refusals"


async def test_static_files_are_hardened_but_may_be_cached(services: Services) -> None:
    async with client_for(services) as client:
        for name, kind in (
            ("cadre.css", "text/css"),
            ("cadre.js", "javascript"),
            ("htmx.min.js", "javascript"),
        ):
            response = await client.get(f"/cadre/static/{name}")
            assert response.status_code == 200 and kind in response.headers["content-type"]
            _assert_hardened(response, personal=False)
            assert "no-store" not in response.headers.get("cache-control", "")


async def test_the_chat_channels_are_left_alone(services: Services) -> None:
    async with client_for(services) as client:
        health = await client.get("/healthz")
    assert health.status_code == 200 and "content-security-policy" not in health.headers
