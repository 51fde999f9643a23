"""The queue and item pages over real HTTP: filters, order, marks, the logged reveal, the
whole procedure with the applicant's notices, refusals with a clear message, and XSS
payloads in every free-text field rendered as text. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

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
from intake.applications import Application
from intake.audit import AuditEvent
from intake.queue import QueueItem
from intake.users import Role
from notifications.outbox import OutboxMessage
from notifications.sealing import open_payload

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
    texts = [open_payload(m.payload, services.cipher)["text"] for m in sent]
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
        assert no_reason.status_code == 422, "every missing field named at once"
        assert "请填写：申请人本人（或代办人）已明确要求撤回、原因 / 说明。" in no_reason.text


@pytest.mark.parametrize("field", ["head", "note", "reason", "meeting", "helper", "merge", "login"])
async def test_xss_payloads_render_as_text(
    services: Services, clock: FakeClock, field: str
) -> None:
    item = apply_by_chat(services, sender=f"x-{field}")
    if field == "head":  # the chat now refuses such a name; a record may still hold one
        with services.db.write() as db:
            application = db.exec(
                select(Application).where(Application.queue_item_id == item.id)
            ).one()
            application.head_name = XSS[:30]
            db.add(application)
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
            withdrawn = await act(
                client, item_id, csrf, "withdraw", reason=XSS, applicant_asked="on"
            )
            assert withdrawn.status_code == 303, "the reason is on the item's timeline"
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


async def test_htmx_gets_the_list_but_a_history_restore_gets_the_whole_page(
    services: Services,
) -> None:
    item = apply_by_chat(services, sender="h-1")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        await login(client, "cun")
        full = await client.get("/cadre/")
        partial = await client.get("/cadre/", headers={"HX-Request": "true"})
        restore = await client.get(
            "/cadre/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
        )
    assert "<html" in full.text and 'id="filters"' in full.text
    assert "<html" not in partial.text and item.tracking_code in partial.text
    assert "<html" in restore.text and 'id="filters"' in restore.text, "back must not lose the page"
    assert item.tracking_code in restore.text
    for response in (full, partial, restore):
        vary = [v.strip().lower() for v in response.headers.get("vary", "").split(",")]
        assert "hx-request" in vary and "hx-history-restore-request" in vary


async def test_withdraw_needs_the_applicants_request_and_merge_a_live_target(
    services: Services,
) -> None:
    gone = apply_by_chat(services, sender="w-1", serial=1)
    item = apply_by_chat(services, sender="w-2", serial=2)
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        csrf = await login(client, "cun")
        page = await client.get(f"/cadre/items/{gone.id}")
        assert 'name="applicant_asked"' in page.text and "已明确要求撤回" in page.text
        unconfirmed = await act(client, gone.id or 0, csrf, "withdraw", reason="电话要求")
        assert unconfirmed.status_code == 422
        assert "请填写：申请人本人（或代办人）已明确要求撤回。" in unconfirmed.text
        done = await act(
            client, gone.id or 0, csrf, "withdraw", reason="电话要求", applicant_asked="on"
        )
        assert done.status_code == 303
        after = await client.get(f"/cadre/items/{gone.id}")
        assert "已撤回" in after.text and "已明确要求撤回" in after.text
        assert "电话要求" in after.text
        merged = await act(client, item.id or 0, csrf, "merge", merge_into=gone.tracking_code)
        assert merged.status_code == 422
        assert f"事项 {gone.tracking_code} 已经“已撤回”，不能合并进去" in merged.text
        await act(client, item.id or 0, csrf, "start_village_review")
        await act(client, item.id or 0, csrf, "village_report", home_visit="on",
                  consent_confirmed="on", meeting_result="通过")  # fmt: skip
        held = await client.get(f"/cadre/items/{item.id}")
        assert 'data-action="withdraw"' not in held.text, "the township holds it now"
        refused = await act(
            client, item.id or 0, csrf, "withdraw", reason="电话要求", applicant_asked="on"
        )
        assert refused.status_code == 403
    with services.db.read() as db:
        fresh = db.get(QueueItem, item.id)
        assert fresh is not None and fresh.status == "township_review"


async def test_a_deadline_in_a_year_without_holiday_data_is_marked_estimated(
    services: Services, clock: FakeClock
) -> None:
    known = apply_by_chat(services, sender="y-1", serial=1)
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    add_user(services, "en", Role.VILLAGE, VILLAGE_A, language="en")
    report = {"home_visit": "on", "consent_confirmed": "on", "meeting_result": "通过"}
    async with client_for(services) as client:
        csrf = await login(client, "cun")
        await act(client, known.id or 0, csrf, "start_village_review")
        assert (
            await act(client, known.id or 0, csrf, "village_report", **report)
        ).status_code == 303
    clock.now = datetime(2027, 3, 3, 1, 30, tzinfo=UTC)  # Wed 3 March 2027, 09:30 in Beijing
    later = apply_by_chat(services, sender="y-2", serial=2, head="李四")
    async with client_for(services) as client:
        csrf = await login(client, "cun")
        await act(client, later.id or 0, csrf, "start_village_review")
        assert (
            await act(client, later.id or 0, csrf, "village_report", **report)
        ).status_code == 303
        queue = (await client.get("/cadre/")).text
        item_page = (await client.get(f"/cadre/items/{later.id}")).text
        known_page = (await client.get(f"/cadre/items/{known.id}")).text
    mark = "（按周末估算，2027年节假日未收录）"
    assert "2027-03-08 23:59" in item_page and mark in item_page  # Thu, Fri, Mon
    assert "2026-11-30 23:59" in known_page and "按周末估算" not in known_page
    rows = re.findall(r'<li class="item.*?</li>', queue, re.S)
    marked = [row for row in rows if mark in row]
    assert len(marked) == 1 and later.tracking_code in marked[0]
    async with client_for(services) as client:
        await login(client, "en")
        english = (await client.get(f"/cadre/items/{later.id}")).text
        english_queue = (await client.get("/cadre/")).text
    assert "(estimated counting weekends only: the 2027 holidays are not yet known)" in english
    assert "the 2027 holidays are not yet known" in english_queue


async def test_household_box_shows_the_applications_own_size_and_the_households_other_items(
    services: Services,
) -> None:
    first = apply_by_chat(services, sender="hh-1", serial=41, size=3)
    again = apply_by_chat(services, sender="hh-2", serial=41, size=5)  # same ID number
    far = apply_by_chat(services, sender="hh-3", serial=41, size=4, village=VILLAGE_B)
    unrelated = apply_by_chat(services, sender="hh-4", serial=42, head="李四")
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    link = 'href="/cadre/items/{}"'.format
    async with client_for(services) as client:
        csrf = await login(client, "cun")
        page = (await client.get(f"/cadre/items/{first.id}")).text
        assert "家庭人口（本次申请填报）</dt><dd>3</dd>" in page
        assert "家庭人口（户信息）" not in page, "later filings leave the household as it was"
        assert "同一户的其他未办结事项" in page and link(again.id) in page
        assert again.tracking_code in page
        assert link(far.id) not in page and far.tracking_code not in page, "another village's"
        assert link(unrelated.id) not in page
        own = (await client.get(f"/cadre/items/{again.id}")).text
        assert "家庭人口（本次申请填报）</dt><dd>5</dd>" in own and link(first.id) in own
        assert "家庭人口（户信息）</dt><dd>3</dd>" in own
        lone = (await client.get(f"/cadre/items/{unrelated.id}")).text
        assert "同一户的其他未办结事项" not in lone and "家庭人口（户信息）" not in lone
        merged = await act(client, again.id or 0, csrf, "merge", merge_into=first.tracking_code)
        assert merged.status_code == 303
        after = (await client.get(f"/cadre/items/{first.id}")).text
        assert link(again.id) not in after, "a merged item is no longer open"
    async with client_for(services) as client:
        await login(client, "xiang")
        township = (await client.get(f"/cadre/items/{first.id}")).text
    assert link(far.id) in township and link(again.id) not in township
