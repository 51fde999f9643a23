"""Link codes for helpers' chats: single use, 72 hours, throttled guessing, hashed at rest."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from helpers_support import cipher, migrated
from sqlmodel import select

from intake.db import Database
from intake.helpers.assignments import create_helper
from intake.helpers.links import (
    MAX_FAILURES,
    LinkOutcome,
    check_link_code,
    deep_link_payload,
    new_link_code,
    redeem_link_code,
)
from intake.helpers.models import Helper, HelperLink

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _helper_and_code(db: Database) -> tuple[int, str]:
    with db.write() as session:
        place = {"region_code": "gangkou", "township_code": "gangkou"}
        helper = create_helper(
            session, cipher(), name="李四", phone="13812345678", **place, actor="t", now=NOW
        )
        code = new_link_code(session, cipher(), helper_id=int(helper.id or 0), actor="t", now=NOW)
    return int(helper.id or 0), code


def _check(db: Database, code: str, chat: str = "1", at: datetime = NOW):  # type: ignore[no-untyped-def]
    with db.write() as session:
        return check_link_code(
            session, cipher(), code, channel="telegram", external_id=chat, now=at
        )


def _redeem(db: Database, code: str, chat: str = "1", at: datetime = NOW) -> Helper | None:
    with db.write() as session:
        return redeem_link_code(
            session, cipher(), code, channel="telegram", external_id=chat, now=at
        )


def test_a_code_links_once_and_is_stored_only_hashed(database_url: str) -> None:
    db = migrated(database_url)
    helper_id, code = _helper_and_code(db)
    outcome, helper = _check(db, deep_link_payload(code))  # the /start payload works too
    assert outcome is LinkOutcome.OK and helper is not None and helper.name == "李四"
    linked = _redeem(db, code.lower())  # typed by hand, in lower case
    assert linked is not None and linked.chat_external_id == "1"
    assert _redeem(db, code, chat="2") is None
    assert _check(db, code, chat="2")[0] is LinkOutcome.USED
    with db.read() as session:
        row = session.exec(select(HelperLink)).one()
        assert code.replace("-", "") not in row.code_hash
        assert session.get(Helper, helper_id).chat_external_id == "1"  # type: ignore[union-attr]


def test_a_code_expires_after_72_hours(database_url: str) -> None:
    db = migrated(database_url)
    _, code = _helper_and_code(db)
    late = NOW + timedelta(hours=72)
    assert _check(db, code, at=late)[0] is LinkOutcome.EXPIRED
    assert _redeem(db, code, at=late) is None
    assert _check(db, code, at=late - timedelta(seconds=1))[0] is LinkOutcome.OK


def test_guessing_is_throttled_per_chat(database_url: str) -> None:
    db = migrated(database_url)
    _, code = _helper_and_code(db)
    for n in range(MAX_FAILURES):
        assert _check(db, f"WRONG{n:05d}", chat="g")[0] is LinkOutcome.UNKNOWN
    assert _check(db, code, chat="g")[0] is LinkOutcome.THROTTLED  # even the right code
    assert _check(db, code, chat="other")[0] is LinkOutcome.OK  # another chat is not held
    assert _check(db, code, chat="g", at=NOW + timedelta(hours=1))[0] is LinkOutcome.OK


def test_two_chats_racing_with_one_code_link_one(database_url: str) -> None:
    db = migrated(database_url)
    _, code = _helper_and_code(db)
    results: list[Helper | None] = []
    barrier = threading.Barrier(2)

    def race(chat: str) -> None:
        barrier.wait()
        results.append(_redeem(db, code, chat=chat))

    threads = [threading.Thread(target=race, args=(c,)) for c in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(r is not None for r in results) == [False, True]
