"""Cadre forms over real HTTP (issue 10): a refused form comes back as typed, naming every
missing field at once; the item page shows answers as given; deadlines read right;
revealed phones are tel: links; a call-back names its caller. SQLite and PostgreSQL.
"""

from __future__ import annotations

import re

from cadre_support import (
    VILLAGE_A,
    act,
    add_user,
    apply_by_chat,
    callback_item,
    client_for,
    csrf_of,
    login,
)
from conftest import FakeClock
from sqlmodel import select

from bot.conversation import Incoming
from bot.engine import Input
from bot.services import Services
from intake.callbacks import request_callback
from intake.contacts import find_contact
from intake.helpers.links import deep_link_payload
from intake.queue import QueueItem
from intake.users import Role, User


def _status(services: Services, item_id: int) -> str:
    with services.db.read() as db:
        item = db.get(QueueItem, item_id)
        assert item is not None
        return str(item.status)


def _form(html: str, action: str) -> str:
    """The HTML of the item page's form for ``action``."""
    found = re.search(rf'data-action="{action}">(.*?)</form>', html, re.S)
    assert found, f"no form for {action}"
    return found.group(1)


async def test_a_refused_report_keeps_what_was_typed_and_names_all_missing(
    services: Services,
) -> None:
    item = apply_by_chat(services, sender="f-1")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        csrf = await login(client, "cun")
        await act(client, item.id or 0, csrf, "start_village_review")
        empty = await act(client, item.id or 0, csrf, "village_report")
        assert empty.status_code == 422
        assert "请填写：已入户核实、已确认承诺授权书、村级评议会结果。" in empty.text
        typed = await act(
            client, item.id or 0, csrf, "village_report",
            home_visit="on", meeting_result="评议通过（到会32人）", reason="<b>说明</b>",
        )  # fmt: skip
        assert typed.status_code == 422
        assert "请填写：已确认承诺授权书。" in typed.text, "only what is still missing"
        form = _form(typed.text, "village_report")
        assert 'name="home_visit" value="on" checked' in form
        assert ">评议通过（到会32人）</textarea>" in form
        assert ">&lt;b&gt;说明&lt;/b&gt;</textarea>" in form, "kept, and escaped"
        assert 'name="consent_confirmed" value="on" aria-required="true" aria-invalid' in form
        assert 'name="home_visit" value="on" checked aria-required="true">' in form
        assert re.search(r"<details open>\s*<summary>村级上报乡镇", typed.text)
        assert _status(services, item.id or 0) == "village_review"


async def test_enrol_withdraw_and_merge_keep_their_fields(
    services: Services, clock: FakeClock
) -> None:
    item = apply_by_chat(services, sender="f-2")
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    add_user(services, "xian", Role.COUNTY, "gangkou")
    async with client_for(services) as client:
        csrf = await login(client, "xiang")
        item_id = item.id or 0
        withdraw = await act(client, item_id, csrf, "withdraw", reason="她说再想想")
        assert "请填写：申请人本人（或代办人）已明确要求撤回。" in withdraw.text
        assert ">她说再想想</textarea>" in _form(withdraw.text, "withdraw")
        merge = await act(client, item_id, csrf, "merge", merge_into="ZZZZ-9999", reason="重复")
        assert merge.status_code == 422
        form = _form(merge.text, "merge")
        assert 'value="ZZZZ-9999" aria-required="true" aria-invalid="true"' in form
        assert ">重复</textarea>" in form
        await act(client, item_id, csrf, "start_village_review")
        await act(client, item_id, csrf, "village_report", home_visit="on",
                  consent_confirmed="on", meeting_result="通过")  # fmt: skip
        await act(client, item_id, csrf, "start_notice")
        clock.advance(days=8)
        await act(client, item_id, csrf, "end_notice")
        await client.post("/cadre/logout", data={"csrf_token": csrf})
        csrf = await login(client, "xian")
        enrol = await act(
            client, item_id, csrf, "enrol",
            risk_codes=["02"], measures="医疗救助", measures_due="2027-06-30",
        )  # fmt: skip
        assert enrol.status_code == 422 and "请填写：帮扶责任人（包抓干部）。" in enrol.text
        form = _form(enrol.text, "enrol")
        assert ">医疗救助</textarea>" in form and 'value="2027-06-30"' in form
        assert 'value="02" checked' in form and 'value="01" checked' not in form
        bad_date = await act(
            client, item_id, csrf, "enrol", risk_codes=["02"], helper="艾蔚然", measures_due="明年"
        )
        form = _form(bad_date.text, "enrol")
        assert 'value="艾蔚然"' in form and 'value="明年" aria-invalid="true"' in form
        assert _status(services, item_id) == "county_confirm"


async def test_login_and_account_forms_name_what_is_missing(services: Services) -> None:
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        page = await client.get("/cadre/login")
        csrf = csrf_of(page.text)
        empty = await client.post("/cadre/login", data={"csrf_token": csrf, "username": "cun"})
        assert empty.status_code == 422
        assert "请填写：密码。" in empty.text and "Please fill in: Password." in empty.text
        assert 'value="cun"' in empty.text, "the user name is kept"
        csrf = await login(client, "cun")  # the empty try was not counted as a failure
        saved = await client.post("/cadre/account", data={"csrf_token": csrf, "language": "en"})
        assert saved.status_code == 303
        odd = await client.post("/cadre/account", data={"csrf_token": csrf, "language": "xx"})
        assert odd.status_code == 303, "a language the pages do not speak is ignored"


async def test_a_cadre_links_the_digest_chat_with_a_code_from_the_account_page(
    services: Services,
) -> None:
    add_user(services, "cun2", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        csrf = await login(client, "cun2")
        page = await client.get("/cadre/account")
        assert "还没有绑定聊天" in page.text and "chat_external_id" not in page.text
        shown = await client.post("/cadre/account/link-code", data={"csrf_token": csrf})
        assert shown.status_code == 200
        found = re.search(r'<p class="code" id="link-code">([A-Z0-9-]+)</p>', shown.text)
        assert found, "the code to send from the chat"
        code = found.group(1)
        refused = await client.post("/cadre/account/link-code", data={"csrf_token": "forged"})
        assert refused.status_code == 403
    opened = Input(start=True, payload=deep_link_payload(code))  # /start h_<code>
    asked = services.conversations.receive(Incoming("webhook", "d1", "cadre-chat", opened))
    confirm = [data for r in asked.replies for label, data in r.buttons if label == "是"]
    assert confirm, [r.text for r in asked.replies]
    services.conversations.receive(Incoming("webhook", "d2", "cadre-chat", Input(data=confirm[0])))
    with services.db.read() as db:
        user = db.exec(select(User).where(User.username == "cun2")).one()
    assert (user.chat_channel, user.chat_external_id) == ("webhook", "cadre-chat")
    async with client_for(services) as client:
        await login(client, "cun2")
        assert "已绑定：webhook" in (await client.get("/cadre/account")).text


async def test_answers_as_given_and_an_ended_notice(services: Services, clock: FakeClock) -> None:
    item = apply_by_chat(services, sender="f-3", medical=False)
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    async with client_for(services) as client:
        csrf = await login(client, "xiang")
        item_id = item.id or 0
        page = (await client.get(f"/cadre/items/{item_id}")).text
        assert re.search(r"<th>家中有人患病</th><td>否</td>", page)
        assert "医疗自付费用" not in page, "no invented 0 for an illness answered 否"
        assert re.search(r"<th>家中遭灾</th><td>否</td>", page)
        await act(client, item_id, csrf, "start_village_review")
        await act(client, item_id, csrf, "village_report", home_visit="on",
                  consent_confirmed="on", meeting_result="通过")  # fmt: skip
        await act(client, item_id, csrf, "start_notice")
        clock.advance(days=8)
        page = (await client.get(f"/cadre/items/{item_id}")).text
        assert "公示期满，待乡镇处理" in page and "已超期" not in page
        queue = (await client.get("/cadre/")).text
        assert "公示期满，待乡镇处理" in queue and "已超期" not in queue
        overdue = (await client.get("/cadre/", params={"overdue": "1"})).text
        assert item.tracking_code not in overdue


async def test_a_revealed_phone_is_a_tel_link_without_the_button(services: Services) -> None:
    item = apply_by_chat(services, sender="f-4")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        csrf = await login(client, "cun")
        page = (await client.get(f"/cadre/items/{item.id}")).text
        assert 'hx-target="closest dd"' in page and '<span id="id-value" class="nowrap">' in page
        shown = await client.post(f"/cadre/items/{item.id}/reveal/phone", data={"csrf_token": csrf})
        assert '<a class="tel" href="tel:13812345678">' in shown.text
        assert "<button" not in shown.text and 'id="phone-value"' in shown.text


async def test_a_callback_names_its_caller_and_links_their_application(
    services: Services,
) -> None:
    item = apply_by_chat(services, sender="f-5", head="赵春花")
    anonymous = callback_item(services, VILLAGE_A)
    with services.db.write() as db:
        contact = find_contact(db, "webhook", "f-5")
        assert contact is not None
        call = request_callback(
            db, contact_id=contact.id, phone="13900002222", note="问进度", context="menu",
            village_code=VILLAGE_A, policy=services.default_policy, cipher=services.cipher,
            new_code=services.effects.new_code, now=services.clock(),
        )  # fmt: skip
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        await login(client, "cun")
        page = (await client.get(f"/cadre/items/{call.id}")).text
        assert "<dt>来电人</dt><dd>赵春花</dd>" in page
        assert f'href="/cadre/items/{item.id}"><span class="code">{item.tracking_code}' in page
        plain = (await client.get(f"/cadre/items/{anonymous.id}")).text
        assert "来电人" not in plain
    with services.db.read() as db:
        assert db.exec(select(QueueItem).where(QueueItem.id == call.id)).one().kind == "callback"
