"""The queue and item pages over real HTTP: filters, order, marks, the logged reveal, the
whole procedure with the applicant's notices, refusals with a clear message, and XSS
payloads in every free-text field rendered as text. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import re

import pytest
from cadre_support import (
    VILLAGE_A,
    VILLAGE_B,
    act,
    add_user,
    apply_by_chat,
    callback_item,
    client_for,
    login,
)
from conftest import FakeClock
from sqlmodel import col, select

from bot.services import Services
from intake.audit import AuditEvent
from intake.queue import QueueItem
from intake.users import Role
from notifications.outbox import OutboxMessage

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"


def _codes(html: str) -> list[str]:
    return re.findall(r'<span class="code">([A-Z0-9-]+)</span>', html)


async def test_queue_filters_order_counts_and_marks(services: Services, clock: FakeClock) -> None:
    plain = apply_by_chat(services, sender="q-1", serial=1, medical=False)
    ill = apply_by_chat(services, sender="q-2", serial=2)
    other = apply_by_chat(services, sender="q-3", serial=3, village=VILLAGE_B, head="李四")
    call = callback_item(services, VILLAGE_A)
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    async with client_for(services) as client:
        csrf = await login(client, "xiang")
        for item in (ill, other):
            await act(client, item.id or 0, csrf, "start_village_review")
            await act(client, item.id or 0, csrf, "village_report", home_visit="on",
                      consent_confirmed="on", meeting_result="通过")  # fmt: skip
        clock.advance(days=1)
        await act(client, other.id or 0, csrf, "start_notice")
        page = await client.get("/cadre/")
        assert page.status_code == 200
        assert '<option value="pending" selected>' in page.text, "open items by default"
        order = _codes(page.text)
        assert order[:2] == [ill.tracking_code, other.tracking_code], "deadlines first"
        assert set(order) == {
            plain.tracking_code,
            ill.tracking_code,
            other.tracking_code,
            call.tracking_code,
        }
        assert "乡镇审核 <b>1</b>" in page.text and "公示中 <b>1</b>" in page.text
        assert "已提交 <b>1</b>" in page.text and "待回电 <b>1</b>" in page.text
        by_village = await client.get("/cadre/", params={"village": VILLAGE_B})
        assert _codes(by_village.text) == [other.tracking_code]
        by_kind = await client.get("/cadre/", params={"kind": "callback"})
        assert _codes(by_kind.text) == [call.tracking_code]
        by_status = await client.get("/cadre/", params={"status": "township_review"})
        assert _codes(by_status.text) == [ill.tracking_code]
        by_risk = await client.get("/cadre/", params={"risk": "01"})
        assert set(_codes(by_risk.text)) == {ill.tracking_code, other.tracking_code}
        assert "已超期" not in page.text
        clock.advance(days=5)
        late = await client.get("/cadre/", params={"overdue": "1"})
        assert _codes(late.text) == [ill.tracking_code]
        assert 'class="item overdue' in late.text and "已超期" in late.text
        partial = await client.get(
            "/cadre/", params={"kind": "callback"}, headers={"HX-Request": "true"}
        )
        assert "<html" not in partial.text and call.tracking_code in partial.text
        junk = await client.get(
            "/cadre/", params={"status": "'; drop", "village": "x", "risk": "zz", "page": "-3"}
        )
        assert junk.status_code == 200 and len(_codes(junk.text)) == 4


async def test_fast_track_items_come_first(services: Services) -> None:
    normal = apply_by_chat(services, sender="f-1", serial=1)
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    second = apply_by_chat(services, sender="f-2", serial=2)
    with services.db.write() as db:
        fast = db.get(QueueItem, second.id)
        assert fast is not None
        fast.fast_track = True
        db.add(fast)
    async with client_for(services) as client:
        await login(client, "cun")
        page = await client.get("/cadre/")
        assert _codes(page.text)[:2] == [fast.tracking_code, normal.tracking_code]
        only = await client.get("/cadre/", params={"fast": "1"})
        assert _codes(only.text) == [fast.tracking_code] and "优先" in only.text


async def test_item_page_shows_the_application_and_reveal_is_logged(services: Services) -> None:
    item = apply_by_chat(services, sender="i-1", serial=7)
    user = add_user(services, "cun", Role.VILLAGE, VILLAGE_A, display_name="柏岭村干部")
    async with client_for(services) as client:
        csrf = await login(client, "cun")
        page = await client.get(f"/cadre/items/{item.id}")
        text = page.text
        assert "王大山" in text and "421***********" in text and "138****5678" in text
        assert "19580315" not in text and "13812345678" not in text
        assert "医疗自付" in text, "the assessment explains itself with numbers"
        assert "负面清单" in text and "申请时的回答" in text and "办理记录" in text
        assert "开始村级核实" in text, "the state's actions are offered"
        revealed = await client.post(f"/cadre/items/{item.id}/reveal/id", data={"csrf_token": csrf})
        assert revealed.status_code == 200 and "19580315" in revealed.text
        phone = await client.post(
            f"/cadre/items/{item.id}/reveal/phone", headers={"X-CSRF-Token": csrf}
        )
        assert "13812345678" in phone.text
        after = await client.get(f"/cadre/items/{item.id}")
        assert "查看了完整身份证号" in after.text and "柏岭村干部" in after.text
    with services.db.read() as db:
        events = db.exec(select(AuditEvent).where(col(AuditEvent.action).like("item.%")))
        logged = [(e.action, e.actor) for e in events]
    assert logged == [
        ("item.id_revealed", f"user:{user.id}"),
        ("item.phone_revealed", f"user:{user.id}"),
    ]


async def test_whole_procedure_over_http_tells_the_applicant(
    services: Services, clock: FakeClock
) -> None:
    item = apply_by_chat(services, sender="p-1")
    for name, role, place in (
        ("cun", Role.VILLAGE, VILLAGE_A),
        ("xiang", Role.TOWNSHIP, "gangkou"),
        ("xian", Role.COUNTY, "gangkou"),
    ):
        add_user(services, name, role, place)  # fmt: skip
    item_id = item.id or 0

    async def step(user: str, action: str, **fields: str | list[str]) -> int:
        async with client_for(services) as client:
            csrf = await login(client, user)
            return (await act(client, item_id, csrf, action, **fields)).status_code

    assert await step("cun", "start_village_review") == 303
    assert (
        await step(
            "cun", "village_report", home_visit="on", consent_confirmed="on", meeting_result="通过"
        )
        == 303
    )
    assert await step("cun", "start_notice") == 403, "a village cadre cannot approve"
    assert await step("xiang", "start_notice") == 303
    assert await step("xiang", "end_notice") == 409, "the notice is still running"
    assert await step("cun", "record_objection", reason="有人反映家有轿车") == 303
    assert await step("xiang", "start_notice") == 303
    clock.advance(days=8)
    assert await step("xiang", "end_notice") == 303
    assert await step("xian", "enrol", helper="刘莹嗣") == 422, "risk types are required"
    assert (
        await step(
            "xian",
            "enrol",
            risk_codes=["01"],
            helper="刘莹嗣",
            measures="医疗救助",
            measures_due="2027-06-30",
        )
        == 303
    )
    with services.db.read() as db:
        sent = list(
            db.exec(
                select(OutboxMessage)
                .where(OutboxMessage.recipient == "p-1", OutboxMessage.priority == 5)
                .order_by(OutboxMessage.id)
            )
        )  # type: ignore[arg-type]
    texts = [m.payload["text"] for m in sent]
    assert len(texts) == 7 and all(item.tracking_code in t for t in texts)
    assert "最迟 2026年11月30日" in texts[1]
    assert "公示期 2026年11月25日 至 2026年12月2日" in texts[2]
    assert "重新复核" in texts[3]
    assert "刘莹嗣" in texts[-1] and "纳入防返贫监测" in texts[-1]
    assert all(m.channel == "webhook" for m in sent)


async def test_refusals_say_what_is_possible(services: Services) -> None:
    item = apply_by_chat(services, sender="r-1")
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    async with client_for(services) as client:
        csrf = await login(client, "xiang")
        wrong = await act(client, item.id or 0, csrf, "enrol", risk_codes=["01"], helper="x")
        assert wrong.status_code == 409
        assert (
            "事项现在是“已提交”，不能“确认纳入监测”。现在可以：开始村级核实、撤回申请、合并到同户的另一事项"
            in wrong.text
        )
        no_reason = await act(client, item.id or 0, csrf, "withdraw")
        assert no_reason.status_code == 422 and "请写明原因" in no_reason.text


@pytest.mark.parametrize("field", ["head", "note", "reason", "meeting", "helper", "merge", "login"])
async def test_xss_payloads_render_as_text(
    services: Services, clock: FakeClock, field: str
) -> None:
    head = XSS[:30] if field == "head" else "王大山"
    item = apply_by_chat(services, sender=f"x-{field}", head=head)
    call = callback_item(services, VILLAGE_A, note=XSS)
    add_user(services, "root", Role.ADMIN, None)
    async with client_for(services) as client:
        if field == "login":
            await client.get("/cadre/login")
            from cadre_support import csrf_of

            form = await client.get("/cadre/login")
            page = await client.post(
                "/cadre/login",
                data={"username": XSS, "password": "x", "csrf_token": csrf_of(form.text)},
            )
            assert "<script>" not in page.text and "&lt;script&gt;" in page.text
            return
        csrf = await login(client, "root")
        item_id = item.id or 0
        if field == "reason":
            await act(client, item_id, csrf, "withdraw", reason=XSS)
        if field in ("meeting", "helper"):
            await act(client, item_id, csrf, "start_village_review", reason=XSS)
            await act(
                client,
                item_id,
                csrf,
                "village_report",
                home_visit="on",
                consent_confirmed="on",
                meeting_result=XSS,
            )
            await act(client, item_id, csrf, "start_notice")
            clock.advance(days=8)
            await act(client, item_id, csrf, "end_notice")
            await act(
                client,
                item_id,
                csrf,
                "enrol",
                risk_codes=["01"],
                helper=XSS[:60],
                measures=XSS,
                reason_detail=XSS,
            )
        pages = [
            await client.get(f"/cadre/items/{item_id}"),
            await client.get(f"/cadre/items/{call.id}"),
        ]
        if field == "merge":
            pages.append(await act(client, item_id, csrf, "merge", merge_into=XSS))
        pages.append(await client.get("/cadre/", params={"status": "all"}))
        pages.append(await client.get("/cadre/exports/notice"))
        for page in pages:
            assert "<script>" not in page.text and "onerror=alert(1)>" not in page.text
        joined = "".join(p.text for p in pages)
        assert "&lt;script&gt;" in joined


async def test_htmx_and_css_are_shipped_not_fetched_from_a_cdn(services: Services) -> None:
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        await login(client, "cun")
        page = await client.get("/cadre/")
        htmx = await client.get("/cadre/static/htmx.min.js")
        css = await client.get("/cadre/static/cadre.css")
        licence = await client.get("/cadre/static/htmx.LICENSE.txt")
    assert htmx.status_code == 200 and "htmx" in htmx.text[:200] and len(htmx.content) > 40_000
    assert css.status_code == 200 and "@media" in css.text
    assert licence.status_code == 200 and "Zero-Clause BSD" in licence.text
    assert 'src="/cadre/static/htmx.min.js"' in page.text
    assert "https://" not in page.text and 'name="viewport"' in page.text
