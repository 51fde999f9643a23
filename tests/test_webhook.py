"""The generic JSON webhook channel, over real HTTP against uvicorn and a real database."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import FakeClock, LiveServer
from db_outage import Outage, outage_for
from fastapi import FastAPI, Request
from sqlmodel import func, select

from bot import inbound
from bot.app import create_app
from bot.channels.webhook import RETRY_AFTER_SECONDS, WebhookSender, sign
from bot.config import Settings
from bot.services import Services, build_services
from intake.applications import Application
from intake.queue import QueueItem
from notifications.dispatcher import Dispatcher
from notifications.outbox import OutboxMessage, OutboxStatus, enqueue

SECRET = "webhook-test-secret"
ID_NUMBER = "421223195803151230"


@pytest.fixture
def server(services: Services) -> Iterator[LiveServer]:
    with LiveServer(create_app(services.settings, services)) as live:
        yield live


def signed(body: bytes, *, secret: str = SECRET, stamp: float | None = None) -> dict[str, str]:
    timestamp = str(int(stamp if stamp is not None else time.time()))
    return {
        "content-type": "application/json",
        "x-hotline-timestamp": timestamp,
        "x-hotline-signature": sign(secret, timestamp, body),
    }


def post(url: str, message: dict[str, Any], **kw: Any) -> httpx.Response:
    body = json.dumps(message, ensure_ascii=False).encode()
    return httpx.post(f"{url}/channels/webhook", content=body, headers=signed(body, **kw))


def count(services: Services, model: type) -> int:
    with services.db.read() as db:
        return int(db.exec(select(func.count()).select_from(model)).one())


def test_a_message_gets_replies_with_buttons(server: LiveServer) -> None:
    response = post(server.url, {"id": "m-1", "from": "u-1", "type": "start"})
    assert response.status_code == 200
    body = response.json()
    assert body["duplicate"] is False
    assert body["replies"][-1]["text"] == "请选择您要办的事："
    assert {"label": "申请防返贫监测", "data": "choose:apply"} in body["replies"][-1]["buttons"]
    pressed = post(
        server.url, {"id": "m-2", "from": "u-1", "type": "button", "data": "choose:apply"}
    )
    assert pressed.json()["replies"][0]["text"] == "这次是给谁申请？"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no signature"),
        ({"x-hotline-timestamp": "1", "x-hotline-signature": "sha256=00"}, "stale and wrong"),
    ],
)
def test_unsigned_requests_are_refused(
    server: LiveServer, headers: dict[str, str], reason: str
) -> None:
    response = httpx.post(
        f"{server.url}/channels/webhook", content=b'{"id":"x","from":"y"}', headers=headers
    )
    assert response.status_code == 401, reason
    assert response.json()["error"] == "bad_signature"


def test_a_wrong_secret_or_an_old_timestamp_is_refused(
    server: LiveServer, services: Services
) -> None:
    message = {"id": "m-1", "from": "u-1", "text": "你好"}
    assert post(server.url, message, secret="guessed").status_code == 401
    assert post(server.url, message, stamp=time.time() - 3600).status_code == 401
    assert count(services, inbound.InboundMessage) == 0


def test_a_tampered_body_is_refused(server: LiveServer) -> None:
    body = b'{"id": "m-1", "from": "u-1", "text": "hi"}'
    headers = signed(body)
    response = httpx.post(
        f"{server.url}/channels/webhook", content=body.replace(b"hi", b"yo"), headers=headers
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe\x00", "invalid_json"),
        (b"[1, 2, 3]", "invalid_message"),
        (b'{"from": "u-1", "text": "no id"}', "invalid_message"),
        (b'{"id": "m", "from": "u", "type": "video"}', "invalid_message"),
        (b'{"id": "", "from": "u"}', "invalid_message"),
    ],
)
def test_malformed_bodies_get_a_clear_400(server: LiveServer, body: bytes, error: str) -> None:
    response = httpx.post(f"{server.url}/channels/webhook", content=body, headers=signed(body))
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert "。" in response.json()["message"]  # said in Chinese first


def _with(extra: bytes) -> bytes:
    """A valid message with ``extra`` spliced in as the value of one more field."""
    return b'{"id": "m-1", "from": "u-1", "text": "hi", "extra": ' + extra + b"}"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param(_with(b"1" * 5000), "invalid_json", id="a 5,000-digit number"),
        pytest.param(_with(b"[" * 5000 + b"]" * 5000), "invalid_json", id="5,000 levels"),
        pytest.param(_with(b"[" * 40 + b"]" * 40), "invalid_json", id="40 levels"),
        pytest.param(_with(str(2**64).encode()), "invalid_json", id="beyond 64 bits"),
        pytest.param(_with(b"NaN"), "invalid_json", id="NaN"),
        pytest.param(_with(b"1e999"), "invalid_json", id="an infinite number"),
        pytest.param(b'{"id": "m", "from": "u", "text": "\\ud800"}', "invalid_json", id="lone"),
        pytest.param(b'{"id": "m", "from": "u\\u0000", "text": "x"}', "invalid_json", id="NUL"),
        pytest.param(b'{"id": ["m"], "from": {"a": 1}}', "invalid_message", id="wrong types"),
        pytest.param(b'{"id": 7, "from": "u", "text": 5}', "invalid_message", id="numbers"),
    ],
)
def test_hostile_bodies_get_a_polite_400_and_store_nothing(
    server: LiveServer, services: Services, body: bytes, error: str
) -> None:
    response = httpx.post(f"{server.url}/channels/webhook", content=body, headers=signed(body))
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert "。" in response.json()["message"].split(" ")[0]  # Chinese first
    assert count(services, inbound.InboundMessage) == 0


def test_a_100_kb_body_is_refused_without_storing_anything(
    server: LiveServer, services: Services
) -> None:
    message = {"id": "big", "from": "u-1", "text": "字" * 35_000}
    response = post(server.url, message)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert count(services, inbound.InboundMessage) == 0


def test_long_text_within_the_limit_is_kept_and_answered(server: LiveServer) -> None:
    post(server.url, {"id": "m-0", "from": "u-2", "type": "start"})
    response = post(server.url, {"id": "m-1", "from": "u-2", "text": "帮" * 10_000})
    assert response.status_code == 200
    assert response.json()["replies"][0]["text"].startswith("没看懂您的选择")


def test_redelivery_is_a_no_op_answered_with_the_first_replies(
    server: LiveServer, services: Services
) -> None:
    first = post(server.url, {"id": "dup-1", "from": "u-3", "type": "start"}).json()
    again = post(server.url, {"id": "dup-1", "from": "u-3", "type": "start"}).json()
    assert again["duplicate"] is True
    assert again["replies"] == first["replies"]
    assert count(services, inbound.InboundMessage) == 1


def test_two_senders_may_use_the_same_message_id(server: LiveServer, services: Services) -> None:
    post(server.url, {"id": "1", "from": "alice", "type": "start"})
    alice = post(server.url, {"id": "2", "from": "alice", "type": "button", "data": "choose:apply"})
    bob = post(server.url, {"id": "2", "from": "bob", "type": "start"})
    assert bob.status_code == 200 and bob.json()["duplicate"] is False
    assert bob.json()["replies"] != alice.json()["replies"], "never another sender's replies"
    assert bob.json()["replies"][-1]["text"] == "请选择您要办的事："
    again = post(server.url, {"id": "2", "from": "alice", "type": "button", "data": "choose:apply"})
    assert again.json() == {**alice.json(), "duplicate": True}
    assert count(services, inbound.InboundMessage) == 3


def test_the_longest_sender_and_id_are_kept_apart_and_fit(
    server: LiveServer, services: Services
) -> None:
    longest = {"id": "i" * 128, "from": "s" * 128, "type": "start"}
    assert post(server.url, longest).json()["duplicate"] is False
    split = {"id": "b:c", "from": "a", "type": "start"}  # the same characters, cut elsewhere
    assert post(server.url, split).json()["duplicate"] is False
    assert post(server.url, {**split, "id": "c", "from": "a:b"}).json()["duplicate"] is False
    with services.db.read() as db:
        ids = db.exec(select(inbound.InboundMessage.external_id)).all()
    assert len(set(ids)) == 3 and max(len(i) for i in ids) <= 128


@pytest.fixture
def staged(settings: Settings, clock: FakeClock) -> Iterator[tuple[LiveServer, Services, Outage]]:
    """The service on a database the test can take away (see ``db_outage``)."""
    with outage_for(settings) as (relayed, outage):
        built = build_services(relayed, clock=clock, rng=random.Random(2026))
        try:
            with LiveServer(create_app(relayed, built)) as live:
                yield live, built, outage
        finally:
            built.db.dispose()


def test_while_the_database_is_away_the_answer_is_503_and_a_retry_is_answered(
    staged: tuple[LiveServer, Services, Outage],
) -> None:
    live, services, outage = staged
    assert post(live.url, {"id": "o-1", "from": "u-o", "type": "start"}).status_code == 200
    pressed = {"id": "o-2", "from": "u-o", "type": "button", "data": "choose:apply"}
    outage.down(services.db)
    try:
        away = post(live.url, pressed)
    finally:
        outage.up(services.db)
    assert away.status_code == 503
    assert away.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert away.json()["error"] == "unavailable" and "没有收下" in away.json()["message"]
    again = post(live.url, pressed)  # the integrator retries once the database is back
    assert again.status_code == 200 and again.json()["duplicate"] is False
    assert again.json()["replies"][0]["text"] == "这次是给谁申请？"
    with services.db.read() as db:
        rows = db.exec(select(inbound.InboundMessage)).all()
    assert sorted(r.status for r in rows) == [inbound.InboundStatus.PROCESSED] * 2


def _application_script(user: str) -> list[dict[str, Any]]:
    presses = ["choose:apply", "for_whom:self", "village:gangkou-bailing", "illness:yes"]
    tail = [
        "disaster:no",
        "accident:no",
        "house:no",
        "school:no",
        "job:no",
        "business:no",
        "size:3",
    ]
    negatives = [
        "neg_house:no",
        "neg_car:no",
        "neg_job:no",
        "neg_business:no",
        "neg_pension:no",
        "neg_conduct:no",
    ]
    steps: list[dict[str, Any]] = [{"type": "start"}]
    steps += [{"type": "button", "data": d} for d in presses]
    steps += [{"type": "text", "text": "35000"}]
    steps += [{"type": "button", "data": d} for d in tail]
    steps += [{"type": "text", "text": t} for t in ("24000", "30000", "0")]
    steps += [{"type": "button", "data": d} for d in negatives]
    steps += [{"type": "text", "text": t} for t in ("王大山", ID_NUMBER, "13812345678")]
    steps += [{"type": "button", "data": d} for d in ("consent:agree", "summary:confirm")]
    return [{"id": f"{user}-{n}", "from": user, **s} for n, s in enumerate(steps)]


async def test_villagers_apply_concurrently_and_each_gets_a_code(
    server: LiveServer, services: Services
) -> None:
    async def villager(client: httpx.AsyncClient, user: str) -> str:
        last: dict[str, Any] = {}
        for message in _application_script(user):
            body = json.dumps(message, ensure_ascii=False).encode()
            response = await client.post("/channels/webhook", content=body, headers=signed(body))
            assert response.status_code == 200
            last = response.json()
        return str(last["replies"][0]["text"])

    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        finals = await asyncio.gather(*(villager(client, f"c-{n}") for n in range(12)))
    assert all(text.startswith("申请已提交") for text in finals)
    assert count(services, Application) == 12
    with services.db.read() as db:
        codes = set(db.exec(select(QueueItem.tracking_code)).all())
    assert len(codes) == 12


def test_one_senders_concurrent_messages_are_handled_one_at_a_time(
    server: LiveServer, services: Services
) -> None:
    post(server.url, {"id": "s-0", "from": "same", "type": "start"})

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url) as client:
            bodies = [
                json.dumps({"id": f"s-{n}", "from": "same", "text": "乱按"}).encode()
                for n in range(1, 21)
            ]
            return await asyncio.gather(
                *(client.post("/channels/webhook", content=b, headers=signed(b)) for b in bodies)
            )

    responses = asyncio.run(burst())
    assert all(r.status_code == 200 for r in responses)
    with services.db.read() as db:
        rows = db.exec(
            select(inbound.InboundMessage).where(inbound.InboundMessage.sender == "same")
        ).all()
    assert len(rows) == 21
    assert {row.status for row in rows} == {inbound.InboundStatus.PROCESSED}


class _Receiver:
    """A real HTTP endpoint standing in for an integrator's callback URL."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.fail_with: int | None = None
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> dict[str, bool]:
            self.calls.append((dict(request.headers), await request.body()))
            if self.fail_with:
                from fastapi import HTTPException

                raise HTTPException(self.fail_with)
            return {"ok": True}


async def test_unprompted_messages_are_posted_signed_through_the_outbox(
    services: Services,
) -> None:
    receiver = _Receiver()
    with LiveServer(receiver.app) as live:
        with services.db.write() as db:
            enqueue(
                db,
                channel="webhook",
                recipient="u-9",
                payload={"text": "提醒", "buttons": []},
                now=services.clock(),
            )
        sender = WebhookSender(f"{live.url}/hook", SECRET)
        dispatcher = Dispatcher(services.db, {"webhook": sender}, now=services.clock)
        assert await dispatcher.run_once() == 1
        headers, body = receiver.calls[0]
        assert json.loads(body) == {"to": "u-9", "text": "提醒", "buttons": []}
        assert headers["x-hotline-signature"] == sign(SECRET, headers["x-hotline-timestamp"], body)
        receiver.fail_with = 503
        with services.db.write() as db:
            enqueue(
                db,
                channel="webhook",
                recipient="u-9",
                payload={"text": "二", "buttons": []},
                now=services.clock(),
            )
        await dispatcher.run_once()
    with services.db.read() as db:
        rows = db.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()  # type: ignore[arg-type]
    assert [r.status for r in rows] == [OutboxStatus.SENT, OutboxStatus.PENDING]
    assert rows[1].attempts == 1 and rows[1].last_error == "HTTP 503"
