"""The composition root's logging: at DEBUG too, nothing personal and nothing that unlocks a
case reaches the service log (IDs, phones, tracking codes, chat ids, texts, reasons)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from cadre_support import apply_by_chat, id_number
from conftest import FakeClock
from fakes.telegram_api import FakeTelegram
from telegram_support import Phone, TelegramRig, telegram_settings

from bot.config import Settings
from bot.services import configure_logging
from intake.procedure import apply
from intake.users import Role, Scope

CHAT_ID = 918273645
REASON = "住院确诊尿毒症，需要长期透析"
PHONE = "13812345678"


@contextmanager
def debug_log() -> Iterator[None]:
    """The service's own logging at DEBUG, set up inside the test's call phase (pytest swaps
    the captured stderr between phases)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("httpx").level
    configure_logging("DEBUG")
    try:
        yield
    finally:
        for handler in root.handlers:
            handler.flush()
        root.handlers[:], level, httpx_level = saved
        root.setLevel(level)
        logging.getLogger("httpx").setLevel(httpx_level)


def test_debug_logs_hold_no_personal_data_codes_chat_ids_or_reasons(
    settings: Settings,
    clock: FakeClock,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with (
        FakeTelegram() as tg,
        TelegramRig(telegram_settings(settings, tg), clock, tg) as rig,
        debug_log(),
    ):
        services = rig.services
        phone = Phone(rig, CHAT_ID)
        phone.say("/start")
        phone.say("你好，我想申请")
        item = apply_by_chat(services, sender="villager-77", phone=PHONE, serial=77)
        with services.db.write() as db:
            apply(
                db,
                item,
                "withdraw",
                scope=Scope(Role.ADMIN, None, None, None),
                actor="user:1",
                policy=services.default_policy,
                calendar=services.calendar,
                now=services.clock(),
                cipher=services.cipher,
                reason=REASON,
                facts={"applicant_asked": "on"},
            )
        logging.getLogger("bot.test").debug("code %s typed", item.tracking_code.lower())
    err = capfd.readouterr().err
    # Logs were written at DEBUG: Bot API calls, with their parameters hidden.
    assert "sendMessage" in err and "<payload hidden>" in err
    code = item.tracking_code
    for secret in (code, code.replace("-", ""), code.lower(), str(CHAT_ID), REASON, PHONE):
        assert secret not in err, secret
    assert id_number(77) not in err and "****-****" in err


def test_a_payload_passed_as_a_mapping_is_hidden(capfd: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("bot.test")
    with debug_log():
        log.debug("%(text)s", {"text": REASON})
        log.info("sent %s to %s", {"chat_id": CHAT_ID, "text": REASON}, [CHAT_ID])
        log.warning("plain %s and %d", "words", 3)

        class BindParameters:  # with echo on, SQLAlchemy logs its bind parameters so
            def __repr__(self) -> str:
                return repr((REASON, CHAT_ID))

        log.info("[cached] %r", BindParameters())
    err = capfd.readouterr().err
    assert REASON not in err and str(CHAT_ID) not in err
    assert "plain words and 3" in err and "[cached] '<payload hidden>'" in err
