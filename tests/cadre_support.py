"""Helpers for the cadre tests: real applications through the chat, users, HTTP clients.

Applications are made the way villagers make them: a whole conversation through
``services.conversations.receive``; nothing is inserted behind the service's back.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlmodel import select

from bot.app import create_app
from bot.conversation import Incoming
from bot.engine import Input
from bot.services import Services
from intake.attachments import FileInfo
from intake.callbacks import request_callback
from intake.identity import id_check_digit
from intake.queue import QueueItem
from intake.users import Role, User, create_user

PASSWORD = "correct horse battery"
VILLAGE_A = "gangkou-bailing"  # 柏岭村
VILLAGE_B = "gangkou-hengling"  # 横岭村
VILLAGE_NAMES = {VILLAGE_A: "柏岭村", VILLAGE_B: "横岭村", "gangkou-dongquan": "洞泉村"}
OTHER_TOWNSHIP_VILLAGE = "boluo-sample-a"


def id_number(serial: int, born: str = "19580315") -> str:
    """A valid GB 11643 ID number for test household ``serial``."""
    first17 = f"421223{born}{serial % 1000:03d}"
    return first17 + id_check_digit(first17)


def _steps(
    village: str, head: str, id_no: str, phone: str, medical: bool, size: int = 3
) -> list[tuple[str, str]]:
    no = ("press", "否")
    return [
        ("press", "申请防返贫监测"),
        ("press", "给自己家申请"),
        ("press", VILLAGE_NAMES[village]),
        ("press", "是" if medical else "否"),
        *([("type", "3.5万")] if medical else []),
        no, no, no, no, no, no,
        ("press", f"{size}人"),
        ("type", "24000"),
        ("type", "三万"),
        ("type", "2万元"),
        no, no, no, no, no, no,
        ("type", head),
        ("type", id_no),
        ("type", phone),
        ("press", "同意"),
        ("press", "确认提交"),
    ]  # fmt: skip


def apply_by_chat(
    services: Services,
    *,
    sender: str,
    village: str = VILLAGE_A,
    head: str = "王大山",
    serial: int = 1,
    phone: str = "138 1234 5678",
    medical: bool = True,
    size: int = 3,
) -> QueueItem:
    """Submit a self-application through the chat, as a villager on the webhook channel."""
    counter = 0

    def send(given: Input) -> list[tuple[str, str]]:
        nonlocal counter
        counter += 1
        message = Incoming("webhook", f"{sender}-{counter}", sender, given, "zh_CN")
        outcome = services.conversations.receive(message)
        return [button for reply in outcome.replies for button in reply.buttons]

    def press(label: str, buttons: list[tuple[str, str]]) -> list[tuple[str, str]]:
        data = next((d for shown, d in buttons if shown == label), None)
        if data is None and label in VILLAGE_NAMES.values():  # two regions: township first
            buttons = press("港口乡", buttons)
            data = next((d for shown, d in buttons if shown == label), None)
        assert data is not None, f"no button {label!r}; had {[b for b, _ in buttons]}"
        return send(Input(data=data))

    buttons = send(Input(start=True))
    for kind, value in _steps(village, head, id_number(serial), phone, medical, size):
        buttons = send(Input(text=value)) if kind == "type" else press(value, buttons)
    with services.db.read() as db:
        items = list(db.exec(select(QueueItem).order_by(QueueItem.id.desc())))  # type: ignore[union-attr]
    assert items, "the conversation did not submit an application"
    return items[0]


def send_file(services: Services, *, sender: str, file: FileInfo, number: int) -> None:
    """A villager sends a photo, document or voice note on the webhook channel (kept until
    they file something, then linked to it)."""
    meta = {"aside": f"telegram.attachment.{file.kind.value}", "attachment": file.to_json()}
    message = Incoming("webhook", f"{sender}-file-{number}", sender, Input(), "zh_CN", meta=meta)
    services.conversations.receive(message)


def callback_item(services: Services, village: str, note: str = "请回电") -> QueueItem:
    """A call-back request for ``village`` (as the menu's 人工 makes)."""
    with services.db.write() as db:
        return request_callback(
            db,
            contact_id=None,
            phone="13900001111",
            note=note,
            context="menu",
            village_code=village,
            policy=services.default_policy,
            cipher=services.cipher,
            new_code=services.effects.new_code,
            now=services.clock(),
        )


def add_user(
    services: Services, username: str, role: Role, place: str | None, **extra: Any
) -> User:
    """A user with :data:`PASSWORD`."""
    with services.db.write() as db:
        return create_user(
            db,
            username=username,
            password=PASSWORD,
            role=role,
            place=place,
            policies=services.policies,
            now=services.clock(),
            **extra,
        )


def client_for(services: Services) -> httpx.AsyncClient:
    """An HTTP client talking to the whole app (no lifespan: no background ticks)."""
    app = create_app(services.settings, services)
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    """Log in; returns the session's CSRF token."""
    form = await client.get("/cadre/login")
    response = await client.post(
        "/cadre/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
    )
    assert response.status_code == 303, response.text
    page = await client.get("/cadre/")
    return csrf_of(page.text)


async def act(
    client: httpx.AsyncClient, item_id: int, csrf: str, action: str, **fields: str | Sequence[str]
) -> httpx.Response:
    """POST one procedure action from the item page's form."""
    data: dict[str, Any] = {"csrf_token": csrf, "action": action, **fields}
    return await client.post(f"/cadre/items/{item_id}/act", data=data)


def at(clock_now: datetime) -> str:
    """A date for form fields."""
    return clock_now.date().isoformat()


def xlsx_rows(content: bytes) -> list[list[Any]]:
    """The cells of an exported workbook's sheet, row by row (the bytes are compressed)."""
    book = load_workbook(io.BytesIO(content))
    return [list(row) for row in book.active.iter_rows(values_only=True)]


def pdf_text(content: bytes) -> str:
    """The text of every page of a PDF (its streams are compressed, its CJK text encoded)."""
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)
