"""The hotline operator's console over real HTTP: the chat's own dialog driven step by step
in the browser's forms, one conversation per call, each step taken once, the tracking code
shown large, the search box, and only operators let in. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from html import unescape

import httpx
from cadre_support import VILLAGE_A, add_user, client_for, login
from sqlmodel import col, select

from bot.channels.operator import CHANNEL, sender_of, spoken_code
from bot.inbound import InboundMessage
from bot.render import Rendered
from bot.services import Services
from intake.reports.models import Report, ReportSource
from intake.users import Role

_BUTTON = re.compile(
    r'<button type="submit" name="data" value="([^"]+)" class="choice">([^<]+)</button>'
)
_CALL = re.compile(r'action="/cadre/hotline/calls/([0-9a-f]{12})"')
_MID = re.compile(r'name="mid" value="([0-9a-f]{32})"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Call:
    """One call on the console, as an operator's browser sees it."""

    def __init__(self, client: httpx.AsyncClient, page: httpx.Response) -> None:
        self.client = client
        self.page = page
        found = _CALL.search(page.text)
        assert found, page.text
        self.call_id = found.group(1)

    @property
    def buttons(self) -> dict[str, str]:
        return {unescape(label): data for data, label in _BUTTON.findall(self.page.text)}

    def form(self) -> dict[str, str]:
        mid, csrf = _MID.search(self.page.text), _CSRF.search(self.page.text)
        assert mid and csrf
        return {"mid": mid.group(1), "csrf_token": csrf.group(1)}

    async def press(self, label: str) -> httpx.Response:
        assert label in self.buttons, f"no button {label!r}; had {list(self.buttons)}"
        return await self._send({**self.form(), "data": self.buttons[label]})

    async def say(self, text: str) -> httpx.Response:
        return await self._send({**self.form(), "text": text})

    async def _send(self, data: dict[str, str]) -> httpx.Response:
        self.page = await self.client.post(f"/cadre/hotline/calls/{self.call_id}", data=data)
        assert self.page.status_code == 200, self.page.text
        return self.page


async def _take_call(client: httpx.AsyncClient) -> Call:
    console = await client.get("/cadre/hotline")
    assert console.status_code == 200
    csrf = _CSRF.search(console.text)
    assert csrf
    page = await client.post("/cadre/hotline/calls", data={"csrf_token": csrf.group(1)})
    assert page.status_code == 200
    return Call(client, page)


async def test_an_operator_runs_the_chats_dialog_for_a_caller(services: Services) -> None:
    add_user(services, "op", Role.OPERATOR, "gangkou")
    async with client_for(services) as client:
        await login(client, "op")
        call = await _take_call(client)
        assert "请村干部回电话" in call.buttons, "the chat's own menu"
        await call.press("请村干部回电话")
        form = call.form()
        await call.say("139 1234 5678")
        again = await client.post(  # the same form sent twice: taken once
            f"/cadre/hotline/calls/{call.call_id}", data={**form, "text": "139 1234 5678"}
        )
        assert again.status_code == 200
        await call.say("<script>alert(1)</script>想问低保的事")
        code = re.search(
            r'<output id="tracking-code" class="code">([A-Z0-9-]+)</output>', call.page.text
        )
        assert code is not None, "the code to read back, shown large"
        assert "<script>alert(1)</script>" not in call.page.text
        found = await client.get("/cadre/hotline", params={"q": code.group(1)})
        assert f'<span class="code">{code.group(1)}</span>' in found.text
        second = await _take_call(client)
        assert second.call_id != call.call_id
        assert "请村干部回电话" in second.buttons, "a new call starts clean"
    with services.db.read() as db:
        rows = db.exec(
            select(InboundMessage).where(
                InboundMessage.channel == CHANNEL, col(InboundMessage.sender).startswith("op")
            )
        ).all()
    senders = {row.sender for row in rows}
    assert len(senders) == 2, "each call is its own conversation"
    first = [row for row in rows if row.sender.endswith(call.call_id)]
    assert len(first) == 4, "start, button, phone once, note"


async def test_only_operators_use_the_console_and_only_their_own_calls(
    services: Services,
) -> None:
    add_user(services, "op", Role.OPERATOR, "gangkou")
    add_user(services, "op2", Role.OPERATOR, "gangkou")
    add_user(services, "bailing", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        await login(client, "bailing")
        assert (await client.get("/cadre/hotline")).status_code == 403
        await login(client, "op")
        call = await _take_call(client)
        assert (await client.get(f"/cadre/hotline/calls/{call.call_id}")).status_code == 200
        await login(client, "op2")
        other = await client.get(f"/cadre/hotline/calls/{call.call_id}")
        assert other.status_code == 303 and other.headers["location"] == "/cadre/hotline"
        forged = await client.post(f"/cadre/hotline/calls/{call.call_id}", data={"text": "1"})
        assert forged.status_code == 403, "no CSRF token, no step"


def test_the_sender_is_the_operator_and_the_call() -> None:
    assert sender_of(7, "0123456789ab") == "op7-0123456789ab"
    said = (Rendered("回电请求编号：VXFJ-3N5V"), Rendered("还需要办什么？"))
    assert spoken_code(said) is not None
    assert spoken_code((Rendered("没有编号"),)) is None


async def test_a_named_complaint_taken_on_the_phone_is_a_hotline_report_with_no_chat(
    services: Services,
) -> None:
    add_user(services, "op2", Role.OPERATOR, "gangkou")
    async with client_for(services) as client:
        await login(client, "op2")
        call = await _take_call(client)
        await call.press("反映问题 / 举报 / 投诉")
        await call.press("对干部或办事有意见（投诉）")
        await call.press("塘口村")
        await call.press("乡镇政府或乡镇工作人员")
        await call.say("申请三个月了，乡镇一直没人来看。")
        await call.press("实名反映")
        await call.say("周平")
        await call.say("0715-3811062")
        await call.press("是")  # the caller agrees to a call-back on that number
        await call.press("否")  # no ID number
        assert re.search(r'<output id="tracking-code" class="code">', call.page.text)
    with services.db.read() as db:
        report = db.exec(select(Report)).one()
    assert report.source == ReportSource.HOTLINE, "taken on the hotline, not a chat"
    assert report.contact_id is None, "the caller is reached by phone, not the console's chat"
    assert report.routed_level == "county"
