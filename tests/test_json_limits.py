"""Untrusted JSON read within limits: the parser alone, then both inbound endpoints fuzzed
through the real app (uvicorn, a real database, the fake Bot API) - never a 5xx."""

from __future__ import annotations

import copy
import itertools
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import FakeClock
from fakes.telegram_api import FakeTelegram
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, func, select
from telegram_support import SECRET, WEBHOOK, TelegramRig, next_update_id, telegram_settings

from bot import inbound
from bot.channels.webhook import sign
from bot.config import Settings
from intake.json_limits import INT64_MAX, INT64_MIN, JsonLimits, JsonRejected, check, loads

WEBHOOK_SECRET = "webhook-test-secret"


# ----------------------------------------------------------------- the parser alone


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"n": ' + b"1" * 5000 + b"}", "number"),  # int() refuses past 4,300 digits
        (b'{"n": ' + str(INT64_MAX + 1).encode() + b"}", "number"),
        (b'{"n": ' + str(INT64_MIN - 1).encode() + b"}", "number"),
        (b'{"n": 0.' + b"0" * 40 + b"1}", "number"),
        (b'{"n": 1e999}', "number"),  # a finite-looking literal that is infinite
        (b'{"n": NaN}', "number"),
        (b'{"n": -Infinity}', "number"),
        (b"[" * 5000 + b"]" * 5000, "depth"),  # RecursionError inside json
        (b"[" * 33 + b"]" * 33, "depth"),
        (b'{"a": ' * 40 + b"1" + b"}" * 40, "depth"),
        (b'{"t": "\\ud800"}', "character"),  # a lone surrogate: no encoder takes it
        (b'{"t": "a\\udfffb"}', "character"),
        (b'{"\\ud800": 1}', "character"),
        (b'{"t": "\\u0000"}', "character"),  # PostgreSQL text cannot hold NUL
        (b'{"t": "' + b"x" * 16_385 + b'"}', "string"),
        (b"\xff\xfe{}", "encoding"),
        (b'\xef\xbb\xbf{"t": 1}', "syntax"),  # a BOM is not JSON
        (b'{"t": 1', "syntax"),
        (b"", "syntax"),
    ],
)
def test_the_parser_refuses_what_no_column_takes(body: bytes, reason: str) -> None:
    with pytest.raises(JsonRejected) as refused:
        loads(body)
    assert refused.value.reason == reason
    assert str(refused.value) == reason, "the message is one word, never the body"


def test_the_parser_keeps_everything_within_the_limits() -> None:
    body = json.dumps(
        {
            "edges": [INT64_MIN, INT64_MAX, -0.5, 1.5e300],
            "deep": json.loads("[" * 31 + "]" * 31),
            "pair": "\ud83d\ude00",  # escaped as a valid surrogate pair: one character
            "brackets": "[[[[{{{{" * 100,  # inside a string: not nesting
            "long": "长" * 16_384,
        }
    ).encode()
    value = loads(body)
    assert value["pair"] == "😀" and value["edges"][1] == INT64_MAX
    assert len(value["long"]) == 16_384


def test_limits_can_be_tightened() -> None:
    with pytest.raises(JsonRejected):
        loads(b'[[["x"]]]', JsonLimits(max_depth=2))
    with pytest.raises(JsonRejected):
        loads(b'"abcdef"', JsonLimits(max_string_chars=5))


@pytest.mark.parametrize(
    "value",
    [
        {"n": 2**64},
        {"n": float("nan")},
        {"t": "\ud800"},
        {"deep": json.loads("[" * 40 + "]" * 40)},
        {"odd": object()},
    ],
)
def test_a_value_parsed_elsewhere_is_checked_the_same_way(value: Any) -> None:
    with pytest.raises(JsonRejected):
        check(value)


# ----------------------------------------------------------------- both endpoints, fuzzed


@dataclass(frozen=True, repr=False)
class Raw:
    """JSON text put into a body as it is (numbers and nesting ``json.dumps`` cannot write)."""

    text: str

    def __repr__(self) -> str:  # a failing case is shown without 5,000 digits
        return f"Raw({self.text[:24]!r}… {len(self.text)} chars)"


def encode(value: Any) -> bytes:
    """``value`` as JSON, with :class:`Raw` parts verbatim and lone surrogates escaped."""

    def text(item: Any) -> str:
        if isinstance(item, Raw):
            return item.text
        if isinstance(item, dict):
            return "{" + ",".join(f"{json.dumps(str(k))}:{text(v)}" for k, v in item.items()) + "}"
        if isinstance(item, list):
            return "[" + ",".join(text(v) for v in item) + "]"
        return json.dumps(item)

    return text(value).encode()


_HOSTILE = st.sampled_from(
    [
        Raw("1" * 5000),
        Raw("-" + "9" * 25),
        Raw(str(2**63)),
        Raw(str(-(2**63) - 1)),
        Raw("1e999"),
        Raw("-1e999"),
        Raw("NaN"),
        Raw("Infinity"),
        Raw("[" * 3000 + "]" * 3000),
        Raw('{"a":' * 40 + "1" + "}" * 40),
        "\ud800",
        "a\udfffb",
        "\x00",
        "x" * 20_000,
        2**40,
        2**31,
        -1,
        10**15,
        True,
        None,
        "",
        "7",
        [],
        {},
        [1, 2],
        {"id": 1},
        1.5,
    ]
)
_SCALAR = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.booleans(),
    st.none(),
)
_ANY_JSON = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_VALUE = st.one_of(_HOSTILE, _HOSTILE, _SCALAR, _ANY_JSON)


def _paths(value: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in ``value`` a mutation can hit (the root excluded)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*here, key)
            yield from _paths(inner, (*here, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield (*here, index)
            yield from _paths(inner, (*here, index))


def _mutate(data: st.DataObject, template: Any) -> Any:
    """``template`` with up to three values replaced, removed or added (none: as sent)."""
    for _ in range(data.draw(st.integers(0, 3))):
        paths = list(_paths(template))
        if not paths:
            return _fresh(data)
        path = data.draw(st.sampled_from(paths))
        parent = template
        for step in path[:-1]:
            parent = parent[step]
        action = data.draw(st.sampled_from(["replace", "replace", "remove", "add"]))
        if action == "remove" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=12))] = _fresh(data)
        else:
            parent[path[-1]] = _fresh(data)
    return template


def _fresh(data: st.DataObject) -> Any:
    """A drawn value of its own: ``sampled_from`` hands out the same ``{}`` and ``[]``
    objects every time, and a later mutation inside one must not change the next case."""
    return copy.deepcopy(data.draw(_VALUE))


@pytest.fixture(scope="module")
def fake_telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as tg:
        yield tg


@pytest.fixture
def rig(settings: Settings, clock: FakeClock, fake_telegram: FakeTelegram) -> Iterator[TelegramRig]:
    """The whole app - the JSON webhook and the Telegram webhook - on the test database."""
    fake_telegram.reset()
    with TelegramRig(telegram_settings(settings, fake_telegram), clock, fake_telegram) as running:
        yield running


class Sent:
    """What one fuzzed request must leave: no 5xx, a polite 400, nothing half-written."""

    def __init__(self, rig: TelegramRig) -> None:
        self.rig = rig

    def rows(self) -> tuple[int, int]:
        with self.rig.services.db.read() as db:
            total = db.exec(select(func.count()).select_from(inbound.InboundMessage)).one()
            unsettled = db.exec(
                select(func.count())
                .select_from(inbound.InboundMessage)
                .where(col(inbound.InboundMessage.status) != inbound.InboundStatus.PROCESSED)
            ).one()
        return int(total), int(unsettled)

    def check(self, response: httpx.Response, before: int) -> None:
        assert response.status_code < 500, response.text
        assert response.status_code in (200, 400), response.status_code
        total, unsettled = self.rows()
        assert unsettled == 0, "every stored message is answered, none failed or waiting"
        if response.status_code == 400:
            assert response.json()["message"].split("。")[0], "a polite line, Chinese first"
            assert "。" in response.json()["message"]
            assert total == before, "a refused body stores nothing"


_IDS = itertools.count()
_FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _webhook_template(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["text", "button", "start"])
    message: dict[str, Any] = {"id": f"fz-{next(_IDS)}", "from": f"fz-{rng.randrange(4)}"}
    extra = {
        "text": {"type": "text", "text": "帮助", "language": "zh_CN"},
        "button": {"type": "button", "data": "choose:apply"},
        "start": {"type": "start", "payload": "v_gangkou-bailing"},
    }
    return {**message, **extra[kind]}


@_FUZZ
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_the_json_webhook_never_answers_5xx(
    rig: TelegramRig, data: st.DataObject, seed: int
) -> None:
    sent = Sent(rig)
    body = encode(_mutate(data, _webhook_template(random.Random(seed))))
    before, _ = sent.rows()
    stamp = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "x-hotline-timestamp": stamp,
        "x-hotline-signature": sign(WEBHOOK_SECRET, stamp, body),
    }
    response = httpx.post(f"{rig.url}/channels/webhook", content=body, headers=headers, timeout=30)
    sent.check(response, before)


def _telegram_template(rng: random.Random) -> dict[str, Any]:
    """A Telegram update of one of the kinds the bot reads, built without the fake's state
    (hypothesis replays a case and needs the same shape every time)."""
    chat_id = 930_000 + rng.randrange(4)
    user = {"id": chat_id, "is_bot": False, "first_name": "U", "language_code": "zh-hans"}
    chat = {"id": chat_id, "type": "private", "first_name": "U"}
    message: dict[str, Any] = {"message_id": rng.randrange(1, 99), "date": 1_790_000_000}
    message.update(chat=chat, **{"from": user})
    kind = rng.choice(["text", "button", "photo", "member"])
    if kind == "button":
        keyboard = [[{"text": "申请", "callback_data": "choose:apply"}]]
        shown = {**message, "from": {"id": 1, "is_bot": True, "first_name": "Bot"}}
        shown.update(text="请选择：", reply_markup={"inline_keyboard": keyboard})
        query = {"id": f"q{rng.randrange(10**6)}", "chat_instance": "1", "data": "choose:apply"}
        update: dict[str, Any] = {"callback_query": {**query, "from": user, "message": shown}}
    elif kind == "photo":
        photo = [{"file_id": "P", "file_unique_id": "PU", "width": 9, "height": 9, "file_size": 99}]
        update = {"message": {**message, "photo": photo, "caption": "发票"}}
    elif kind == "member":
        bot = {"id": 1, "is_bot": True, "first_name": "Bot"}
        member = {"chat": chat, "from": user, "date": 1}
        member["old_chat_member"] = {"status": "member", "user": bot}
        member["new_chat_member"] = {"status": "kicked", "user": bot, "until_date": 0}
        update = {"my_chat_member": member}
    else:
        update = {"message": {**message, "text": "/start"}}
    update["update_id"] = next_update_id()
    return update


@_FUZZ
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_the_telegram_webhook_never_answers_5xx(
    rig: TelegramRig, data: st.DataObject, seed: int
) -> None:
    sent = Sent(rig)
    body = encode(_mutate(data, _telegram_template(random.Random(seed))))
    before, _ = sent.rows()
    headers = {"x-telegram-bot-api-secret-token": SECRET, "content-type": "application/json"}
    response = httpx.post(f"{rig.url}{WEBHOOK}", content=body, headers=headers, timeout=30)
    sent.check(response, before)
