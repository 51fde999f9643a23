"""The Official Account API client against a fake WeChat over real HTTP, on both databases.

Token refreshes (expired mid-send, refused twice, shared by two workers at once), the
48-hour window and the customer-service cap, every failure mapped to its outcome, menu,
QR codes and media.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from alembic import command
from alembic.config import Config
from conftest import FakeClock
from fakes.wechat_api import FakeWeChat
from sqlalchemy import inspect

from bot.channels.wechat import tokens
from bot.channels.wechat.api import WeChatApi
from bot.channels.wechat.menu import build_menu
from bot.channels.wechat.outcomes import NotDeliverable, WeChatError, outcome_for
from bot.services import MIGRATIONS
from intake.db import Database
from notifications.sender import Delivered, Failed, RetryLater, Stopped, Uncertain

OPENID = "oV1llager_0123456789abcdefgh"
TEMPLATE = "tmpl-progress-0001"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeWeChat]:
    with FakeWeChat() as wx:
        yield wx


@pytest.fixture
def wx(server: FakeWeChat) -> Iterator[FakeWeChat]:
    server.reset()
    server.add_template(TEMPLATE)
    yield server
    server.reset()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A database holding only the token table (the migration has its own test)."""
    database = Database(database_url)
    tokens.WeChatAccessToken.__table__.create(database.engine)  # type: ignore[attr-defined]
    yield database
    database.dispose()


def test_the_migration_creates_the_models_table(database_url: str) -> None:
    """Up to this channel's revision and its ancestors only (other branches are not ours)."""
    database = Database(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database.url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "0005")
    columns = {c["name"]: c for c in inspect(database.engine).get_columns("wechat_access_token")}
    database.dispose()
    model = tokens.WeChatAccessToken.__table__  # type: ignore[attr-defined]
    assert set(columns) == set(model.columns.keys())
    assert {n for n, c in columns.items() if not c["nullable"]} == {"app_id", "generation"}
    assert columns["token"]["type"].length == 512


def client(db: Database, wx: FakeWeChat, clock: FakeClock, **options: object) -> WeChatApi:
    return WeChatApi(
        db,
        app_id=wx.app_id,
        app_secret=wx.app_secret,
        base_url=wx.base_url,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def api(db: Database, wx: FakeWeChat, clock: FakeClock) -> AsyncIterator[WeChatApi]:
    async with client(db, wx, clock) as started:
        yield started


async def test_a_text_goes_out_as_raw_utf8_with_one_token(api: WeChatApi, wx: FakeWeChat) -> None:
    wx.user_writes(OPENID)
    assert await api.send_text(OPENID, "您的申请已受理。") == Delivered()
    assert await api.send_text(OPENID, "三个工作日内回复。") == Delivered()
    assert wx.sent_texts(OPENID) == ["您的申请已受理。", "三个工作日内回复。"]
    assert wx.token_fetches == 1
    # WeChat shows \\u escapes literally: the body must carry the characters themselves.
    assert "您的申请已受理".encode() in wx.calls_for("message/custom/send")[0].raw


async def test_choices_go_out_as_a_msgmenu(api: WeChatApi, wx: FakeWeChat) -> None:
    wx.user_writes(OPENID)
    outcome = await api.send_choices(
        OPENID, "家里有人生病吗？", [("ill:yes", "有"), ("ill:no", "没有")], tail="点选即可"
    )
    assert outcome == Delivered()
    (body,) = wx.sent(OPENID)
    assert body["msgtype"] == "msgmenu"
    assert body["msgmenu"] == {
        "head_content": "家里有人生病吗？",
        "list": [{"id": "ill:yes", "content": "有"}, {"id": "ill:no", "content": "没有"}],
        "tail_content": "点选即可",
    }


async def test_a_second_worker_uses_the_stored_token(
    api: WeChatApi, db: Database, wx: FakeWeChat, clock: FakeClock
) -> None:
    wx.user_writes(OPENID)
    await api.send_text(OPENID, "一")
    async with client(Database(db.url), wx, clock) as other:
        assert await other.send_text(OPENID, "二") == Delivered()
        other.db.dispose()
    assert wx.token_fetches == 1


@pytest.mark.parametrize("errcode", [42001, 40001])
async def test_a_token_expiring_mid_send_is_refreshed_once_and_the_send_repeated(
    api: WeChatApi, wx: FakeWeChat, errcode: int
) -> None:
    wx.user_writes(OPENID)
    await api.send_text(OPENID, "一")
    wx.expire_tokens(errcode)
    assert await api.send_text(OPENID, "二") == Delivered()
    assert [(c.endpoint, c.errcode) for c in wx.calls[2:]] == [
        ("message/custom/send", errcode),
        ("token", None),
        ("message/custom/send", None),
    ]
    assert wx.sent_texts(OPENID) == ["一", "二"]


async def test_a_malformed_token_answer_40014_is_refreshed_too(
    api: WeChatApi, wx: FakeWeChat
) -> None:
    wx.user_writes(OPENID)
    wx.fail_next("message/custom/send", errcode=40014)
    assert await api.send_text(OPENID, "一") == Delivered()
    assert wx.token_fetches == 2


async def test_a_token_refused_twice_pauses_the_channel_instead_of_looping(
    api: WeChatApi, wx: FakeWeChat
) -> None:
    wx.user_writes(OPENID)
    wx.fail_next("message/custom/send", errcode=40001, count=5)
    outcome = await api.send_text(OPENID, "一")
    assert isinstance(outcome, RetryLater) and outcome.flood
    assert len(wx.calls_for("message/custom/send")) == 2
    assert wx.token_fetches == 2


async def test_a_token_near_its_expiry_is_renewed_before_use(
    api: WeChatApi, wx: FakeWeChat, clock: FakeClock
) -> None:
    wx.user_writes(OPENID)
    await api.send_text(OPENID, "一")
    clock.advance(seconds=7200 - 299)  # inside the 5-minute margin
    await api.send_text(OPENID, "二")
    assert [c.endpoint for c in wx.calls] == ["token", "message/custom/send"] * 2


async def test_outside_the_48_hour_window_the_caller_is_told_to_fall_back(
    api: WeChatApi, wx: FakeWeChat
) -> None:
    wx.user_writes(OPENID)
    wx.advance(48 * 3600 + 1)
    outcome = await api.send_text(OPENID, "您的申请已通过。")
    assert isinstance(outcome, NotDeliverable) and outcome.errcode == 45015
    sent = await api.send_template(
        OPENID, TEMPLATE, {"first": "您的申请已通过。"}, url="https://x/"
    )
    assert isinstance(sent, Delivered) and sent.external_id
    assert wx.sent(OPENID)[-1]["data"] == {"first": {"value": "您的申请已通过。"}}


async def test_the_customer_service_cap_asks_for_a_fallback_until_the_person_writes(
    api: WeChatApi, wx: FakeWeChat
) -> None:
    wx.user_writes(OPENID)
    outcomes = [await api.send_text(OPENID, f"第{n}条") for n in range(wx.cs_cap + 1)]
    assert outcomes[:-1] == [Delivered()] * wx.cs_cap
    assert isinstance(outcomes[-1], NotDeliverable) and outcomes[-1].errcode == 45047
    wx.user_writes(OPENID)
    assert await api.send_text(OPENID, "再来一条") == Delivered()


async def test_people_who_cannot_receive_are_stopped(api: WeChatApi, wx: FakeWeChat) -> None:
    assert isinstance(await api.send_text("oNeverSeen", "x"), Stopped)  # 40003
    wx.follow(OPENID, subscribed=False)
    assert isinstance(await api.send_template(OPENID, TEMPLATE, {"first": "x"}), Stopped)
    wx.follow(OPENID)
    assert isinstance(await api.send_template(OPENID, "tmpl-unknown", {"first": "x"}), Failed)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"errcode": -1}, RetryLater("wechat -1: system error rid: fake", 5.0)),
        (
            {"errcode": 45009},
            RetryLater("wechat 45009: reach max api daily quota limit rid: fake", 3600.0, True),
        ),
        ({"status": 502}, RetryLater("WeChat answered HTTP 502", 5.0)),
        ({"status": 404}, Uncertain("HTTP 404 without a JSON object")),
    ],
)
async def test_busy_and_broken_answers_map_to_their_outcomes(
    api: WeChatApi, wx: FakeWeChat, fault: dict[str, int], expected: object
) -> None:
    wx.user_writes(OPENID)
    await api.access_token()
    wx.fail_next("message/custom/send", **fault)  # type: ignore[arg-type]
    assert await api.send_text(OPENID, "x") == expected
    assert wx.sent_texts() == []


async def test_no_connection_is_retried_and_no_answer_is_uncertain(
    db: Database, wx: FakeWeChat, clock: FakeClock
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    async with client(db, wx, clock) as api:
        await api.access_token()
    async with WeChatApi(
        db, app_id=wx.app_id, app_secret="x", base_url=f"http://127.0.0.1:{port}", clock=clock
    ) as refused:
        outcome = await refused.send_text(OPENID, "x")
        assert isinstance(outcome, RetryLater) and "ConnectError" in outcome.reason
    wx.user_writes(OPENID)
    wx.fail_next("message/custom/send", hold=30, deliver=True)
    async with client(db, wx, clock, timeout=0.3) as slow:
        outcome = await slow.send_text(OPENID, "也许到了")
    assert isinstance(outcome, Uncertain)
    wx.release_held()
    await wx.wait_for(lambda: wx.sent_texts(OPENID) == ["也许到了"])  # WeChat did deliver


async def test_wrong_credentials_pause_the_channel_and_free_the_lease(
    db: Database, wx: FakeWeChat, clock: FakeClock
) -> None:
    async with WeChatApi(
        db, app_id=wx.app_id, app_secret="wrong", base_url=wx.base_url, clock=clock
    ) as api:
        first = await api.send_text(OPENID, "x")
        second = await api.send_text(OPENID, "x")
    assert isinstance(first, RetryLater) and first.flood and "40125" in first.reason
    assert second == first
    assert [c.errcode for c in wx.calls] == [40125, 40125]  # the lease did not block the retry


async def test_two_workers_refreshing_at_once_fetch_one_token(
    db: Database, wx: FakeWeChat, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.channels.wechat.api")
    second_db = Database(db.url)  # another engine, as in another process
    wx.fail_next("token", hold=30, deliver=True)
    async with client(db, wx, clock) as one, client(second_db, wx, clock) as two:
        first = asyncio.create_task(one.access_token())
        await wx.wait_for(lambda: wx.held_count == 1)
        second = asyncio.create_task(two.access_token())
        await wx.wait_for(lambda: "waiting for another worker" in caplog.text)
        wx.release_held()
        tokens_seen = await asyncio.gather(first, second)
    second_db.dispose()
    assert tokens_seen[0] == tokens_seen[1]
    assert wx.token_fetches == 1


async def test_a_lease_left_by_a_dead_worker_runs_out(
    db: Database, wx: FakeWeChat, clock: FakeClock
) -> None:
    tokens.read(db, wx.app_id)
    lease = timedelta(seconds=30)
    assert tokens.claim(db, wx.app_id, "dead", now=clock(), margin=timedelta(0), lease=lease)
    async with client(db, wx, clock, wait_limit=0.2, lease=lease) as api:
        with pytest.raises(WeChatError) as waited:
            await api.access_token()
        assert isinstance(waited.value.outcome, RetryLater)
        assert wx.token_fetches == 0
        clock.advance(seconds=31)
        assert await api.access_token()
    assert wx.token_fetches == 1


async def test_an_invalidation_never_discards_a_newer_token(
    api: WeChatApi, db: Database, wx: FakeWeChat, clock: FakeClock
) -> None:
    old = await api.access_token()
    tokens.invalidate(db, wx.app_id, old, now=clock())  # a worker was refused it
    async with client(db, wx, clock) as other:
        new = await other.access_token()
    assert new != old
    tokens.invalidate(db, wx.app_id, old, now=clock())  # a late worker reports the old one
    assert tokens.read(db, wx.app_id).token == new
    assert tokens.read(db, wx.app_id).usable(clock(), timedelta(minutes=5))


async def test_no_token_or_secret_reaches_the_logs(
    api: WeChatApi, wx: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    """httpx logs every URL at INFO, and WeChat's URLs carry the token or the app secret."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="httpx")  # the service holds httpx at WARNING
    wx.user_writes(OPENID)
    await api.send_text(OPENID, "一")
    wx.expire_tokens()
    await api.send_text(OPENID, "二")
    issued = list(wx.state.tokens)
    assert len(issued) == 2
    assert "access_token=<redacted>" in caplog.text
    for secret in [*issued, wx.app_secret]:
        assert secret not in caplog.text


async def test_the_hotline_menu_fits_wechats_limits(api: WeChatApi, wx: FakeWeChat) -> None:
    await api.create_menu(build_menu())
    assert wx.state.menu == {
        "button": [
            {"type": "click", "name": "申请", "key": "apply"},
            {"type": "click", "name": "查进度", "key": "status"},
            {
                "name": "更多",
                "sub_button": [
                    {"type": "click", "name": "反映问题", "key": "report"},
                    {"type": "click", "name": "人工", "key": "human"},
                ],
            },
        ]
    }
    flat = {"button": [{"type": "click", "name": n, "key": n} for n in "甲乙丙丁"]}
    with pytest.raises(WeChatError) as refused:
        await api.create_menu(flat)
    assert refused.value.errcode == 40016


@pytest.mark.parametrize(
    "items",
    [[], [("x", "k")] * 8, [("申请进度查询", "k")], [("申请", "")], [("申请", "k" * 129)]],
)
def test_menus_wechat_would_refuse_are_refused_here(items: list[tuple[str, str]]) -> None:
    with pytest.raises(ValueError, match="menu"):
        build_menu(items)


def test_three_items_fill_the_bar_without_a_more_button() -> None:
    assert [
        b["name"] for b in build_menu([("申请", "a"), ("查进度", "s"), ("人工", "h")])["button"]
    ] == [
        "申请",
        "查进度",
        "人工",
    ]


async def test_a_village_qr_code_carries_its_scene(api: WeChatApi, wx: FakeWeChat) -> None:
    poster = await api.village_qr("441322105001")
    assert poster.expire_seconds is None
    assert poster.url.startswith("http://weixin.qq.com/q/")
    assert wx.state.qr_codes[poster.ticket] == "v_441322105001"
    temporary = await api.village_qr("441322105001", expire_seconds=86400)
    assert temporary.expire_seconds == 86400
    with pytest.raises(ValueError, match="64"):
        await api.village_qr("9" * 63)


async def test_voice_and_images_download_within_bounds(api: WeChatApi, wx: FakeWeChat) -> None:
    voice = b"#!AMR\n" + bytes(range(256)) * 40
    media_id = wx.add_media(voice, "audio/amr", "voice.amr")
    media = await api.download_media(media_id)
    assert (media.data, media.content_type, media.filename) == (voice, "audio/amr", "voice.amr")
    with pytest.raises(WeChatError) as too_big:
        await api.download_media(media_id, max_bytes=1000)
    assert isinstance(too_big.value.outcome, Failed)
    with pytest.raises(WeChatError) as unknown:
        await api.download_media("media-gone")
    assert unknown.value.errcode == 40007


@pytest.mark.parametrize(
    ("errcode", "kind"),
    [
        (0, Delivered),
        (45015, NotDeliverable),
        (45047, NotDeliverable),
        (43004, Stopped),
        (43101, Stopped),
        (40003, Stopped),
        (45009, RetryLater),
        (45011, RetryLater),
        (-1, RetryLater),
        (40013, RetryLater),
        (40037, Failed),
        (47001, Failed),
    ],
)
def test_each_errcode_has_its_outcome(errcode: int, kind: type) -> None:
    assert isinstance(outcome_for(errcode, "msg"), kind)
