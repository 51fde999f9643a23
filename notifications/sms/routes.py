"""What the SMS provider pushes to us: delivery reports and replies (uplink).

Alibaba Cloud's HTTP batch push POSTs a JSON array to a URL set in its console, which
cannot add headers; so the shared token rides in the URL: ``?token=...``.

* ``POST /channels/sms/receipts`` - ``SmsReport`` items
  (``biz_id``, ``success``, ``err_code``, ``err_msg``, ``report_time``): the receipt row of
  each ``biz_id`` is updated.
* ``POST /channels/sms/uplink`` - ``SmsUp`` items (``phone_number``, ``content``,
  ``send_time``): "TD" / "退订" opts the phone out, a later "订阅" / "开通" opts it back in.

Both answer ``{"code": 0, "msg": "接收成功"}`` once the batch is stored; anything else makes
the provider push it again. An item that cannot be understood is skipped (a retry would
not help) and logged by its position only: the items carry phone numbers.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from intake.columns import utcnow
from intake.crypto import FieldCipher
from intake.db import Database
from intake.identity import normalize_phone
from intake.json_limits import JsonRejected, loads, read_body
from notifications.sms import records

log = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)

MAX_BODY_BYTES = 1024 * 1024
_STORED = {"code": 0, "msg": "接收成功"}
_ERRORS = {
    "bad_token": "令牌不对，没有收下。The token is not valid; nothing was stored.",
    "too_large": "推送内容太大，请分批发送。The body is too large; please push smaller batches.",
    "invalid_json": "推送内容不是 JSON 数组，没看懂。The body is not a JSON array.",
}


class ReportItem(BaseModel):
    """One ``SmsReport`` item (fields we use; the rest, the phone included, are ignored)."""

    model_config = ConfigDict(extra="ignore")

    biz_id: str = Field(min_length=1, max_length=64)
    success: bool
    err_code: str | None = Field(default=None, max_length=200)
    err_msg: str | None = Field(default=None, max_length=2000)
    report_time: str | None = None


class UplinkItem(BaseModel):
    """One ``SmsUp`` item: a reply from a phone."""

    model_config = ConfigDict(extra="ignore")

    phone_number: str = Field(min_length=5, max_length=32)
    content: str = Field(max_length=2000)
    send_time: str | None = None


def provider_time(text: str | None, fallback: datetime) -> datetime:
    """``"2026-11-25 09:30:00"`` (Beijing time, as the provider writes it) made aware."""
    if text:
        try:
            return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=records.BEIJING)
        except ValueError:
            pass
    return fallback


def sms_router(
    db: Database,
    cipher: FieldCipher,
    *,
    token: str,
    prefix: str = "/channels/sms",
    now: Callable[[], datetime] = utcnow,
) -> APIRouter:
    """The receipt and uplink routes, accepting pushes that carry ``token``."""
    if len(token) < 16:
        raise ValueError("the SMS push token must be at least 16 characters")
    guard_access_log()
    router = APIRouter(prefix=prefix)

    def store_reports(items: list[ReportItem]) -> int:
        with db.write() as session:
            for item in items:
                records.record_report(
                    session,
                    item.biz_id,
                    delivered=item.success,
                    err_code=item.err_code,
                    err_msg=item.err_msg,
                    reported_at=provider_time(item.report_time, now()),
                )
        return len(items)

    def store_replies(items: list[UplinkItem]) -> dict[str, int]:
        decided = {"out": 0, "in": 0}
        with db.write() as session:
            for item in items:
                phone = normalize_phone(item.phone_number)
                if phone is None:
                    continue
                choice = records.record_reply(
                    session,
                    cipher.lookup_hash(phone),
                    item.content,
                    replied_at=provider_time(item.send_time, now()),
                    now=now(),
                )
                if choice is not None:
                    decided[choice] += 1
        return decided

    @router.post("/receipts")
    async def receipts(request: Request) -> JSONResponse:
        batch = await _batch(request, token)
        if isinstance(batch, JSONResponse):
            return batch
        items = _parse(batch, ReportItem, "receipt")
        stored = await run_in_threadpool(store_reports, items)
        log.info("SMS receipts stored: %d of %d", stored, len(batch))
        return JSONResponse(_STORED)

    @router.post("/uplink")
    async def uplink(request: Request) -> JSONResponse:
        batch = await _batch(request, token)
        if isinstance(batch, JSONResponse):
            return batch
        items = _parse(batch, UplinkItem, "uplink")
        decided = await run_in_threadpool(store_replies, items)
        log.info(
            "SMS replies: %d, opted out %d, opted in %d", len(batch), decided["out"], decided["in"]
        )
        return JSONResponse(_STORED)

    return router


_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"']*")


class TokenQueryFilter(logging.Filter):
    """Blanks ``token=`` in access-log lines: the provider's push carries it in the URL.

    uvicorn's access log passes the path with its query as an argument; every argument
    and the message itself are cleaned, so any server's access log is covered.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_blank(arg) for arg in record.args)
        elif isinstance(record.msg, str):
            record.msg = _blank(record.msg)
        return True


def _blank(value: object) -> object:
    if isinstance(value, str) and "token=" in value:
        return _TOKEN_IN_QUERY.sub(r"\1<redacted>", value)
    return value


def guard_access_log(name: str = "uvicorn.access") -> None:
    """Install :class:`TokenQueryFilter` on the access logger once per process."""
    access = logging.getLogger(name)
    if not any(isinstance(f, TokenQueryFilter) for f in access.filters):
        access.addFilter(TokenQueryFilter())


async def _batch(request: Request, token: str) -> list[Any] | JSONResponse:
    """The pushed JSON array, or the polite answer that refuses it."""
    given = request.query_params.get("token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        return _error(401, "bad_token")
    body = await read_body(request, MAX_BODY_BYTES)
    if body is None:
        return _error(413, "too_large")
    try:
        parsed = loads(body)  # bounded: nesting, numbers, string length, surrogates
    except JsonRejected:
        return _error(400, "invalid_json")
    if isinstance(parsed, dict):
        parsed = [parsed]  # one item pushed on its own
    if not isinstance(parsed, list):
        return _error(400, "invalid_json")
    return parsed


def _parse(batch: list[Any], model: type[T], what: str) -> list[T]:
    items: list[T] = []
    for index, raw in enumerate(batch):
        try:
            items.append(model.model_validate(raw))
        except ValidationError:
            log.warning("SMS %s item %d skipped: not the documented shape", what, index)
    return items


def _error(status: int, code: str) -> JSONResponse:
    return JSONResponse({"code": 1, "error": code, "msg": _ERRORS[code]}, status_code=status)
