"""A fake WeChat Official Account API server for tests.

A real HTTP server (uvicorn + Starlette in a background thread) on 127.0.0.1 that answers
the way WeChat documents: HTTP 200 with ``{"errcode", "errmsg"}`` JSON, media as bytes::

    with FakeWeChat() as wx:  # or: async with FakeWeChat() as wx:
        api = WeChatApi(db, app_id=wx.app_id, app_secret=wx.app_secret, base_url=wx.base_url)
        wx.user_writes("oOPENID")  # opens the 48-hour window
        await api.send_text("oOPENID", "你好")
        assert wx.sent_texts("oOPENID") == ["你好"]

A request goes through, in order: injected faults (:meth:`FakeWeChat.fail_next`), the access
token (41001 missing, 40001 unknown or superseded for over 5 minutes, 42001 expired, or
what :meth:`FakeWeChat.expire_tokens` forces), then the endpoint's own rules: the 48-hour
customer-service window (45015), the per-person cap on customer-service messages between
two of their messages (45047), followers only for template messages (43004), the custom
menu's limits (40016-40019). Time is ``clock() + offset``; :meth:`FakeWeChat.advance`
moves the offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.server import ThreadedFake

from .wechat_state import JSON, ApiError, Follower, Media, WeChatState

__all__ = ["Call", "FakeWeChat"]

APP_ID = "wx5fa1e0c0ffee0042"
APP_SECRET = "fake-wechat-app-secret-0123456789"  # a fake, accepted only by this server

_ENDPOINTS = ("token", "message/custom/send", "message/template/send")
_ENDPOINTS += ("menu/create", "qrcode/create", "media/get")


@dataclass(frozen=True)
class Call:
    """One answered request: endpoint (``message/custom/send``), query, JSON body, answer."""

    endpoint: str
    query: dict[str, str]
    body: Any
    raw: bytes
    status: int
    errcode: int | None
    at: float

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.errcode


@dataclass
class _Fault:
    endpoint: str
    remaining: int
    errcode: int | None
    status: int | None
    hold: float | None
    deliver: bool


class FakeWeChat(ThreadedFake):
    """The fake API of one Official Account; every control is safe from any thread.

    Args:
        app_id, app_secret: The only credentials ``/cgi-bin/token`` accepts.
        token_ttl: ``expires_in`` of issued tokens, seconds.
        cs_cap: Customer-service messages allowed between two messages of a person.
        clock: Seconds since the epoch; :meth:`advance` adds to it.
    """

    def __init__(
        self,
        app_id: str = APP_ID,
        app_secret: str = APP_SECRET,
        *,
        port: int = 0,
        token_ttl: int = 7200,
        cs_cap: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app_id, self.app_secret = app_id, app_secret
        self.port = port
        self.token_ttl, self.cs_cap = token_ttl, cs_cap
        self.clock = clock
        self.offset = 0.0
        self._lock = threading.RLock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._held: set[asyncio.Event] = set()
        self.reset()

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """The API host, for ``WeChatApi(base_url=...)``."""
        return f"http://127.0.0.1:{self.port}"

    name = "fake WeChat"

    def routes(self) -> list[Route]:
        """The fake's endpoints."""
        return [Route("/cgi-bin/{endpoint:path}", self._api, methods=["GET", "POST"])]

    def on_stopping(self) -> None:
        """Held requests (and long polls) end before the server exits."""
        self.release_held()

    # ----------------------------------------------------------------- test controls

    def reset(self) -> None:
        """Forget tokens, followers, media, menu, QR codes, calls, faults and the offset."""
        with self._lock:
            self.state = WeChatState(
                self.app_id, self.app_secret, token_ttl=self.token_ttl, cs_cap=self.cs_cap
            )
            self._calls: list[Call] = []
            self._faults: list[_Fault] = []
            self.offset = 0.0
        self.release_held()

    def now(self) -> float:
        """The fake's time: ``clock() + offset``."""
        return self.clock() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the fake's time forward (the 48-hour window, token lifetimes)."""
        with self._lock:
            self.offset += seconds

    def user_writes(self, openid: str) -> None:
        """``openid`` (a follower) sent us a message now: opens the window, resets the cap."""
        with self._lock:
            person = self.state.followers.setdefault(openid, Follower())
            person.subscribed, person.last_message, person.cs_sent = True, self.now(), 0

    def follow(self, openid: str, *, subscribed: bool = True) -> None:
        """Make ``openid`` a follower who has not written (or, ``False``, one who left)."""
        with self._lock:
            self.state.followers.setdefault(openid, Follower()).subscribed = subscribed

    def expire_tokens(self, errcode: int = 42001) -> None:
        """Every token issued so far answers ``errcode`` (42001 expired, 40001 invalid)."""
        with self._lock:
            self.state.refuse_tokens(errcode)

    def add_template(self, template_id: str) -> None:
        """Register a template id (others answer 40037)."""
        with self._lock:
            self.state.templates.add(template_id)

    def add_media(self, data: bytes, content_type: str, filename: str = "media.bin") -> str:
        """Store a file "sent by a user"; return its ``media_id``."""
        with self._lock:
            media_id = f"media-{len(self.state.media) + 1}"
            self.state.media[media_id] = Media(data, content_type, filename)
            return media_id

    def fail_next(
        self,
        endpoint: str,
        *,
        errcode: int | None = None,
        status: int | None = None,
        hold: float | None = None,
        deliver: bool = True,
        count: int = 1,
    ) -> None:
        """Make the next ``count`` calls of ``endpoint`` (``"*"``: any) misbehave.

        ``errcode``: answer it (HTTP 200, WeChat's errmsg). ``status``: answer that HTTP
        status with an HTML page. ``hold``: keep the request that many seconds (or until
        :meth:`release_held`), then, with ``deliver``, process it normally (WeChat did the
        work, a client that timed out never heard) or else answer 504.
        """
        with self._lock:
            self._faults.append(_Fault(endpoint, count, errcode, status, hold, deliver))

    def release_held(self) -> None:
        """Let every held request finish now."""
        with self._lock:
            held = list(self._held)
        loop = self._loop
        for event in held:
            if loop is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(event.set)

    @property
    def held_count(self) -> int:
        """Requests held by a ``hold`` fault right now."""
        with self._lock:
            return len(self._held)

    # ----------------------------------------------------------------- inspection

    @property
    def calls(self) -> list[Call]:
        """Every answered request, in order."""
        with self._lock:
            return list(self._calls)

    def calls_for(self, endpoint: str) -> list[Call]:
        """The recorded calls of one endpoint, whatever their outcome."""
        return [call for call in self.calls if call.endpoint == endpoint]

    @property
    def token_fetches(self) -> int:
        """How many tokens were issued."""
        return sum(1 for call in self.calls_for("token") if call.ok)

    def sent(self, openid: str | None = None) -> list[JSON]:
        """Delivered customer-service and template message bodies, optionally to one person."""
        with self._lock:
            return [b for b in self.state.sent if openid in (None, b.get("touser"))]

    def sent_texts(self, openid: str | None = None) -> list[str]:
        """The texts of delivered customer-service text messages."""
        return [b["text"]["content"] for b in self.sent(openid) if b.get("msgtype") == "text"]

    async def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Poll ``predicate`` until truthy; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met; calls: {[c.endpoint for c in self.calls]}")
            await asyncio.sleep(0.01)

    # ----------------------------------------------------------------- HTTP

    async def _api(self, request: Request) -> Response:
        endpoint = request.path_params["endpoint"]
        query = dict(request.query_params)
        raw = await request.body()
        body: Any = None
        try:
            if endpoint not in _ENDPOINTS:
                raise ApiError(40097)
            fault = self._take_fault(endpoint)
            if fault is not None:
                early = await self._apply(fault)
                if early is not None:
                    return self._record(endpoint, query, None, raw, early)
            body = _json_body(raw) if request.method == "POST" else None
            answer = self._handle(endpoint, query, body)
        except ApiError as error:
            answer = JSONResponse(error.body())
        return self._record(endpoint, query, body, raw, answer)

    def _take_fault(self, endpoint: str) -> _Fault | None:
        with self._lock:
            fault = next((f for f in self._faults if f.endpoint in ("*", endpoint)), None)
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            return fault

    async def _apply(self, fault: _Fault) -> Response | None:
        """A fault's answer, or ``None`` to carry on with the request."""
        if fault.errcode is not None:
            raise ApiError(fault.errcode)
        if fault.status is not None:
            return Response("<html>bad gateway</html>", fault.status, media_type="text/html")
        if fault.hold is not None:
            await self._hold(fault.hold)
            if not fault.deliver:
                return Response("<html>gateway timeout</html>", 504, media_type="text/html")
        return None

    async def _hold(self, seconds: float) -> None:
        release = asyncio.Event()
        with self._lock:
            self._held.add(release)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(release.wait(), seconds)
        finally:
            with self._lock:
                self._held.discard(release)

    def _handle(self, endpoint: str, query: dict[str, str], body: Any) -> Response:
        with self._lock:
            now, state = self.now(), self.state
            if endpoint == "token":
                return JSONResponse(state.issue_token(query, now))
            state.check_token(query.get("access_token"), now)
            if endpoint == "media/get":
                media = state.get_media(query.get("media_id"))
                disposition = f'attachment; filename="{media.filename}"'
                headers = {"Content-disposition": disposition}
                return Response(media.data, media_type=media.content_type, headers=headers)
            if endpoint == "message/custom/send":
                return JSONResponse(state.custom_send(body, now))
            if endpoint == "message/template/send":
                return JSONResponse(state.template_send(body))
            if endpoint == "menu/create":
                return JSONResponse(state.create_menu(body))
            return JSONResponse(state.create_qr(body))

    def _record(
        self, endpoint: str, query: dict[str, str], body: Any, raw: bytes, answer: Response
    ) -> Response:
        errcode = None
        if isinstance(answer, JSONResponse):
            errcode = int(json.loads(bytes(answer.body)).get("errcode") or 0) or None
        call = Call(endpoint, query, body, raw, answer.status_code, errcode, self.now())
        with self._lock:
            self._calls.append(call)
        if errcode is not None and endpoint == "media/get":
            answer.headers["content-type"] = "text/plain"  # WeChat's media errors say so
        return answer


def _json_body(raw: bytes) -> JSON:
    """WeChat reads raw UTF-8 JSON; anything else is 47001 "data format error"."""
    if not raw:
        raise ApiError(44002)
    try:
        body = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise ApiError(47001) from None
    if not isinstance(body, dict):
        raise ApiError(47001)
    return body
