"""Linking a helper's chat through the real conversation service: the deep link and the
bare code, a wrong, expired, reused or throttled code, and a name not confirmed.

Every case runs on SQLite and PostgreSQL (``services`` is built on ``database_url``).
"""

from __future__ import annotations

from itertools import count

import pytest
from conftest import FakeClock
from sqlmodel import select
from visit_support import helper_with_households

from bot.conversation import Incoming
from bot.engine import Input
from bot.render import Rendered
from bot.services import Services
from intake.helpers.links import MAX_FAILURES, deep_link_payload, new_link_code
from intake.helpers.models import Helper

_ids = count()


def send(services: Services, chat: str, given: Input, channel: str = "webhook") -> list[Rendered]:
    message = Incoming(channel, f"{chat}-{next(_ids)}", chat, given, "zh_CN")
    return list(services.conversations.receive(message).replies)


def press(services: Services, chat: str, replies: list[Rendered], label: str) -> list[Rendered]:
    for reply in replies:
        for shown, data in reply.buttons:
            if shown == label:
                return send(services, chat, Input(data=data))
    raise AssertionError(f"no button {label!r}")


def texts(replies: list[Rendered]) -> str:
    return "\n".join(r.text for r in replies)


def code_for(services: Services, helper_id: int) -> str:
    with services.db.write() as session:
        return new_link_code(session, services.cipher, helper_id=helper_id, actor="t",
                             now=services.clock())  # fmt: skip


def linked_chat(services: Services, helper_id: int) -> str | None:
    with services.db.read() as session:
        helper = session.get(Helper, helper_id)
        assert helper is not None
        return helper.chat_external_id


@pytest.fixture
def ids(services: Services) -> dict[str, int]:
    return helper_with_households(services, chat=None)


def test_the_deep_link_asks_the_name_then_links_on_yes(
    services: Services, ids: dict[str, int]
) -> None:
    code = code_for(services, ids["helper"])
    replies = send(services, "tg-1", Input(start=True, payload=deep_link_payload(code)))
    assert "帮扶责任人“李帮扶”。是您本人吗？" in texts(replies)
    assert linked_chat(services, ids["helper"]) is None  # not before the name is confirmed
    replies = press(services, "tg-1", replies, "是")
    assert "李帮扶您好，绑定成功" in texts(replies)
    assert "记录走访" in [label for r in replies for label, _ in r.buttons]
    assert linked_chat(services, ids["helper"]) == "tg-1"


def test_the_bare_code_typed_at_the_menu_in_any_spelling_links_too(
    services: Services, ids: dict[str, int]
) -> None:
    code = code_for(services, ids["helper"]).lower().replace("-", " ")
    send(services, "web-2", Input(start=True))
    replies = send(services, "web-2", Input(text=code))
    press(services, "web-2", replies, "是")
    assert linked_chat(services, ids["helper"]) == "web-2"


def test_a_code_as_the_first_message_of_a_new_chat_asks_the_name_at_once(
    services: Services, ids: dict[str, int]
) -> None:
    replies = send(services, "wx-3", Input(text=code_for(services, ids["helper"])))
    assert texts(replies).startswith("您好")  # the welcome, then the question, not the menu
    assert "是您本人吗？" in texts(replies)
    assert "请选择您要办理的事" not in texts(replies)
    press(services, "wx-3", replies, "是")
    assert linked_chat(services, ids["helper"]) == "wx-3"


def test_a_wrong_code_is_refused_politely_and_links_nothing(
    services: Services, ids: dict[str, int]
) -> None:
    code_for(services, ids["helper"])
    replies = send(services, "w", Input(start=True, payload="h_ABCDEFGHJK"))
    assert "这个绑定码不对" in texts(replies)
    assert "请选择您要办的事" in texts(replies)
    assert linked_chat(services, ids["helper"]) is None


def test_an_expired_code_is_refused(
    services: Services, clock: FakeClock, ids: dict[str, int]
) -> None:
    code = code_for(services, ids["helper"])
    clock.advance(hours=72, seconds=1)
    replies = send(services, "late", Input(start=True, payload=deep_link_payload(code)))
    assert "已过期" in texts(replies)
    assert linked_chat(services, ids["helper"]) is None


def test_a_code_works_once(services: Services, ids: dict[str, int]) -> None:
    code = code_for(services, ids["helper"])
    first = send(services, "a", Input(start=True, payload=deep_link_payload(code)))
    press(services, "a", first, "是")
    again = send(services, "b", Input(start=True, payload=deep_link_payload(code)))
    assert "已经用过了" in texts(again)
    assert linked_chat(services, ids["helper"]) == "a"


def test_a_code_used_between_the_question_and_the_yes_links_only_the_first(
    services: Services, ids: dict[str, int]
) -> None:
    code = code_for(services, ids["helper"])
    first = send(services, "a", Input(start=True, payload=deep_link_payload(code)))
    second = send(services, "b", Input(start=True, payload=deep_link_payload(code)))
    press(services, "a", first, "是")
    replies = press(services, "b", second, "是")
    assert "已过期" in texts(replies)
    assert linked_chat(services, ids["helper"]) == "a"


def test_guessing_is_throttled_even_for_the_right_code_afterwards(
    services: Services, clock: FakeClock, ids: dict[str, int]
) -> None:
    code = code_for(services, ids["helper"])
    for n in range(MAX_FAILURES):
        replies = send(services, "guesser", Input(start=True, payload=f"h_ABCDEFGH{n + 2}X"))
        assert "这个绑定码不对" in texts(replies)
    replies = send(services, "guesser", Input(start=True, payload=deep_link_payload(code)))
    assert "输错次数太多" in texts(replies)
    assert linked_chat(services, ids["helper"]) is None
    clock.advance(hours=1, seconds=1)
    replies = send(services, "guesser", Input(start=True, payload=deep_link_payload(code)))
    assert "是您本人吗" in texts(replies)


def test_a_name_not_confirmed_links_nothing_and_keeps_the_code(
    services: Services, ids: dict[str, int]
) -> None:
    code = code_for(services, ids["helper"])
    replies = send(services, "x", Input(start=True, payload=deep_link_payload(code)))
    replies = press(services, "x", replies, "否")
    assert "没有绑定" in texts(replies)
    assert linked_chat(services, ids["helper"]) is None
    replies = send(services, "y", Input(start=True, payload=deep_link_payload(code)))
    press(services, "y", replies, "是")  # the right person can still use it
    assert linked_chat(services, ids["helper"]) == "y"


def test_one_chat_links_one_helper(services: Services, ids: dict[str, int]) -> None:
    for helper in ("helper", "other_helper"):
        code = code_for(services, ids[helper])
        replies = send(services, "shared", Input(start=True, payload=deep_link_payload(code)))
        press(services, "shared", replies, "是")
    with services.db.read() as session:
        chats = {h.name: h.chat_external_id for h in session.exec(select(Helper))}
    assert chats == {"李帮扶": None, "周别人": "shared"}


def test_the_link_leaves_unfinished_work_where_it_was(
    services: Services, ids: dict[str, int]
) -> None:
    send(services, "busy", Input(start=True))
    menu = send(services, "busy", Input(text="请村干部回电话"))
    assert "电话号码" in texts(menu)
    code = code_for(services, ids["helper"])
    replies = send(services, "busy", Input(start=True, payload=deep_link_payload(code)))
    replies = press(services, "busy", replies, "是")
    assert "绑定成功" in texts(replies) and "电话号码" in texts(replies)
