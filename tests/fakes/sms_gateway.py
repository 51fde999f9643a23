"""A fake Alibaba Cloud SMS gateway (Dysmsapi 2017-05-25) for tests.

A real HTTP server (uvicorn + Starlette in a thread with its own event loop) on 127.0.0.1
that checks what the real one checks, in its order, and answers its documented codes::

    with FakeAliyunSms() as gw:
        client = AliyunSmsClient(gw.access_key_id, gw.access_key_secret, endpoint=gw.endpoint)
        ...
        gw.accepted()                       # the SendSms calls it took, with their BizId
        gw.push_reports(url, gw.accepted()) # the carrier's SmsReport, POSTed to our route
        gw.push_uplink(url, "13800138000", "TD")

Checks, in order: the common parameters (400 ``Missing<Name>``), the AccessKey (404
``InvalidAccessKeyId.NotFound``), the timestamp (400 ``InvalidTimeStamp.Expired`` beyond
15 minutes), the signature (400 ``SignatureDoesNotMatch``, computed here independently of
the client's code), a reused nonce (400 ``SignatureNonceUsed``), the action; then injected
faults (:meth:`FakeAliyunSms.fail_next`); then the business rules, answered with HTTP 200
as the real gateway does: ``isv.MOBILE_NUMBER_ILLEGAL``, ``isv.SMS_SIGNATURE_ILLEGAL``,
``isv.SMS_TEMPLATE_ILLEGAL``, ``isv.INVALID_JSON_PARAM``, ``isv.TEMPLATE_PARAMS_ILLEGAL``,
``isv.AMOUNT_NOT_ENOUGH`` (when :attr:`FakeAliyunSms.balance` is 0). Every request is
recorded in :attr:`FakeAliyunSms.calls`, whatever its answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, quote

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.server import ThreadedFake

__all__ = ["FakeAliyunSms", "FaultKind", "SmsCall"]

FaultKind = Literal["code", "5xx", "timeout", "garbage"]
BEIJING_OFFSET = 8 * 3600
_SECRET = "fake-secret-0123456789abcdef"  # accepted only by this fake
_COMMON = (
    "AccessKeyId",
    "Action",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "Timestamp",
    "Version",
    "Signature",
)
_MOBILE = re.compile(r"1[3-9]\d{9}")
_MESSAGES = {
    "isv.BUSINESS_LIMIT_CONTROL": "触发分钟级流控Permits:1",
    "isv.MOBILE_NUMBER_ILLEGAL": "非法手机号",
    "isv.AMOUNT_NOT_ENOUGH": "账户余额不足",
    "isv.TEMPLATE_PARAMS_ILLEGAL": "模板变量里包含非法关键字",
    "isv.SMS_TEMPLATE_ILLEGAL": "该账号下找不到对应模板",
    "isv.SMS_SIGNATURE_ILLEGAL": "该账号下找不到对应签名",
    "isv.INVALID_JSON_PARAM": "JSON参数不合法，只接受字符串值",
    "isv.DAY_LIMIT_CONTROL": "触发日发送限额",
    "isp.SYSTEM_ERROR": "isp.SYSTEM_ERROR",
    "Throttling.User": "Request was denied due to user flow control.",
}


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.status, self.code = status, code
        self.message = message or _MESSAGES.get(code, code)


@dataclass
class SmsCall:
    """One request: its decoded form parameters and the gateway's answer."""

    params: dict[str, str]
    at: float
    status: int
    response: dict[str, Any] = field(default_factory=dict)
    #: The raw query string of the request (the client should put nothing personal there).
    query: str = ""

    @property
    def code(self) -> str | None:
        """The answer's ``Code`` (``None`` for an injected non-JSON answer)."""
        return self.response.get("Code")

    @property
    def biz_id(self) -> str | None:
        """The ``BizId`` of an accepted message."""
        return self.response.get("BizId")

    @property
    def template_params(self) -> dict[str, Any]:
        """``TemplateParam`` decoded."""
        return dict(json.loads(self.params.get("TemplateParam", "{}")))


@dataclass
class _Fault:
    kind: FaultKind
    remaining: int
    code: str
    message: str | None
    status: int | None
    hold: float | None
    deliver: bool


class FakeAliyunSms(ThreadedFake):
    """The fake gateway. ``templates`` maps a template code to its variable names.

    ``clock`` (Unix seconds) is what the timestamp is checked against and what
    :attr:`SmsCall.at` records; ``balance`` counts the messages the account can still pay
    for (``None``: unlimited).
    """

    def __init__(
        self,
        *,
        access_key_id: str = "LTAI5tFakeKeyForTests",
        access_key_secret: str = _SECRET,
        sign_names: tuple[str, ...] = ("防返贫热线",),
        templates: Mapping[str, tuple[str, ...]] | None = None,
        balance: int | None = None,
        timeout_hold: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.sign_names = set(sign_names)
        self.templates = dict(templates or {"SMS_100001": ("code",), "SMS_100002": ()})
        self.balance = balance
        self.timeout_hold = timeout_hold
        self.clock = clock
        self.port = 0
        self._lock = threading.RLock()
        self._calls: list[SmsCall] = []
        self._faults: list[_Fault] = []
        self._nonces: set[str] = set()
        self._held: set[asyncio.Event] = set()
        self._next_biz = 900619746936498440
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    # ----------------------------------------------------------------- lifecycle

    @property
    def endpoint(self) -> str:
        """The ``endpoint`` for :class:`notifications.sms.AliyunSmsClient`."""
        return f"http://127.0.0.1:{self.port}/"

    name = "the fake SMS gateway"

    def routes(self) -> list[Route]:
        """The fake's endpoints."""
        return [Route("/", self._api, methods=["GET", "POST"])]

    def on_stopping(self) -> None:
        """Held requests (and long polls) end before the server exits."""
        self.release_held()

    # ----------------------------------------------------------------- test controls

    def fail_next(
        self,
        kind: FaultKind,
        count: int = 1,
        *,
        code: str = "isv.BUSINESS_LIMIT_CONTROL",
        message: str | None = None,
        status: int | None = None,
        hold: float | None = None,
        deliver: bool = False,
    ) -> None:
        """Make the next ``count`` authenticated calls fail.

        ``"code"``: answer ``code`` with ``message`` (the documented one by default), HTTP
        ``status`` (200 unless given); ``"5xx"``: an empty answer, HTTP ``status`` (502);
        ``"garbage"``: HTTP 200 with a body that is not JSON;
        ``"timeout"``: hold the request ``hold`` seconds (default :attr:`timeout_hold`) or
        until :meth:`release_held`, then answer 504 - or, with ``deliver=True``, take the
        message first (the carrier got it; the client never heard).
        """
        with self._lock:
            self._faults.append(_Fault(kind, count, code, message, status, hold, deliver))

    def release_held(self) -> None:
        """Let every request held by a ``"timeout"`` fault finish now."""
        with self._lock:
            held = list(self._held)
        loop = self._loop
        for event in held:
            if loop is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(event.set)

    # ----------------------------------------------------------------- inspection

    @property
    def calls(self) -> list[SmsCall]:
        """Every request, in the order answered."""
        with self._lock:
            return list(self._calls)

    def accepted(self, phone: str | None = None) -> list[SmsCall]:
        """The SendSms calls answered ``OK`` (to ``phone`` only, if given)."""
        return [
            c
            for c in self.calls
            if c.code == "OK" and phone in (None, c.params.get("PhoneNumbers"))
        ]

    @property
    def next_biz_id(self) -> str:
        """The ``BizId`` the next accepted message will get."""
        with self._lock:
            return f"{self._next_biz + 1}^0"

    def wait_until(self, predicate: Callable[[], object], timeout: float = 10.0) -> None:
        """Poll ``predicate`` until truthy; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met; last calls: {self.calls[-5:]}")
            time.sleep(0.01)

    # ----------------------------------------------------------------- pushes to us

    def report_items(
        self, calls: list[SmsCall], *, success: bool = True, err_code: str = "DELIVERED"
    ) -> list[dict[str, Any]]:
        """``SmsReport`` items for accepted calls, shaped as the HTTP batch push sends them."""
        when = _beijing(self.clock())
        return [
            {
                "phone_number": call.params["PhoneNumbers"],
                "send_time": _beijing(call.at),
                "report_time": when,
                "success": success,
                "err_code": err_code,
                "err_msg": "用户接收成功" if success else "失败",
                "sms_size": "1",
                "biz_id": call.biz_id,
                "out_id": call.params.get("OutId", ""),
            }
            for call in calls
        ]

    def push_reports(self, url: str, calls: list[SmsCall], **kwargs: Any) -> httpx.Response:
        """POST the reports of ``calls`` to ``url`` (our receipts route, with its token)."""
        return httpx.post(url, json=self.report_items(calls, **kwargs), timeout=10)

    def push_uplink(
        self, url: str, phone: str, content: str, *, sent_at: float | None = None
    ) -> httpx.Response:
        """POST one ``SmsUp`` item (a reply from ``phone``) to ``url``."""
        item = {
            "phone_number": phone,
            "send_time": _beijing(self.clock() if sent_at is None else sent_at),
            "content": content,
            "sign_name": next(iter(sorted(self.sign_names)), ""),
            "dest_code": "1234",
            "sequence_id": int(time.time() * 1000),
        }
        return httpx.post(url, json=[item], timeout=10)

    # ----------------------------------------------------------------- HTTP

    async def _api(self, request: Request) -> Response:
        arrived, query = self.clock(), request.url.query
        params = dict(request.query_params)
        if request.method == "POST":
            params.update(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        fault: _Fault | None = None
        try:
            self._authenticate(params, arrived)
            fault = self._take_fault()
            if fault is not None and fault.kind != "timeout":
                return self._faulty(fault, params, arrived)
            if fault is not None and not fault.deliver:
                await self._hold(fault.hold)
                raise _Refused(504, "ServiceUnavailable", "Gateway Timeout")
            status, body = 200, self._send_sms(params)
        except _Refused as refused:
            status, body = refused.status, _error(refused.code, refused.message)
        self._record(SmsCall(params, arrived, status, body, query))
        if fault is not None and fault.deliver:
            await self._hold(fault.hold)
        return JSONResponse(body, status_code=status)

    def _authenticate(self, params: dict[str, str], now: float) -> None:
        for name in _COMMON:
            if not params.get(name):
                raise _Refused(400, f"Missing{name}", f"{name} is mandatory for this action.")
        if params["AccessKeyId"] != self.access_key_id:
            raise _Refused(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        try:
            stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        except ValueError as error:
            raise _Refused(400, "InvalidTimeStamp.Format") from error
        if abs(stamp.replace(tzinfo=UTC).timestamp() - now) > 900:
            raise _Refused(400, "InvalidTimeStamp.Expired", "Specified time stamp is expired.")
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            raise _Refused(400, "InvalidSignatureMethod")
        expected = self.signature("POST", params)
        if not hmac.compare_digest(expected, params["Signature"]):
            raise _Refused(400, "SignatureDoesNotMatch", "Specified signature does not match.")
        with self._lock:
            if params["SignatureNonce"] in self._nonces:
                raise _Refused(400, "SignatureNonceUsed", "Specified signature nonce was used.")
            self._nonces.add(params["SignatureNonce"])
        if params["Action"] != "SendSms" or params["Version"] != "2017-05-25":
            raise _Refused(404, "InvalidAction.NotFound", "Specified api is not found.")

    def signature(self, method: str, params: Mapping[str, str]) -> str:
        """Signature version 1.0, computed as Alibaba's documentation spells it out."""

        def enc(text: str) -> str:
            return quote(text, safe="~").replace("+", "%20").replace("*", "%2A")

        pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
        query = "&".join(enc(k) + "=" + enc(v) for k, v in pairs)
        to_sign = method + "&" + enc("/") + "&" + enc(query)
        key = (self.access_key_secret + "&").encode()
        return base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha1).digest()).decode()

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.pop(0)
            return fault

    def _faulty(self, fault: _Fault, params: dict[str, str], arrived: float) -> Response:
        if fault.kind == "code":
            body = _error(fault.code, fault.message or _MESSAGES.get(fault.code, fault.code))
            status = fault.status or 200
            self._record(SmsCall(params, arrived, status, body))
            return JSONResponse(body, status_code=status)
        status = (fault.status or 502) if fault.kind == "5xx" else 200
        self._record(SmsCall(params, arrived, status))
        if fault.kind == "5xx":
            return Response(b"", status_code=status)
        return Response(b"<html>upstream</html>", media_type="text/html")

    def _send_sms(self, params: dict[str, str]) -> dict[str, Any]:
        phones = params.get("PhoneNumbers", "").split(",")
        if not all(_MOBILE.fullmatch(p) for p in phones):
            raise _Refused(200, "isv.MOBILE_NUMBER_ILLEGAL")
        if params.get("SignName") not in self.sign_names:
            raise _Refused(200, "isv.SMS_SIGNATURE_ILLEGAL")
        names = self.templates.get(params.get("TemplateCode", ""))
        if names is None:
            raise _Refused(200, "isv.SMS_TEMPLATE_ILLEGAL")
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError as error:
            raise _Refused(200, "isv.INVALID_JSON_PARAM") from error
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise _Refused(200, "isv.INVALID_JSON_PARAM")
        if set(values) != set(names):
            raise _Refused(200, "isv.TEMPLATE_PARAMS_ILLEGAL")
        with self._lock:
            if self.balance is not None:
                if self.balance < len(phones):
                    raise _Refused(200, "isv.AMOUNT_NOT_ENOUGH")
                self.balance -= len(phones)
            self._next_biz += 1
            biz_id = f"{self._next_biz}^0"
        return {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": _request_id()}

    async def _hold(self, seconds: float | None) -> None:
        release = asyncio.Event()
        with self._lock:
            self._held.add(release)
        try:
            if not self._closing:
                with contextlib.suppress(TimeoutError):
                    wait = self.timeout_hold if seconds is None else seconds
                    await asyncio.wait_for(release.wait(), wait)
        finally:
            with self._lock:
                self._held.discard(release)

    def _record(self, call: SmsCall) -> None:
        with self._lock:
            self._calls.append(call)


def _error(code: str, message: str) -> dict[str, Any]:
    return {
        "Code": code,
        "Message": message,
        "RequestId": _request_id(),
        "HostId": "dysmsapi.aliyuncs.com",
    }


def _request_id() -> str:
    return hashlib.md5(str(time.perf_counter_ns()).encode()).hexdigest().upper()  # noqa: S324


def _beijing(unix: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(unix + BEIJING_OFFSET))
