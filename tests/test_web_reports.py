"""The report pages over real HTTP, on SQLite and PostgreSQL: the visibility probe (a cadre
of the village a complaint is about gets 404 or nothing from every URL, count, search,
digest and export), every decision path with merge and the objection that reopens a report
one level up, the logged reveal, search, mailbox letters, the monthly figures and XSS."""

from __future__ import annotations

import re
from typing import Any

import httpx
from cadre_support import (
    VILLAGE_A,
    VILLAGE_B,
    add_user,
    apply_by_chat,
    client_for,
    id_number,
    login,
    xlsx_rows,
)
from conftest import FakeClock
from sqlmodel import col, select

from bot.services import Services
from intake.audit import AuditEvent
from intake.contacts import get_or_create_contact
from intake.digest import build_digest
from intake.reports.filing import ReportDraft, Reporter, file_report
from intake.reports.kinds import ReportKind, SubjectKind, report_rules
from intake.reports.models import Report, ReportSource, ReportState
from intake.reports.procedure import available, object_to
from intake.users import Role, User, link_chat
from intake.web.reports.labels import FAMILIES
from locales import catalog
from notifications.outbox import OutboxMessage
from notifications.sealing import open_payload

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
PHONE = "13912345678"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _file(services: Services, draft: ReportDraft) -> Report:
    policy = services.effects.policy_for(draft.village_code)
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


def _complaint(village: str = VILLAGE_A, **changes: Any) -> ReportDraft:
    base: dict[str, Any] = {
        "kind": "complaint",
        "village_code": village,
        "subject": "cadre",
        "subject_name": "李支书",
        "text": "评定的时候优亲厚友。",
    }
    return ReportDraft(**(base | changes))


def _tip(village: str = VILLAGE_A, **changes: Any) -> ReportDraft:
    base: dict[str, Any] = {
        "kind": "tip",
        "village_code": village,
        "subject": "household",
        "subject_name": "张大山",
        "text": "他家老人大病住院。",
    }
    return ReportDraft(**(base | changes))


def _codes(html: str) -> list[str]:
    return re.findall(r'<span class="code">([A-Z0-9-]+)</span>', html)


async def _csrf(client: httpx.AsyncClient, url: str) -> str:
    page = await client.get(url)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, url
    return found.group(1)


async def _act(
    client: httpx.AsyncClient, report: Report, csrf: str, action: str, **fields: str
) -> httpx.Response:
    data = {"csrf_token": csrf, "action": action, **fields}
    return await client.post(f"/cadre/reports/{report.id}/act", data=data)


def _report(services: Services, report_id: int | None) -> Report:
    with services.db.read() as db:
        found = db.get(Report, report_id)
        assert found is not None
        return found


def test_every_report_value_has_a_name_in_both_languages() -> None:
    wanted = {
        "kind": {k.value for k in ReportKind},
        "state": {s.value for s in ReportState},
        "subject": {s.value for s in SubjectKind},
        "source": {s.value for s in ReportSource},
    }
    for family, values in wanted.items():
        assert values <= FAMILIES[family].keys(), family
    for family in FAMILIES.values():
        for msgid in family.values():
            assert msgid in catalog("zh_CN") and msgid in catalog("en"), msgid


async def test_a_village_cadre_never_sees_a_complaint_about_their_village(
    services: Services, clock: FakeClock
) -> None:
    about_us = _file(services, _complaint())
    ours = _file(services, _tip())
    add_user(services, "bailing", Role.VILLAGE, VILLAGE_A)
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    with services.db.write() as db:
        for name in ("bailing", "xiang"):
            link_chat(db, name, "telegram", f"chat-{name}", actor="system", now=clock())
    clock.advance(days=10)  # both overdue: the digest would list them
    async with client_for(services) as client:
        csrf = await login(client, "bailing")
        listing = await client.get("/cadre/reports", params={"state": "all"})
        assert _codes(listing.text) == [ours.tracking_code]
        assert "已收到 <b>1</b>" in listing.text, "counts leave it out too"
        assert about_us.tracking_code not in listing.text
        queue = await client.get("/cadre/")
        assert "群众反映待办 1 件" in queue.text, "the queue's count of reports leaves it out"
        for url in (
            f"/cadre/reports/{about_us.id}",
            f"/cadre/reports/{about_us.id}/attachments/1",
        ):
            assert (await client.get(url)).status_code == 404, url
        for url in (
            f"/cadre/reports/{about_us.id}/act",
            f"/cadre/reports/{about_us.id}/reveal/phone",
        ):
            refused = await client.post(url, data={"csrf_token": csrf, "action": "accept"})
            assert refused.status_code == 404, url
        for typed in (about_us.tracking_code, "李支书"):
            found = await client.get("/cadre/search", params={"q": typed})
            assert _codes(found.text) == [] and "没有找到" in found.text
        sheet = await client.get("/cadre/exports/reports.xlsx")
        cells = {str(c) for row in xlsx_rows(sheet.content) for c in row}
        assert ours.tracking_code in cells and about_us.tracking_code not in cells
        month = ours.received_on.strftime("%Y-%m")
        figures = await client.get("/cadre/reports/figures.xlsx", params={"month": month})
        assert ["合计", "收到反映", "1"] in [
            [str(c) for c in row] for row in xlsx_rows(figures.content)
        ]
    with services.db.read() as db:
        digests = {
            user.username: build_digest(
                db,
                user,
                since=clock().replace(year=2020),
                now=clock(),
                calendar=services.calendar,
                policies=services.policies,
                base_url="http://x",
                cipher=services.cipher,
            )
            for user in db.exec(select(User))
        }
    village, township = digests["bailing"], digests["xiang"]
    assert village is not None and township is not None
    assert ours.tracking_code in village.text and about_us.tracking_code not in village.text
    assert about_us.tracking_code in township.text and ours.tracking_code in township.text
    async with client_for(services) as client:
        await login(client, "xiang")
        page = await client.get(f"/cadre/reports/{about_us.id}")
        assert page.status_code == 200
        assert "本村看不到" in page.text, "the page says why it is routed here"
        assert "群众反映待办 2 件" in (await client.get("/cadre/")).text


async def test_accept_investigate_answer_close_then_the_objection_goes_up(
    services: Services, clock: FakeClock
) -> None:
    report = _file(services, _tip())
    add_user(services, "bailing", Role.VILLAGE, VILLAGE_A)
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    async with client_for(services) as client:
        await login(client, "bailing")
        csrf = await _csrf(client, f"/cadre/reports/{report.id}")
        me = _user_id(services, "bailing")
        assert (await _act(client, report, csrf, "accept", assignee_id=str(me))).status_code == 303
        assert (await _act(client, report, csrf, "investigate")).status_code == 303
        empty = await _act(client, report, csrf, "answer", answer="  ", reason=XSS)
        assert empty.status_code == 422 and "请填写" in empty.text
        assert ESCAPED in empty.text and XSS not in empty.text, "the typed reason is kept, escaped"
        answered = await _act(client, report, csrf, "answer", answer=XSS)
        assert answered.status_code == 303
        assert (await _act(client, report, csrf, "close")).status_code == 303
        page = await client.get(f"/cadre/reports/{report.id}")
        assert "已办结" in page.text and ESCAPED in page.text and XSS not in page.text
    policy = services.effects.policy_for(VILLAGE_A)
    with services.db.write() as db:
        stored = db.get(Report, report.id)
        assert stored is not None
        object_to(
            db,
            stored,
            reason="没有人来核实",
            rules=report_rules(policy),
            calendar=services.calendar,
            cipher=services.cipher,
            now=clock(),
        )
    async with client_for(services) as client:
        await login(client, "bailing")
        assert (await client.get(f"/cadre/reports/{report.id}")).status_code == 404
        await login(client, "xiang")
        reopened = await client.get(f"/cadre/reports/{report.id}")
        assert reopened.status_code == 200 and "上一级重新办理" in reopened.text
        csrf = await _csrf(client, f"/cadre/reports/{report.id}")
        me = _user_id(services, "xiang")
        assert (await _act(client, report, csrf, "accept", assignee_id=str(me))).status_code == 303
    assert _report(services, report.id).routed_level == "township"


def _user_id(services: Services, name: str) -> int:
    with services.db.read() as db:
        user = db.exec(select(User).where(User.username == name)).one()
        assert user.id is not None
        return user.id


async def test_merge_refer_and_unfounded(services: Services) -> None:
    first = _file(services, _tip())
    second = _file(services, _tip(text="又一次反映张大山家。"))
    referred = _file(services, _tip(text="要求修路"))
    doubtful = _file(services, _tip(text="听说的"))
    add_user(services, "bailing", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        await login(client, "bailing")
        csrf = await _csrf(client, f"/cadre/reports/{second.id}")
        unknown = await _act(client, second, csrf, "merge", into="ABCD-2345")
        assert unknown.status_code == 422 and "ABCD-2345" in unknown.text, "kept as typed"
        merged = await _act(client, second, csrf, "merge", into=first.tracking_code.lower())
        assert merged.status_code == 303
        page = await client.get(f"/cadre/reports/{second.id}")
        assert 'class="merged-into"' in page.text and first.tracking_code in page.text
        target = await client.get(f"/cadre/reports/{first.id}")
        assert 'class="merged-from"' in target.text and second.tracking_code in target.text
        missing = await _act(client, referred, csrf, "refer", referred_to="")
        assert missing.status_code == 422
        assert (await _act(client, referred, csrf, "refer", referred_to=XSS)).status_code == 303
        no_reason = await _act(client, doubtful, csrf, "mark_unfounded", reason=" ")
        assert no_reason.status_code == 422 and "请写明理由" in no_reason.text
        done = await _act(client, doubtful, csrf, "mark_unfounded", reason=XSS)
        assert done.status_code == 303
        for report in (referred, doubtful):
            shown = await client.get(f"/cadre/reports/{report.id}")
            assert ESCAPED in shown.text and XSS not in shown.text
    assert _report(services, second.id).merged_into_id == first.id
    assert _report(services, doubtful.id).state == "unfounded"


async def test_a_named_reporters_phone_is_revealed_by_a_logged_action(
    services: Services,
) -> None:
    report = _file(
        services,
        _complaint(subject_name="<i>李</i>", reporter=Reporter(XSS, PHONE, id_number(5))),
    )
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    add_user(services, "op", Role.OPERATOR, "gangkou")
    async with client_for(services) as client:
        await login(client, "op")
        read = await client.get(f"/cadre/reports/{report.id}")
        assert (
            read.status_code == 200 and "139****5678" not in read.text and "王小红" not in read.text
        )
        csrf = await _csrf(client, "/cadre/search")
        assert (
            await client.post(f"/cadre/reports/{report.id}/reveal/phone", data={"csrf_token": csrf})
        ).status_code == 404
        await login(client, "xiang")
        page = await client.get(f"/cadre/reports/{report.id}")
        assert PHONE not in page.text and "139****5678" in page.text
        assert ESCAPED in page.text and XSS not in page.text, "the reporter's name, escaped"
        assert "&lt;i&gt;李&lt;/i&gt;" in page.text
        csrf = await _csrf(client, f"/cadre/reports/{report.id}")
        shown = await client.post(
            f"/cadre/reports/{report.id}/reveal/phone", data={"csrf_token": csrf}
        )
        assert shown.status_code == 200 and PHONE in shown.text
        forged = await client.post(f"/cadre/reports/{report.id}/reveal/phone", data={})
        assert forged.status_code == 403
    with services.db.read() as db:
        events = db.exec(
            select(AuditEvent).where(AuditEvent.action == "report.phone_revealed")
        ).all()
    assert [e.subject_id for e in events] == [report.id]
    assert all(PHONE not in str(e.data) for e in events)


async def test_search_by_code_name_id_and_phone_within_the_scope(services: Services) -> None:
    item = apply_by_chat(services, sender="s-1", head="赵一", serial=11)
    report = _file(
        services,
        _tip(subject_name="钱二", reporter=Reporter("孙三", PHONE, id_number(12))),
    )
    add_user(services, "bailing", Role.VILLAGE, VILLAGE_A)
    add_user(services, "hengling", Role.VILLAGE, VILLAGE_B)
    async with client_for(services) as client:
        await login(client, "bailing")
        for typed, code in (
            (item.tracking_code.replace("-", "").lower(), item.tracking_code),
            ("赵一", item.tracking_code),
            (id_number(11), item.tracking_code),
            (report.tracking_code, report.tracking_code),
            ("钱二", report.tracking_code),
            (id_number(12), report.tracking_code),
            ("139 1234 5678", report.tracking_code),
        ):
            found = await client.get("/cadre/search", params={"q": typed})
            assert _codes(found.text) == [code], typed
        for partial in ("赵", "钱", id_number(11)[:10]):
            found = await client.get("/cadre/search", params={"q": partial})
            assert _codes(found.text) == [], f"{partial}: exact matches only"
        queue = await client.get("/cadre/")
        assert 'action="/cadre/search"' in queue.text, "the queue has the search box"
        await login(client, "hengling")
        for typed in (item.tracking_code, "赵一", report.tracking_code, "钱二"):
            found = await client.get("/cadre/search", params={"q": typed})
            assert _codes(found.text) == [], typed


async def test_a_mailbox_letter_with_its_photo(services: Services, clock: FakeClock) -> None:
    add_user(services, "bailing", Role.VILLAGE, VILLAGE_A)
    add_user(services, "xiang", Role.TOWNSHIP, "gangkou")
    today = clock().date().isoformat()
    letter = {
        "kind": "complaint",
        "village": VILLAGE_A,
        "subject": "committee",
        "text": XSS,
        "letter_date": today,
    }
    async with client_for(services) as client:
        await login(client, "bailing")
        csrf = await _csrf(client, "/cadre/reports/letter")
        future = await client.post(
            "/cadre/reports/letter",
            data={**letter, "csrf_token": csrf, "letter_date": "2099-01-01"},
        )
        assert future.status_code == 422 and ESCAPED in future.text, "the text is kept"
        mismatch = await client.post(
            "/cadre/reports/letter", data={**letter, "csrf_token": csrf, "subject": "household"}
        )
        assert mismatch.status_code == 422 and "这类反映不能选这个对象" in mismatch.text
        not_photo = await client.post(
            "/cadre/reports/letter",
            data={**letter, "csrf_token": csrf},
            files={"photo": ("x.png", b"<svg onload=alert(1)>", "image/png")},
        )
        assert not_photo.status_code == 422
        filed = await client.post(
            "/cadre/reports/letter",
            data={**letter, "csrf_token": csrf},
            files={"photo": ("信.png", PNG, "image/png")},
        )
        assert filed.status_code == 200 and "乡镇办理" in filed.text
        code = _codes(filed.text)[0]
        with services.db.read() as db:
            report = db.exec(select(Report).where(Report.tracking_code == code)).one()
        assert report.anonymous and report.source == "mailbox" and report.contact_id is None
        assert (await client.get(f"/cadre/reports/{report.id}")).status_code == 404
        await login(client, "xiang")
        page = await client.get(f"/cadre/reports/{report.id}")
        assert "意见箱来信" in page.text and today in page.text and ESCAPED in page.text
        attachment = re.search(r"/cadre/reports/\d+/attachments/(\d+)", page.text)
        assert attachment is not None
        photo = await client.get(attachment.group(0))
        assert photo.status_code == 200 and photo.content == PNG


async def test_monthly_figures_page_and_xlsx(services: Services, clock: FakeClock) -> None:
    _file(services, _tip())
    _file(services, _complaint(subject="township", village_code=VILLAGE_B))
    add_user(services, "xian", Role.COUNTY, "gangkou")
    add_user(services, "op", Role.OPERATOR, "gangkou")
    month = clock().strftime("%Y-%m")
    async with client_for(services) as client:
        await login(client, "op")
        assert (await client.get("/cadre/reports/figures")).status_code == 403
        await login(client, "xian")
        page = await client.get("/cadre/reports/figures", params={"month": month})
        assert page.status_code == 200 and "<td>收到反映</td><td>2</td>" in page.text
        sheet = await client.get("/cadre/reports/figures.xlsx", params={"month": month})
        rows = [[str(c) for c in row] for row in xlsx_rows(sheet.content)]
        assert ["按办理层级", "县级办理", "1"] in rows and ["按办理层级", "村级办理", "1"] in rows
        empty = await client.get("/cadre/reports/figures", params={"month": "2020-01"})
        assert "<td>收到反映</td><td>0</td>" in empty.text
    with services.db.read() as db:
        logged = db.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "export.downloaded")
        ).all()
    assert [e.data["export"] for e in logged] == ["report_figures"]


async def test_a_cadres_answer_reaches_a_named_reporters_chat(services: Services) -> None:
    with services.db.write() as db:
        contact = get_or_create_contact(db, "telegram", "rep-chat", language="zh_CN")
        contact_id = contact.id
    reporter = Reporter(name="王小红", phone="13912345678", contact_id=contact_id)
    report = _file(services, _tip(reporter=reporter))
    add_user(services, "bailing", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        await login(client, "bailing")
        csrf = await _csrf(client, f"/cadre/reports/{report.id}")
        me = _user_id(services, "bailing")
        assert (await _act(client, report, csrf, "accept", assignee_id=str(me))).status_code == 303
        assert (await _act(client, report, csrf, "investigate")).status_code == 303
        answered = await _act(client, report, csrf, "answer", answer="已上门核实，正在办理救助。")
        assert answered.status_code == 303
    with services.db.read() as db:
        rows = db.exec(select(OutboxMessage).where(OutboxMessage.recipient == "rep-chat")).all()
    texts = [str(open_payload(row.payload, services.cipher).get("text")) for row in rows]
    assert any("已上门核实，正在办理救助。" in text for text in texts), texts


async def test_a_tip_found_true_is_linked_to_the_households_application(
    services: Services,
) -> None:
    item = apply_by_chat(services, sender="tip-household")
    other = _file(services, _complaint())
    report = _file(services, _tip())
    add_user(services, "bailing", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        await login(client, "bailing")
        csrf = await _csrf(client, f"/cadre/reports/{report.id}")
        me = _user_id(services, "bailing")
        assert (await _act(client, report, csrf, "accept", assignee_id=str(me))).status_code == 303
        wrong = await _act(client, report, csrf, "link_application", item_code="ZZZZ-ZZZZ")
        assert wrong.status_code == 422 and "没有找到这个申请编号" in wrong.text
        linked = await _act(client, report, csrf, "link_application", item_code=item.tracking_code)
        assert linked.status_code == 303
        page = await client.get(f"/cadre/reports/{report.id}")
        assert item.tracking_code in page.text and "已关联申请" in page.text
        shown = await client.get(f"/cadre/items/{item.id}")
        assert "群众反映的线索已关联到这个申请" in shown.text and report.tracking_code in shown.text
    assert _report(services, report.id).state == ReportState.INVESTIGATING
    assert "link_application" not in [a.value for a in available(other)], "tips only"
