"""Files filed with an item on the item page: name, decrypted caption, length, the 待听取
mark for voice notes, free text rendered as text; opening a file through its channel
(scoped, logged, never run as a page of ours), end to end with a fake Telegram Bot API.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from cadre_support import (
    PASSWORD,
    VILLAGE_A,
    VILLAGE_B,
    add_user,
    apply_by_chat,
    csrf_of,
    login,
    send_file,
)
from conftest import FakeClock
from fakes.telegram_api import FakeTelegram
from fastapi import FastAPI
from sqlmodel import col, select
from telegram_support import Phone, TelegramRig, telegram_settings
from test_telegram_webhook import apply_through_telegram

from bot.app import cadre_deps
from bot.config import Settings
from bot.services import Services
from intake.attachments import Attachment, AttachmentKind, FileInfo
from intake.audit import AuditEvent
from intake.queue import QueueItem
from intake.users import Role
from intake.web import cadre_router

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"


#: A photo with a caption, a hostile document and a voice note of 67 seconds.
FILES = [
    FileInfo(AttachmentKind.PHOTO, "PH-1", "PU-1", None, "image/jpeg", 9000, None, "住院发票"),
    FileInfo(AttachmentKind.DOCUMENT, "DOC-1", "DU-1", f"{XSS}.html", "text/html", 120, None, XSS),
    FileInfo(AttachmentKind.VOICE, "VO-1", "VU-1", None, "audio/ogg", 4000, 67, None),
]


def _files(services: Services, sender: str) -> None:
    """The villager sends :data:`FILES` before applying (they are linked on submission)."""
    for number, info in enumerate(FILES):
        send_file(services, sender=sender, file=info, number=number)


def _app(services: Services, opened: list[str], fail: bool = False) -> FastAPI:
    """The cadre pages with an opener for the webhook channel's files."""
    deps = cadre_deps(services)

    async def open_file(attachment: Attachment) -> tuple[bytes, str | None]:
        if fail:
            raise RuntimeError("channel down")
        opened.append(attachment.file_id)
        return f"content of {attachment.file_id}".encode(), attachment.mime

    deps.attachment_openers = {"webhook": open_file}
    app = FastAPI()
    app.include_router(cadre_router(deps))
    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _ids(services: Services, item: QueueItem) -> list[int]:
    with services.db.read() as db:
        rows = db.exec(
            select(Attachment)
            .where(Attachment.queue_item_id == item.id)
            .order_by(col(Attachment.id))
        )
        return [row.id or 0 for row in rows]


async def test_item_page_shows_name_caption_length_and_the_listening_mark(
    services: Services,
) -> None:
    _files(services, "a-1")
    item = apply_by_chat(services, sender="a-1")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with _client(_app(services, [])) as client:
        await login(client, "cun")
        page = (await client.get(f"/cadre/items/{item.id}")).text
    assert "照片" in page and "文件" in page and "语音" in page
    assert "附言: 住院发票" in page, "the caption, decrypted"
    assert f'<span class="file-name">{ESCAPED}.html</span>' in page
    assert f"附言: {ESCAPED}" in page
    assert "<script>" not in page and "onerror=alert(1)>" not in page
    assert "时长 1:07" in page and page.count("待听取") == 1
    assert '<span class="tag listen">待听取</span>' in page
    links = [f'href="/cadre/items/{item.id}/attachments/{i}"' for i in _ids(services, item)]
    assert all(link in page for link in links) and len(links) == 3
    assert f'<audio controls preload="none" src="/cadre/items/{item.id}/attachments/' in page


async def test_without_an_opener_for_the_channel_no_link_is_shown(services: Services) -> None:
    _files(services, "a-2")
    item = apply_by_chat(services, sender="a-2")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    app = FastAPI()
    app.include_router(cadre_router(cadre_deps(services)))  # no Telegram: no openers
    async with _client(app) as client:
        await login(client, "cun")
        page = (await client.get(f"/cadre/items/{item.id}")).text
        assert "待听取" in page and "附言: 住院发票" in page
        ids = _ids(services, item)
        assert not any(f'/attachments/{i}"' in page for i in ids), "no link opens a file"
        assert "<audio" not in page
        first = ids[0]
        refused = await client.get(f"/cadre/items/{item.id}/attachments/{first}")
        assert refused.status_code == 404


async def test_opening_a_file_is_scoped_logged_and_never_runs_as_our_page(
    services: Services,
) -> None:
    _files(services, "a-3")
    item = apply_by_chat(services, sender="a-3")
    other = apply_by_chat(services, sender="a-4", serial=4)
    photo, document, voice = _ids(services, item)
    user = add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    add_user(services, "wai", Role.VILLAGE, VILLAGE_B)
    add_user(services, "ops", Role.OPERATOR, "gangkou")
    opened: list[str] = []
    app = _app(services, opened)
    base = f"/cadre/items/{item.id}/attachments"
    async with _client(app) as client:
        await login(client, "cun")
        shown = await client.get(f"{base}/{photo}")
        assert shown.status_code == 200 and shown.content == b"content of PH-1"
        assert shown.headers["content-type"] == "image/jpeg"
        assert shown.headers["content-disposition"].startswith("inline;")
        hostile = await client.get(f"{base}/{document}")
        assert hostile.status_code == 200 and hostile.content == b"content of DOC-1"
        assert hostile.headers["content-type"] == "application/octet-stream"
        assert hostile.headers["content-disposition"].startswith('attachment; filename="')
        assert "<" not in hostile.headers["content-disposition"]
        played = await client.get(f"{base}/{voice}")
        assert played.headers["content-type"] == "audio/ogg"
        for response in (shown, hostile, played):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["content-security-policy"].startswith("sandbox")
            assert response.headers["cache-control"] == "no-store"
        wrong_item = await client.get(f"/cadre/items/{other.id}/attachments/{photo}")
        assert wrong_item.status_code == 404
        assert (await client.get(f"{base}/999999")).status_code == 404
    for name in ("wai", "ops"):
        async with _client(app) as client:
            await login(client, name)
            assert (await client.get(f"{base}/{photo}")).status_code == 404, name
    assert opened == ["PH-1", "DOC-1", "VO-1"]
    with services.db.read() as db:
        events = db.exec(select(AuditEvent).where(AuditEvent.action == "item.attachment_opened"))
        logged = [(e.actor, e.subject_id, e.data["attachment"]) for e in events]
    assert logged == [(f"user:{user.id}", item.id, i) for i in (photo, document, voice)]
    async with _client(app) as client:
        await login(client, "cun")
        timeline = (await client.get(f"/cadre/items/{item.id}")).text
    assert timeline.count("打开了附件") == 3


async def test_a_channel_failure_is_a_polite_page(services: Services) -> None:
    _files(services, "a-5")
    item = apply_by_chat(services, sender="a-5")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with _client(_app(services, [], fail=True)) as client:
        await login(client, "cun")
        response = await client.get(f"/cadre/items/{item.id}/attachments/{_ids(services, item)[0]}")
    assert response.status_code == 502 and response.headers["content-type"].startswith("text/html")
    assert "暂时取不到这个文件" in response.text and "channel down" not in response.text


@pytest.fixture(scope="module")
def telegram_api() -> Iterator[FakeTelegram]:
    with FakeTelegram() as tg:
        yield tg


@pytest.fixture
def rig(settings: Settings, clock: FakeClock, telegram_api: FakeTelegram) -> Iterator[TelegramRig]:
    telegram_api.reset()
    with TelegramRig(telegram_settings(settings, telegram_api), clock, telegram_api) as running:
        yield running
    telegram_api.reset()


def test_a_file_sent_to_the_telegram_bot_opens_on_the_item_page(
    rig: TelegramRig, telegram_api: FakeTelegram
) -> None:
    phone = Phone(rig, 4601)
    bill = telegram_api.add_file(b"%PDF-1.4 hospital bill", file_name="住院发票.pdf")
    phone.say(document=bill, caption="三月住院")
    apply_through_telegram(phone)
    add_user(rig.services, "cun", Role.VILLAGE, VILLAGE_A)
    with rig.services.db.read() as db:
        item = db.exec(select(QueueItem)).one()
        kept = db.exec(select(Attachment).where(Attachment.file_id == bill["file_id"])).one()
    assert kept.queue_item_id == item.id
    with httpx.Client(base_url=rig.url, timeout=30) as client:
        form = client.get("/cadre/login")
        client.post(
            "/cadre/login",
            data={"username": "cun", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        )
        page = client.get(f"/cadre/items/{item.id}").text
        link = f"/cadre/items/{item.id}/attachments/{kept.id}"
        assert f'href="{link}"' in page and "住院发票.pdf" in page and "附言: 三月住院" in page
        assert "待听取" in page, "the voice note sent during the dialog"
        response = client.get(link)
    assert response.status_code == 200 and response.content == b"%PDF-1.4 hospital bill"
    assert response.headers["content-type"] == "application/octet-stream"
    assert (
        "filename*=UTF-8''%E4%BD%8F%E9%99%A2%E5%8F%91%E7%A5%A8.pdf"
        in response.headers["content-disposition"]
    )
    assert telegram_api.calls_for("getFile")


async def test_a_cadre_marks_a_voice_note_listened_once_and_in_scope(services: Services) -> None:
    _files(services, "a-9")
    item = apply_by_chat(services, sender="a-9")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    add_user(services, "other", Role.VILLAGE, VILLAGE_B)
    voice = _ids(services, item)[2]
    url = f"/cadre/items/{item.id}/attachments/{voice}/listened"
    async with _client(_app(services, [])) as client:
        csrf = await login(client, "other")
        outside = await client.post(url, data={"csrf_token": csrf})
        assert outside.status_code == 404
    async with _client(_app(services, [])) as client:
        csrf = await login(client, "cun")
        forged = await client.post(url, data={"csrf_token": "forged"})
        assert forged.status_code == 403
        page = (await client.get(f"/cadre/items/{item.id}")).text
        assert f'action="{url}"' in page
        for _ in range(2):
            done = await client.post(url, data={"csrf_token": csrf})
            assert done.status_code == 303
        page = (await client.get(f"/cadre/items/{item.id}")).text
    assert "待听取" not in page and "听取了语音" in page
    with services.db.read() as db:
        row = db.get(Attachment, voice)
        events = db.exec(select(AuditEvent).where(AuditEvent.action == "item.voice_listened")).all()
    assert row is not None and row.needs_listening is False
    assert len(events) == 1 and events[0].subject_id == item.id
