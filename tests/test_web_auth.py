"""Authorization over real HTTP: every cadre route tried logged out, with a forged CSRF
token, and as a cadre of another village, a team of another township and a county office
of another region. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cadre_support import (
    PASSWORD,
    VILLAGE_A,
    VILLAGE_B,
    act,
    add_user,
    apply_by_chat,
    callback_item,
    client_for,
    csrf_of,
    login,
    pdf_text,
    xlsx_rows,
)
from conftest import TEST_SECRET
from sqlmodel import select

from bot.app import create_app
from bot.config import Settings
from bot.services import Services
from intake.audit import AuditEvent
from intake.queue import ItemStatus, QueueItem
from intake.users import Role, disable_user
from intake.web.auth import COOKIE


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Two regions, so there is another township and another county to try."""
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        secret_key=TEST_SECRET,
        webhook_secret="webhook-test-secret",
        regions="gangkou,boluo",
        _env_file=None,  # type: ignore[call-arg]
    )


def _gets(item_id: int) -> list[str]:
    return [
        "/cadre/",
        f"/cadre/items/{item_id}",
        "/cadre/exports",
        "/cadre/exports/roster.xlsx",
        "/cadre/exports/measures.xlsx",
        "/cadre/exports/screening.xlsx",
        "/cadre/exports/notice",
        "/cadre/exports/notice.pdf",
        "/cadre/account",
    ]


def _posts(item_id: int) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"/cadre/items/{item_id}/act", {"action": "start_village_review"}),
        (f"/cadre/items/{item_id}/reveal/id", {}),
        (f"/cadre/items/{item_id}/reveal/phone", {}),
        ("/cadre/account", {"language": "en"}),
        ("/cadre/account/link-code", {}),
        ("/cadre/logout", {}),
    ]


async def test_logged_out_client_gets_nothing(services: Services) -> None:
    item = apply_by_chat(services, sender="auth-1")
    assert item.id is not None
    async with client_for(services) as client:
        for url in _gets(item.id):
            response = await client.get(url)
            assert response.status_code == 303, url
            assert response.headers["location"] == "/cadre/login"
            assert "王大山" not in response.text
        for url, data in _posts(item.id):
            response = await client.post(url, data=data)
            assert response.status_code == 401, url
        login_page = await client.get("/cadre/login")
        assert login_page.status_code == 200
    _assert_untouched(services, item)


async def test_forged_or_missing_csrf_token_is_refused(services: Services) -> None:
    item = apply_by_chat(services, sender="auth-2")
    assert item.id is not None
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        real = await login(client, "cun")
        for forged in ("", "forged-token", real[:-1] + ("A" if real[-1] != "A" else "B")):
            for url, data in _posts(item.id):
                response = await client.post(url, data={**data, "csrf_token": forged})
                assert response.status_code == 403, (url, forged)
            response = await client.post(
                f"/cadre/items/{item.id}/act",
                data={"action": "start_village_review"},
                headers={"X-CSRF-Token": forged},
            )
            assert response.status_code == 403
        still = await client.get("/cadre/")
        assert still.status_code == 200, "a refused POST did not log the user out"
    _assert_untouched(services, item)


async def test_login_form_needs_its_csrf_token(services: Services) -> None:
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        await client.get("/cadre/login")
        response = await client.post("/cadre/login", data={"username": "cun", "password": PASSWORD})
        assert response.status_code == 403
        assert COOKIE in client.cookies


@pytest.mark.parametrize(
    ("username", "role", "place"),
    [
        ("other-village", Role.VILLAGE, VILLAGE_B),
        ("other-township", Role.TOWNSHIP, "boluo-sample"),
        ("other-county", Role.COUNTY, "boluo"),
        ("other-village-far", Role.VILLAGE, "boluo-sample-yicun"),
    ],
)
async def test_users_outside_the_scope_cannot_see_or_act(
    services: Services, username: str, role: Role, place: str
) -> None:
    item = apply_by_chat(services, sender="auth-3")
    callback = callback_item(services, VILLAGE_A, note="外村看不到")
    await _enrol_through_http(services, item)
    noticed = apply_by_chat(services, sender="auth-3n", serial=2, head="王小河")
    await _post_notice_through_http(services, noticed)
    assert item.id is not None and callback.id is not None
    async with client_for(services) as client:  # the rightful cadre's exports have them
        await login(client, "own-cun")
        own = await _export_texts(client)
    assert all("王大山" in own[url] for url in own if "roster" in url or "measures" in url)
    assert "王小河" in own["/cadre/exports/notice"] and "王小河" in own["/cadre/exports/notice.pdf"]
    add_user(services, username, role, place)
    async with client_for(services) as client:
        csrf = await login(client, username)
        for item_id in (item.id, callback.id, noticed.id):
            assert (await client.get(f"/cadre/items/{item_id}")).status_code == 404
            for url, data in _posts(item_id or 0)[:3]:
                response = await client.post(url, data={**data, "csrf_token": csrf})
                assert response.status_code == 404, url
        queue = await client.get("/cadre/", params={"status": "all"})
        assert item.tracking_code not in queue.text and callback.tracking_code not in queue.text
        for url in _gets(item.id)[2:8]:
            response = await client.get(url)
            assert response.status_code == 200, url
            assert "王大山".encode() not in response.content, url
        theirs = await _export_texts(client)
        for url, text in theirs.items():
            assert "王大山" not in text and "王小河" not in text, url
            assert "外村看不到" not in text, url
        for url in _gets(item.id)[3:6]:
            rows = xlsx_rows((await client.get(url)).content)
            assert len(rows) == 3 and rows[2][0] in ("序号", "排查人（签字）"), url  # headers only
        assert "公示" in theirs["/cadre/exports/notice.pdf"]
        wrong_village = await client.get(
            "/cadre/exports/roster.xlsx", params={"village": VILLAGE_A}
        )
        assert wrong_village.status_code == 404
    with services.db.read() as db:
        reveals = db.exec(select(AuditEvent).where(AuditEvent.action.like("item.%_revealed")))  # type: ignore[attr-defined]
        assert list(reveals) == []


async def test_the_items_own_village_township_and_county_can_see_it(services: Services) -> None:
    item = apply_by_chat(services, sender="auth-4")
    for name, role, place in (
        ("cun", Role.VILLAGE, VILLAGE_A),
        ("xiang", Role.TOWNSHIP, "gangkou"),
        ("xian", Role.COUNTY, "gangkou"),
        ("ops", Role.OPERATOR, "gangkou"),
        ("root", Role.ADMIN, None),
    ):
        add_user(services, name, role, place)
        async with client_for(services) as client:
            await login(client, name)
            page = await client.get(f"/cadre/items/{item.id}")
            assert page.status_code == 200 and "王大山" in page.text, name
            exports = await client.get("/cadre/exports")
            assert exports.status_code == (403 if role is Role.OPERATOR else 200), name


async def test_operator_reads_but_cannot_act_or_reveal(services: Services) -> None:
    item = apply_by_chat(services, sender="auth-5")
    add_user(services, "ops", Role.OPERATOR, "gangkou")
    async with client_for(services) as client:
        csrf = await login(client, "ops")
        page = await client.get(f"/cadre/items/{item.id}")
        assert 'name="action"' not in page.text and "reveal/id" not in page.text
        response = await act(client, item.id or 0, csrf, "start_village_review")
        assert response.status_code == 403
        reveal = await client.post(f"/cadre/items/{item.id}/reveal/id", data={"csrf_token": csrf})
        assert reveal.status_code == 404
    _assert_untouched(services, item)


async def test_session_cookie_is_signed_httponly_and_samesite(services: Services) -> None:
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        form = await client.get("/cadre/login")
        response = await client.post(
            "/cadre/login",
            data={"username": "cun", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        )
        header = response.headers["set-cookie"].lower()
        assert "httponly" in header and "samesite=lax" in header and "path=/" in header
        token = client.cookies[COOKIE]
        client.cookies.set(COOKIE, token[:-2] + ("aa" if not token.endswith("aa") else "bb"))
        assert (await client.get("/cadre/")).status_code == 303


async def test_disabling_a_user_ends_their_session(services: Services) -> None:
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        await login(client, "cun")
        with services.db.write() as db:
            disable_user(db, "cun", actor="cli", now=services.clock())
        assert (await client.get("/cadre/")).status_code == 303


async def test_logout_ends_the_session(services: Services) -> None:
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        csrf = await login(client, "cun")
        response = await client.post("/cadre/logout", data={"csrf_token": csrf})
        assert response.status_code == 303
        assert (await client.get("/cadre/")).status_code == 303


async def test_a_copied_cookie_stops_working_after_logout(services: Services) -> None:
    user = add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        csrf = await login(client, "cun")
        copied = client.cookies[COOKIE]
        async with client_for(services) as thief:
            thief.cookies.set(COOKIE, copied)
            assert (await thief.get("/cadre/")).status_code == 200, "the copy works meanwhile"
            response = await client.post("/cadre/logout", data={"csrf_token": csrf})
            assert response.status_code == 303
            after = await thief.get("/cadre/")
            assert after.status_code == 303 and after.headers["location"] == "/cadre/login"
            posted = await thief.post("/cadre/logout", data={"csrf_token": csrf})
            assert posted.status_code == 401
            assert (await thief.get("/cadre/account")).status_code == 303
    async with client_for(services) as again:
        await login(again, "cun")
        assert (await again.get("/cadre/")).status_code == 200, "logging in again works"
    with services.db.read() as db:
        logged = db.exec(select(AuditEvent).where(AuditEvent.action == "user.logout")).all()
    assert [(e.subject_id, e.actor) for e in logged] == [(user.id, f"user:{user.id}")]


async def test_login_throttling_over_http(services: Services) -> None:
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        csrf = csrf_of((await client.get("/cadre/login")).text)
        statuses = []
        for password in ["wrong"] * 5 + [PASSWORD]:
            response = await client.post(
                "/cadre/login", data={"username": "cun", "password": password, "csrf_token": csrf}
            )
            statuses.append(response.status_code)
        assert statuses == [401] * 5 + [429]
        assert response.headers["retry-after"] == "60"
        assert "请于 09:31 后再试" in response.text, "when to come back, Beijing time"
        assert "try again after 09:31" in response.text, "and in English"


async def test_guessing_at_a_name_does_not_keep_the_cadre_out_of_their_office(
    services: Services,
) -> None:
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as office:  # 10.0.0.1, where the cadre logged in before
        await login(office, "cun")
    transport = httpx.ASGITransport(
        app=create_app(services.settings, services), client=("203.0.113.9", 1)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as stranger:
        csrf = csrf_of((await stranger.get("/cadre/login")).text)
        for password in ["guess"] * 5 + [PASSWORD]:
            response = await stranger.post(
                "/cadre/login", data={"username": "cun", "password": password, "csrf_token": csrf}
            )
        assert response.status_code == 429, "the stranger waits, even with the right password"
    async with client_for(services) as office:
        await login(office, "cun")
        assert (await office.get("/cadre/")).status_code == 200


async def _export_texts(client: httpx.AsyncClient) -> dict[str, str]:
    """Each export's readable content: page text, every workbook cell, the PDF's text."""
    texts: dict[str, str] = {}
    for url in _gets(0)[2:8]:
        response = await client.get(url)
        assert response.status_code == 200, url
        if url.endswith(".xlsx"):
            rows = xlsx_rows(response.content)
            texts[url] = "\n".join(str(cell) for row in rows for cell in row if cell is not None)
        elif url.endswith(".pdf"):
            texts[url] = pdf_text(response.content)
        else:
            texts[url] = response.text
    return texts


async def _post_notice_through_http(services: Services, item: QueueItem) -> None:
    """Move ``item`` onto public notice with the rightful users (made by the enrolment)."""
    for user, action, fields in [
        ("own-cun", "start_village_review", {}),
        (
            "own-cun",
            "village_report",
            {"home_visit": "on", "consent_confirmed": "on", "meeting_result": "通过"},
        ),
        ("own-xiang", "start_notice", {}),
    ]:
        async with client_for(services) as client:
            csrf = await login(client, user)
            response = await act(client, item.id or 0, csrf, action, **fields)
            assert response.status_code == 303, response.text


async def test_one_cadres_lockout_does_not_lock_the_shared_office_address(
    services: Services,
) -> None:
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    async with client_for(services) as client:  # every client comes from 10.0.0.1
        csrf = csrf_of((await client.get("/cadre/login")).text)
        for _ in range(6):
            response = await client.post(
                "/cadre/login", data={"username": "cun", "password": "wrong", "csrf_token": csrf}
            )
        assert response.status_code == 429
    async with client_for(services) as colleague:
        await login(colleague, "xiang")
        assert (await colleague.get("/cadre/")).status_code == 200


def _assert_untouched(services: Services, item: QueueItem) -> None:
    with services.db.read() as db:
        fresh = db.get(QueueItem, item.id)
        actions = [
            e.action
            for e in db.exec(
                select(AuditEvent).where(
                    AuditEvent.subject_id == item.id, AuditEvent.subject_kind == "queue_item"
                )
            )
        ]
    assert fresh is not None and fresh.status == ItemStatus.SUBMITTED
    assert actions == ["application.submitted"]


async def _enrol_through_http(services: Services, item: QueueItem) -> None:
    """Move ``item`` to enrolled with the rightful users, so exports have rows."""
    add_user(services, "own-cun", Role.VILLAGE, VILLAGE_A)
    add_user(services, "own-xiang", Role.TOWNSHIP, "gangkou")
    add_user(services, "own-xian", Role.COUNTY, "gangkou")
    item_id = item.id or 0
    steps: list[tuple[str, str, dict[str, str | list[str]]]] = [
        ("own-cun", "start_village_review", {}),
        (
            "own-cun",
            "village_report",
            {"home_visit": "on", "consent_confirmed": "on", "meeting_result": "通过"},
        ),
        ("own-xiang", "start_notice", {}),
    ]
    for user, action, fields in steps:
        async with client_for(services) as client:
            csrf = await login(client, user)
            response = await act(client, item_id, csrf, action, **fields)
            assert response.status_code == 303, response.text
    services.clock.advance(days=9)  # type: ignore[attr-defined]
    for user, action, fields in [
        ("own-xiang", "end_notice", {}),
        ("own-xian", "enrol", {"risk_codes": ["01"], "helper": "刘莹嗣"}),
    ]:
        async with client_for(services) as client:
            csrf = await login(client, user)
            response = await act(client, item_id, csrf, action, **fields)
            assert response.status_code == 303, response.text


async def test_client_helper_is_real_http(services: Services) -> None:
    async with client_for(services) as client:
        response = await client.get("/healthz")
    assert isinstance(response, httpx.Response) and response.json()["ok"] is True


def _is_error_page(response: httpx.Response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert '"detail"' not in response.text and text in response.text, response.text
    assert "<!doctype html>" in response.text


async def test_refusals_are_polite_html_pages_in_the_users_language(services: Services) -> None:
    item = apply_by_chat(services, sender="auth-6")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_B)
    add_user(services, "en-cun", Role.VILLAGE, VILLAGE_B, language="en")
    add_user(services, "ops", Role.OPERATOR, "gangkou")
    async with client_for(services) as client:
        logged_out = await client.post(f"/cadre/items/{item.id}/act", data={"action": "x"})
        _is_error_page(logged_out, 401, "请先登录")
        assert 'href="/cadre/login"' in logged_out.text
        csrf = await login(client, "cun")
        outside = await client.get(f"/cadre/items/{item.id}")
        _is_error_page(outside, 404, "不在您的辖区内")
        assert 'href="/cadre/"' in outside.text and "返回待办队列" in outside.text
        assert "王大山" not in outside.text
        reveal = await client.post(f"/cadre/items/{item.id}/reveal/id", data={"csrf_token": csrf})
        _is_error_page(reveal, 404, "不在您的辖区内")
        forged = await client.post(
            f"/cadre/items/{item.id}/act", data={"action": "withdraw", "csrf_token": "forged"}
        )
        _is_error_page(forged, 403, "页面已经过期")
        not_a_number = await client.get("/cadre/items/abc")
        _is_error_page(not_a_number, 422, "没有办理")
        village = await client.get("/cadre/exports/roster.xlsx", params={"village": VILLAGE_A})
        _is_error_page(village, 404, "不在您的辖区内")
    async with client_for(services) as client:
        await login(client, "en-cun")
        outside = await client.get(f"/cadre/items/{item.id}")
        _is_error_page(outside, 404, "outside your area")
        assert "Back to the queue" in outside.text and 'lang="en"' in outside.text
    async with client_for(services) as client:
        await login(client, "ops")
        exports = await client.get("/cadre/exports")
        _is_error_page(exports, 403, "您的角色不能做这件事")
    async with client_for(services) as client:
        elsewhere = await client.get("/no-such-page")
        assert elsewhere.status_code == 404 and elsewhere.json() == {"detail": "Not Found"}
        redirect = await client.get(f"/cadre/items/{item.id}")
        assert redirect.status_code == 303 and redirect.headers["location"] == "/cadre/login"
    _assert_untouched(services, item)
