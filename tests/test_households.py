"""A household's identity cannot be taken over by typing its head's ID number (issue 9).

A filing keeps its own name and phone; the household's change only when a cadre of the
household's own village accepts them, on the item page, with CSRF and an audit event. A
filing from another village is flagged on both sides, and the other village learns only
that the number is registered elsewhere. Over real HTTP, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io

from cadre_support import (
    VILLAGE_A,
    VILLAGE_B,
    add_user,
    apply_by_chat,
    client_for,
    login,
)
from openpyxl import load_workbook
from sqlmodel import col, select

from bot.services import Services
from intake.applications import Application
from intake.audit import AuditEvent
from intake.exports import SCREENING_COLUMNS
from intake.households import Household
from intake.queue import QueueItem
from intake.users import Role

FAMILY_PHONE = "13812345678"
IMPOSTOR_PHONE = "13900009999"
NEW_PHONE = "13722223333"


def _household(services: Services, item: QueueItem) -> tuple[Household, Application]:
    with services.db.read() as db:
        application = db.exec(select(Application).where(Application.queue_item_id == item.id)).one()
        household = db.get(Household, application.household_id)
    assert household is not None
    return household, application


def _screening_phones(content: bytes) -> dict[str, str]:
    rows = list(load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))[3:]
    index = SCREENING_COLUMNS.index("联系方式（电话/微信）")
    name = SCREENING_COLUMNS.index("户主姓名")
    return {str(row[name]): str(row[index]) for row in rows}


async def test_a_filing_with_a_known_id_number_does_not_replace_name_or_phone(
    services: Services,
) -> None:
    family = apply_by_chat(services, sender="fam", serial=61, phone=FAMILY_PHONE)
    apply_by_chat(
        services, sender="imp", serial=61, head="李冒名", phone=IMPOSTOR_PHONE, village=VILLAGE_B
    )
    household, application = _household(services, family)
    assert household.head_name == "王大山"
    assert services.cipher.decrypt(household.phone_cipher or "") == FAMILY_PHONE
    assert services.cipher.decrypt(application.phone_cipher or "") == FAMILY_PHONE
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    async with client_for(services) as client:
        csrf = await login(client, "cun")
        revealed = await client.post(
            f"/cadre/items/{family.id}/reveal/phone", data={"csrf_token": csrf}
        )
        assert FAMILY_PHONE in revealed.text and IMPOSTOR_PHONE not in revealed.text
        assert "（本事项填写）" in revealed.text, "the reveal says whose phone it is"
        screening = await client.get("/cadre/exports/screening.xlsx")
    assert _screening_phones(screening.content) == {"王大山": FAMILY_PHONE}


async def test_the_households_village_sees_differences_and_accepts_them_audited(
    services: Services,
) -> None:
    first = apply_by_chat(services, sender="h-1", serial=62, phone=FAMILY_PHONE, size=3)
    again = apply_by_chat(services, sender="h-2", serial=62, head="王大山", phone=NEW_PHONE, size=4)
    user = add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    add_user(services, "other", Role.VILLAGE, VILLAGE_B)
    async with client_for(services) as client:
        await login(client, "other")
        refused = await client.post(f"/cadre/items/{again.id}/accept-details")
        assert refused.status_code in (403, 404)
    async with client_for(services) as client:
        csrf = await login(client, "cun")
        page = (await client.get(f"/cadre/items/{again.id}")).text
        assert "本次申请填写的电话与户信息不同" in page
        assert "本次申请填写的家庭人口与户信息不同" in page
        assert "本次申请填写的户主姓名与户信息不同" not in page
        assert "137****3333" in page and "138****5678" in page
        assert f'action="/cadre/items/{again.id}/accept-details"' in page
        untouched = (await client.get(f"/cadre/items/{first.id}")).text
        assert "与户信息不同" not in untouched and "accept-details" not in untouched
        forged = await client.post(f"/cadre/items/{again.id}/accept-details")
        assert forged.status_code == 403, "no CSRF token, no change"
        assert _household(services, first)[0].size == 3
        accepted = await client.post(
            f"/cadre/items/{again.id}/accept-details", data={"csrf_token": csrf}
        )
        assert accepted.status_code == 303
        after = (await client.get(f"/cadre/items/{again.id}")).text
        assert "与户信息不同" not in after and "采用了本次申请的信息作为户信息" in after
    household, _ = _household(services, first)
    assert services.cipher.decrypt(household.phone_cipher or "") == NEW_PHONE
    assert household.size == 4 and household.head_name == "王大山"
    with services.db.read() as db:
        events = list(
            db.exec(
                select(AuditEvent).where(col(AuditEvent.action) == "household.details_accepted")
            )
        )
    assert [(e.actor, e.subject_id, e.data) for e in events] == [
        (f"user:{user.id}", again.id, {"changed": ["phone", "size"]})
    ]


async def test_a_filing_from_another_village_is_flagged_for_both_without_details(
    services: Services,
) -> None:
    family = apply_by_chat(services, sender="f-1", serial=63, phone=FAMILY_PHONE)
    impostor = apply_by_chat(
        services, sender="f-2", serial=63, head="李冒名", phone=IMPOSTOR_PHONE, village=VILLAGE_B
    )
    add_user(services, "cun", Role.VILLAGE, VILLAGE_A)
    add_user(services, "other", Role.VILLAGE, VILLAGE_B)
    async with client_for(services) as client:
        csrf = await login(client, "other")
        page = (await client.get(f"/cadre/items/{impostor.id}")).text
        assert "这个身份证号对应的户登记在别的村" in page
        assert "李冒名" in page and "139****9999" in page, "the filing's own details"
        for secret in ("王大山", "138****5678", "柏岭村", family.tracking_code, "accept-details"):
            assert secret not in page, secret
        own = await client.post(
            f"/cadre/items/{impostor.id}/reveal/phone", data={"csrf_token": csrf}
        )
        assert IMPOSTOR_PHONE in own.text and FAMILY_PHONE not in own.text
        theirs = await client.post(
            f"/cadre/items/{impostor.id}/reveal/household_phone", data={"csrf_token": csrf}
        )
        assert FAMILY_PHONE not in theirs.text
        refused = await client.post(
            f"/cadre/items/{impostor.id}/accept-details", data={"csrf_token": csrf}
        )
        assert refused.status_code == 404
    async with client_for(services) as client:
        await login(client, "cun")
        home = (await client.get(f"/cadre/items/{family.id}")).text
    assert "别的村提交的、使用本户身份证号的申请" in home
    assert "横岭村" in home, "the village it came from, not the other village's item"
    for theirs in (impostor.tracking_code, f"/cadre/items/{impostor.id}", "李冒名", "139****9999"):
        assert theirs not in home, theirs
    household, _ = _household(services, family)
    assert household.head_name == "王大山" and household.village_code == VILLAGE_A
