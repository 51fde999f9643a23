"""A fake Telegram Bot API server for tests and benchmarks.

It is a real HTTP server (uvicorn + Starlette in a background thread with its own event loop) on
127.0.0.1, so python-telegram-bot talks to it exactly as it would to Telegram::

    with FakeTelegram() as tg:  # or: async with FakeTelegram() as tg:
        bot = Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url)
        ...
        tg.wait_until(lambda: tg.sent_messages(chat_id=42))

A request goes through, in order: token (401), method name (404), injected faults
(:meth:`FakeTelegram.fail_next`), and - for the message methods in :data:`MESSAGE_METHODS` -
``chat_id``/``reply_markup`` validation (400), the block list (403) and the rate limits (429);
then the method itself (which may still answer 400, e.g. "message is too long").

Rate limits are sliding windows over the *arrival* times of message-method calls that reached the
limiter: the last 1 s overall (``rate_limit_per_second``), the last 1 s per chat
(``per_chat_per_second``) and the last 60 s per group, i.e. negative chat id
(``per_group_per_minute``). A call answered 429 is not counted; a call let through is counted
in every window that applies, even if the method then answers 400. ``retry_after`` is the whole
number of seconds (at least 1) until the window has room again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.server import ThreadedFake

from .telegram_methods import BotApiState
from .telegram_model import (
    JSON,
    MESSAGE_METHODS,
    POLL_CONFLICT,
    SEND_METHODS,
    WEBHOOK_CONFLICT,
    ApiError,
    Call,
    ChatId,
    Fault,
    FaultKind,
    RateLimiter,
    UploadedFile,
    bad_request,
    blocked,
    bot_user_object,
    chat_key,
    check_reply_markup,
    normalise_chat_id,
    read_params,
)

__all__ = ["MESSAGE_METHODS", "Call", "FakeTelegram", "UploadedFile"]

_TOKEN = "123456789:TEST-fanpin-hotline-token"  # a fake, accepted only by this server


class _ClientGone(Exception):
    """The client of a long poll disconnected; nobody hears the answer, nothing is recorded."""


class FakeTelegram(ThreadedFake):
    """A fake Bot API on ``127.0.0.1:<port>`` with call recording, limits and fault injection.

    Args:
        token: The only token accepted; others get ``401 Unauthorized``.
        port: 0 (default) picks a free ephemeral port.
        rate_limit_per_second: Overall limit on message calls (``None`` = off).
        per_chat_per_second: Limit per chat on message calls (``None`` = off).
        per_group_per_minute: Limit per group chat (negative id; Telegram's is 20).
        timeout_hold: Default seconds a ``"timeout"`` fault holds its request.
        strict_entities: Reject malformed HTML / unescaped MarkdownV2 like Telegram does.
        clock: Source of :attr:`Call.at` and of the rate-limit windows; pass a fake clock to
            make limit tests independent of real time.

    All limits are plain attributes and may be changed at any time, from any thread.
    """

    def __init__(
        self,
        token: str = _TOKEN,
        *,
        port: int = 0,
        rate_limit_per_second: int | None = None,
        per_chat_per_second: int | None = None,
        per_group_per_minute: int | None = None,
        timeout_hold: float = 10.0,
        strict_entities: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.port = port
        self.rate_limit_per_second = rate_limit_per_second
        self.per_chat_per_second = per_chat_per_second
        self.per_group_per_minute = per_group_per_minute
        self.timeout_hold = timeout_hold
        self.strict_entities = strict_entities
        self.clock = clock
        self.bot_user: JSON = bot_user_object(token)
        self._lock = threading.RLock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None  # set on new updates, new pollers, shutdown
        self._held: set[asyncio.Event] = set()
        self._closing = False
        self._waiting_polls = 0  # only touched on the server loop
        self._epoch = self._poll_generation = 0
        self.reset()
        self._methods = {name.lower(): name for name in [*self._state.handlers, "getUpdates"]}

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """``base_url`` for ``telegram.Bot`` (PTB appends the token, then ``/method``)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """``base_file_url`` for ``telegram.Bot``."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    def api_url(self, method: str) -> str:
        """The full URL of one method, for raw HTTP clients."""
        return f"{self.base_url}{self.token}/{method}"

    name = "fake Telegram"
    graceful_shutdown = 2

    def routes(self) -> list[Route]:
        """The fake's endpoints."""
        return [
            Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
            Route("/file/bot{token}/{path:path}", self._download, methods=["GET"]),
        ]

    def on_loop_started(self) -> None:
        """Loop-bound events are made on the server's loop."""
        self._wake = asyncio.Event()

    def on_stopping(self) -> None:
        """Held requests (and long polls) end before the server exits."""
        self.release_held()
        self._notify()

    def stop(self, timeout: float = 10.0) -> None:
        """End long polls and held requests, then shut the server down."""
        super().stop(timeout)
        self._wake = None

    # ----------------------------------------------------------------- test controls

    def reset(self) -> None:
        """Forget calls, updates, messages, files, webhook, faults, blocks and rate windows.

        Limits set as attributes are kept. Requests in flight (held by ``"timeout"`` faults,
        long polls) are released and will not be recorded in :attr:`calls`.
        """
        with self._lock:
            self._state = BotApiState(self.bot_user, strict_entities=self.strict_entities)
            self._calls: list[Call] = []
            self._faults: list[Fault] = []
            self._blocked: set[ChatId] = set()
            self._limiter = RateLimiter()
            self._epoch += 1  # requests still in flight are answered but no longer recorded
            self._poll_generation += 1  # long polls still waiting end (unrecorded)
        self.release_held()
        self._notify()

    def fail_next(
        self,
        method: str,
        kind: FaultKind,
        count: int = 1,
        *,
        chat_id: ChatId | None = None,
        description: str = "",
        retry_after: int = 5,
        hold: float | None = None,
        deliver: bool = False,
    ) -> None:
        """Make the next ``count`` calls of ``method`` (``"*"``: any method) fail.

        Kinds: ``"5xx"`` - 502 Bad Gateway; ``"403"`` - Forbidden (bot was blocked by the user, or
        ``description``); ``"400"`` - Bad Request: ``description``; ``"429"`` - Too Many Requests
        with ``retry_after``; ``"timeout"`` - hold the request ``hold`` seconds (default
        :attr:`timeout_hold`) or until :meth:`release_held`, then answer 504 Gateway Timeout, or
        with ``deliver=True`` process it normally (Telegram did the work, the client never heard).
        With ``chat_id``, only calls for that chat match. Faults are used first-in, first-out.
        """
        chat = normalise_chat_id(chat_id)
        fault = Fault(method, kind, count, chat, description, retry_after, hold, deliver)
        with self._lock:
            self._faults.append(fault)

    def block_chat(self, chat_id: ChatId) -> None:
        """Answer message calls to ``chat_id`` with 403 "Forbidden: bot was blocked by the user"."""
        with self._lock:
            self._blocked.add(chat_key(chat_id))

    def unblock_chat(self, chat_id: ChatId) -> None:
        """Undo :meth:`block_chat`."""
        with self._lock:
            self._blocked.discard(chat_key(chat_id))

    def release_held(self) -> None:
        """Let every request currently held by a ``"timeout"`` fault finish now."""
        with self._lock:
            held = list(self._held)
        for event in held:
            self._call_in_loop(event.set)

    @property
    def waiting_polls(self) -> int:
        """How many getUpdates long polls are waiting for an update right now."""
        return self._waiting_polls

    @property
    def held_count(self) -> int:
        """How many requests ``"timeout"`` faults are holding right now."""
        with self._lock:
            return len(self._held)

    def set_webhook_error(self, message: str | None, date: int | None = None) -> None:
        """Set (``None``: clear) ``last_error_message``/``last_error_date`` of getWebhookInfo."""
        with self._lock:
            webhook = self._state.webhook
            webhook.pop("last_error_message", None)
            webhook.pop("last_error_date", None)
            if message is not None:
                webhook["last_error_message"] = message
                webhook["last_error_date"] = int(time.time()) if date is None else date

    # ----------------------------------------------------------------- updates from "users"

    def queue_update(self, update: JSON) -> JSON:
        """Queue an update for getUpdates (``update_id`` assigned if missing); return it."""
        with self._lock:
            queued = self._state.queue_update(update)
        self._notify()
        return queued

    def user_message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        user_id: int | None = None,
        queue: bool = True,
        **fields: Any,
    ) -> JSON:
        """Build (and unless ``queue=False``, queue) a ``message`` update sent by a user.

        ``user_id`` defaults to ``chat_id`` (a private chat). ``fields`` are merged into the
        Message, e.g. ``document=tg.add_file(b"%PDF...")`` or ``contact={...}``.
        """
        if text is not None:
            fields["text"] = text
        with self._lock:
            update = self._state.user_message(chat_id, user_id or chat_id, fields)
        return self.queue_update(update) if queue else update

    def user_callback(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        queue: bool = True,
    ) -> JSON:
        """Build (and unless ``queue=False``, queue) a ``callback_query`` for a button press."""
        with self._lock:
            update = self._state.user_callback(chat_id, message_id, user_id or chat_id, data)
        return self.queue_update(update) if queue else update

    def add_file(
        self, data: bytes, *, file_name: str = "file.pdf", mime_type: str = "application/pdf"
    ) -> JSON:
        """Store a file "uploaded by a user"; return its Document dict (getFile then works)."""
        with self._lock:
            return self._state.store_file(data, file_name, mime_type)

    def carry_out(self, response: Any) -> None:
        """Do what Telegram does with a webhook's answer: a 200 whose JSON body names a
        ``method`` is that Bot API call, made at once (its result goes nowhere)."""
        call = webhook_call(response.status_code, response.headers, response.content)
        if call is not None:
            method, params = call
            httpx.post(self.api_url(method), json=params, timeout=10)

    # ----------------------------------------------------------------- inspection

    @property
    def calls(self) -> list[Call]:
        """A snapshot of every answered request, in the order they were answered."""
        with self._lock:
            return list(self._calls)

    def calls_for(self, method: str) -> list[Call]:
        """The recorded calls of one method, whatever their outcome."""
        return [call for call in self.calls if call.method == method]

    def sent_messages(self, chat_id: ChatId | None = None) -> list[Call]:
        """Successful sendMessage/sendPhoto/sendDocument calls, optionally to one chat."""
        wanted = normalise_chat_id(chat_id)
        return [
            call
            for call in self.calls
            if call.method in SEND_METHODS and call.ok and wanted in (None, call.chat_id)
        ]

    def sent_texts(self, chat_id: ChatId | None = None) -> list[str]:
        """The texts (captions for files) of :meth:`sent_messages`."""
        return [
            str(call.params.get("text", call.params.get("caption", "")))
            for call in self.sent_messages(chat_id)
        ]

    def message(self, chat_id: ChatId, message_id: int) -> JSON | None:
        """A message as it is now (after edits), or ``None`` if unknown or deleted."""
        with self._lock:
            found = self._state.messages.get((chat_key(chat_id), message_id))
            return dict(found) if found else None

    @property
    def pending_updates(self) -> list[JSON]:
        """Queued updates not yet confirmed by a getUpdates ``offset``."""
        with self._lock:
            return list(self._state.updates)

    async def wait_for(
        self,
        predicate: Callable[[], object],
        timeout: float = 5.0,  # noqa: ASYNC109 - a bound on polling, mirrors wait_until
        interval: float = 0.01,
    ) -> None:
        """Poll ``predicate`` until truthy; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(self._timeout_message(timeout))
            await asyncio.sleep(interval)

    def wait_until(
        self, predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.01
    ) -> None:
        """Blocking :meth:`wait_for`, for sync tests and scripts."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(self._timeout_message(timeout))
            time.sleep(interval)

    def _timeout_message(self, timeout: float) -> str:
        recent = ", ".join(f"{c.method}({c.chat_id})={c.status}" for c in self.calls[-10:])
        return f"condition not met within {timeout}s; last calls: [{recent}]"

    def _call_in_loop(self, callback: Callable[[], object] | None) -> None:
        loop = self._loop
        if callback is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(callback)

    def _notify(self) -> None:
        self._call_in_loop(self._wake.set if self._wake else None)

    # ----------------------------------------------------------------- HTTP

    async def _api(self, request: Request) -> Response:
        arrived, epoch = self.clock(), self._epoch
        method = self._methods.get(request.path_params["method"].lower())
        params: JSON = {}
        files: dict[str, UploadedFile] = {}
        try:
            params, files = await read_params(request)
            if request.path_params["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if method is None:
                raise ApiError(404, "Not Found")
            result = await self._dispatch(request, method, params, files, arrived)
            status, body = 200, {"ok": True, "result": result}
        except ApiError as error:
            status, body = error.status, error.body()
        except _ClientGone:
            return Response(status_code=499)
        name = method or request.path_params["method"]
        call = Call(name, params, params.get("chat_id"), arrived, status, body, files)
        with self._lock:
            if epoch == self._epoch:
                self._calls.append(call)
        return JSONResponse(body, status_code=status)

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return JSONResponse(ApiError(401, "Unauthorized").body(), status_code=401)
        with self._lock:
            data = self._state.file_bytes(request.path_params["path"])
        if data is None:
            return JSONResponse(ApiError(404, "Not Found").body(), status_code=404)
        return Response(data, media_type="application/octet-stream")

    async def _dispatch(
        self,
        request: Request,
        method: str,
        params: JSON,
        files: dict[str, UploadedFile],
        arrived: float,
    ) -> Any:
        chat_id = params.get("chat_id")
        with self._lock:
            fault = next((f for f in self._faults if f.matches(method, chat_id)), None)
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
        if fault is not None and fault.kind == "timeout":
            await self._hold(self.timeout_hold if fault.hold is None else fault.hold)
            if not fault.deliver:
                raise ApiError(504, "Gateway Timeout")
        elif fault is not None:
            raise fault.error()
        if method == "getUpdates":
            return await self._get_updates(request, params)
        with self._lock:
            self._state.strict_entities = self.strict_entities  # may change at any time
            if method in MESSAGE_METHODS:
                self._admit(params, chat_id, arrived)
            return self._state.handlers[method](params, files)

    async def _hold(self, seconds: float) -> None:
        release = asyncio.Event()
        with self._lock:
            self._held.add(release)
        try:
            if not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(release.wait(), seconds)
        finally:
            with self._lock:
                self._held.discard(release)

    def _admit(self, params: JSON, chat_id: ChatId | None, now: float) -> None:
        """Validation, block list and rate limits of a message call (lock held)."""
        if chat_id is None and "inline_message_id" not in params:
            raise bad_request("chat_id is empty")
        if "reply_markup" in params:
            params["reply_markup"] = check_reply_markup(params["reply_markup"])
        if chat_id in self._blocked:
            raise blocked()
        self._limiter.admit(
            chat_id,
            now,
            overall=self.rate_limit_per_second,
            per_chat=self.per_chat_per_second,
            per_group=self.per_group_per_minute,
        )

    async def _get_updates(self, request: Request, params: JSON) -> list[JSON]:
        """Long poll: answer once updates exist, or with [] after ``timeout`` seconds.

        A newer getUpdates ends a waiting one with 409, as on Telegram - unless its client has
        gone (e.g. PTB's ``Updater.stop()`` cancelled it), which is then simply dropped.
        """
        assert self._loop is not None and self._wake is not None
        offset = int(params.get("offset", 0))
        limit = min(max(int(params.get("limit", 100)), 1), 100)
        deadline = self._loop.time() + min(float(params.get("timeout", 0)), 50.0)
        allowed = set(params.get("allowed_updates") or [])
        with self._lock:
            if self._state.webhook.get("url"):
                raise ApiError(409, WEBHOOK_CONFLICT)
            self._poll_generation += 1
            generation = self._poll_generation
        self._wake.set()  # an older long poll still waiting is terminated, as on Telegram
        while True:
            self._wake.clear()
            with self._lock:
                if generation != self._poll_generation:
                    raise ApiError(409, POLL_CONFLICT)
                batch = self._state.take_updates(offset, limit, allowed)
            remaining = deadline - self._loop.time()
            if batch or remaining <= 0 or self._closing:
                return batch
            self._waiting_polls += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), remaining)
            finally:
                self._waiting_polls -= 1
            if await request.is_disconnected():
                raise _ClientGone


def webhook_call(status: int, headers: Any, body: bytes) -> tuple[str, dict[str, Any]] | None:
    """The Bot API call a webhook answered with (``None`` when it answered none)."""
    if status != 200 or "json" not in str(headers.get("content-type", "")):
        return None
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("method"), str):
        return None
    return data["method"], {k: v for k, v in data.items() if k != "method"}
