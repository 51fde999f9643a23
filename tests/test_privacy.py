"""What is encrypted at rest stays so: the SQLite file, its WAL and the log are scanned for
every ID number, phone, note, reason and file name used in a full application, a call-back
request and an enrolment (docs/privacy.md lists the fields).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cadre_support import (
    VILLAGE_A,
    act,
    add_user,
    apply_by_chat,
    callback_item,
    client_for,
    id_number,
    login,
    send_file,
)
from conftest import FakeClock
from sqlmodel import select

from bot.services import Services
from intake.attachments import AttachmentKind, FileInfo
from intake.audit import events_for, facts_of, reason_of
from intake.callbacks import CallbackRequest, note_of
from intake.crypto import FieldCipher, FieldCipherError, generate_secret
from intake.users import Role

FILE_NAME = "身份证正反面-户主本人.jpg"
NOTE = "我的身份证号是420102199001011236，电话13600001111，请回电"
#: Free text a cadre writes on each step: reasons and facts (some as the probe's did).
REASONS = {
    "start_village_review": "户主确诊肺癌晚期，需尽快上门",
    "village_report": "邻居反映其子患精神分裂症",
    "start_notice": "乡镇复核：住院欠款十二万",
    "end_notice": "公示无异议（复核人注明糖尿病足）",
    "enrol": "县级确认：长期透析",
    "close_callback": "已回电，对方说儿子吸毒欠债",
}
FACTS = {
    "meeting_result": "评议通过：妻子乳腺癌术后",
    "reason_detail": "因病：肝硬化失代偿期",
    "measures": "医疗救助并安排心理咨询（抑郁症）",
}
PHONE = "13812345678"


def _secrets(serial: int) -> list[str]:
    return [
        id_number(serial),
        PHONE,
        "13900001111",  # the call-back request's phone
        NOTE,
        "420102199001011236",
        "13600001111",
        FILE_NAME,
        *REASONS.values(),
        *FACTS.values(),
    ]


async def _enrol_with_reasons(services: Services, clock: FakeClock, item_id: int) -> None:
    add_user(services, "root", Role.ADMIN, None)
    fields = {
        "village_report": {
            "home_visit": "on",
            "consent_confirmed": "on",
            "meeting_result": FACTS["meeting_result"],
        },
        "enrol": {
            "risk_codes": ["01"],
            "helper": "刘莹嗣",
            "reason_detail": FACTS["reason_detail"],
            "measures": FACTS["measures"],
            "measures_due": "2027-06-30",
        },
    }
    async with client_for(services) as client:
        csrf = await login(client, "root")
        for action in ("start_village_review", "village_report", "start_notice"):
            extra = fields.get(action, {})
            answer = await act(client, item_id, csrf, action, reason=REASONS[action], **extra)
            assert answer.status_code == 303, answer.text
        clock.advance(days=8)
        for action in ("end_notice", "enrol"):
            extra = fields.get(action, {})
            answer = await act(client, item_id, csrf, action, reason=REASONS[action], **extra)
            assert answer.status_code == 303, answer.text


async def test_the_database_file_its_wal_and_the_log_hold_no_personal_text(
    services: Services, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    if not services.db.is_sqlite:
        pytest.skip("scans the SQLite file and its WAL")
    caplog.set_level(logging.DEBUG)
    bill = FileInfo(AttachmentKind.DOCUMENT, "file-1", file_name=FILE_NAME, caption="正反面")
    send_file(services, sender="p-1", file=bill, number=1)
    item = apply_by_chat(services, sender="p-1", serial=71, phone="138 1234 5678")
    callback = callback_item(services, VILLAGE_A, note=NOTE)
    await _enrol_with_reasons(services, clock, item.id or 0)
    async with client_for(services) as client:
        csrf = await login(client, "root")
        closed = await act(
            client, callback.id or 0, csrf, "close_callback", reason=REASONS["close_callback"]
        )
        assert closed.status_code == 303
        page = (await client.get(f"/cadre/items/{item.id}")).text
    for shown in (FILE_NAME, FACTS["meeting_result"], REASONS["enrol"], FACTS["measures"]):
        assert shown in page, "the cadre still reads them"
    database = Path(str(services.db.engine.url.database))
    stored = b"".join(p.read_bytes() for p in (database, Path(f"{database}-wal")) if p.exists())
    assert len(stored) > 0
    for secret in _secrets(71):
        assert secret.encode("utf-8") not in stored, secret
        assert secret not in caplog.text, secret


def test_rows_written_before_encryption_are_still_read(services: Services) -> None:
    """Plain text left by older versions reads as it is; a tampered token never does."""
    callback = callback_item(services, VILLAGE_A, note="old")
    with services.db.write() as db:
        row = db.exec(
            select(CallbackRequest).where(CallbackRequest.queue_item_id == callback.id)
        ).one()
        assert row.note_cipher != "old"
        row.note_cipher = "请回电，晚上在家"  # as migration 0004 found it
        db.add(row)
    with services.db.read() as db:
        row = db.exec(
            select(CallbackRequest).where(CallbackRequest.queue_item_id == callback.id)
        ).one()
        events = events_for(db, "queue_item", callback.id or 0)
    assert note_of(row, services.cipher) == "请回电，晚上在家"
    assert [reason_of(e, services.cipher) for e in events] == [None]
    assert facts_of(events[0], services.cipher) == events[0].data
    other = FieldCipher(generate_secret())
    with pytest.raises(FieldCipherError):
        other.unseal(services.cipher.encrypt("x"))
