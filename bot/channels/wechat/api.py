"""An async client for the Official Account API (httpx), with one token for every worker.

::

    api = WeChatApi(db, app_id=..., app_secret=..., base_url=fake.base_url)
    outcome = await api.send_text(openid, "您的申请已受理。")
    if isinstance(outcome, NotDeliverable):
        outcome = await api.send_template(openid, template_id, {"first": "..."})

Sends return an outcome (:mod:`.outcomes` says which answer means what); the other calls
return their result or raise :class:`~.outcomes.WeChatError`. Every call refreshes the
access token once and repeats when WeChat says it is invalid or expired. The base URL is
configurable so tests talk to a fake WeChat over real HTTP.

Bodies are sent as raw UTF-8 JSON: WeChat shows ``\\u4f60``-style escapes literally.
The access token and app secret travel in query strings. Nothing here logs a URL, and
httpx, which logs every URL at INFO, gets a filter (:class:`QuerySecretsFilter`) that
blanks both, whatever level the app sets.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Self

import httpx

from intake.columns import utcnow
from intake.db import Database
from notifications.sender import Delivered, Failed, RetryLater, Uncertain

from . import tokens
from .outcomes import CONFIG_PAUSE, TOKEN_REFUSED, SendOutcome, WeChatError, outcome_for

log = logging.getLogger(__name__)
DEFAULT_BASE_URL = "https://api.weixin.qq.com"
#: Permanent string-scene QR codes: up to 100,000 per account, scene 1-64 characters.
MAX_SCENE = 64
MAX_MEDIA_BYTES = 10 * 1024 * 1024
#: httpx errors raised before the request reached WeChat: safe to send again.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_QUERY_SECRET = re.compile(r"\b(access_token|secret)=[^&\s\"']+")


class QuerySecretsFilter(logging.Filter):
    """Blanks ``access_token=`` and ``secret=`` values in httpx's request log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "access_token=" in message or "secret=" in message:
            record.msg, record.args = _QUERY_SECRET.sub(r"\1=<redacted>", message), None
        return True


def _guard_httpx_logger() -> None:
    """Install :class:`QuerySecretsFilter` on the ``httpx`` logger once per process."""
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, QuerySecretsFilter) for f in httpx_log.filters):
        httpx_log.addFilter(QuerySecretsFilter())


@dataclass(frozen=True)
class QrCode:
    """A parametric QR code: encode ``url`` in the poster (or show ``ticket``'s image)."""

    ticket: str
    url: str
    expire_seconds: int | None


@dataclass(frozen=True)
class Media:
    """A downloaded voice note or image."""

    data: bytes
    content_type: str
    filename: str | None


class WeChatApi:
    """The Official Account API for one app, its token shared through ``db``.

    Args:
        db: Where the token row lives (table ``wechat_access_token``).
        app_id, app_secret: ``HOTLINE_WECHAT_APP_ID`` / ``HOTLINE_WECHAT_APP_SECRET``.
        base_url: WeChat's API host; tests pass the fake's.
        clock: The time the token's expiry is judged by.
        refresh_margin: A token this close to expiry is refreshed before use.
        lease: How long a worker may take to fetch a token before another may try.
        wait_limit: Seconds (real time) a worker waits for another worker's refresh.
    """

    def __init__(
        self,
        db: Database,
        *,
        app_id: str,
        app_secret: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
        refresh_margin: timedelta = timedelta(minutes=5),
        lease: timedelta = timedelta(seconds=30),
        wait_limit: float = 15.0,
        poll_interval: float = 0.05,
    ) -> None:
        self.db = db
        self.app_id = app_id
        self._secret = app_secret
        self.clock = clock
        self.refresh_margin = refresh_margin
        self.lease = lease
        self.wait_limit = wait_limit
        self.poll_interval = poll_interval
        _guard_httpx_logger()
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)
        self._owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._cached: tokens.StoredToken | None = None
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ----------------------------------------------------------------- sends

    async def send_text(self, openid: str, text: str) -> SendOutcome:
        """A customer-service text message (within 48 hours of the person's last message)."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        return await self._send("/cgi-bin/message/custom/send", body)

    async def send_choices(
        self, openid: str, head: str, choices: Sequence[tuple[str, str]], tail: str = ""
    ) -> SendOutcome:
        """A ``msgmenu``: tappable lines of ``(id, label)``; a tap comes back as a text
        message whose ``menu_id`` is the id (:class:`~.messages.TextMessage`)."""
        if not choices:
            raise ValueError("a choice menu needs at least one choice")
        listed = [{"id": choice_id, "content": label} for choice_id, label in choices]
        menu = {"head_content": head, "list": listed, "tail_content": tail}
        body = {"touser": openid, "msgtype": "msgmenu", "msgmenu": menu}
        return await self._send("/cgi-bin/message/custom/send", body)

    async def send_template(
        self, openid: str, template_id: str, data: Mapping[str, str], *, url: str | None = None
    ) -> SendOutcome:
        """A template message (no 48-hour window; the person must follow the account)."""
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if url:
            body["url"] = url
        return await self._send("/cgi-bin/message/template/send", body)

    async def _send(self, path: str, body: dict[str, Any]) -> SendOutcome:
        try:
            answer = await self._call("POST", path, body=body)
        except WeChatError as error:
            return error.outcome
        msgid = answer.get("msgid")
        return Delivered(str(msgid) if msgid is not None else None)

    # ----------------------------------------------------------------- account set-up

    async def create_menu(self, menu: Mapping[str, Any]) -> None:
        """Replace the account's custom menu (see :func:`~.menu.build_menu`)."""
        await self._call("POST", "/cgi-bin/menu/create", body=dict(menu))

    async def village_qr(self, village_code: str, *, expire_seconds: int | None = None) -> QrCode:
        """A QR code whose scan opens the account bound to ``v_<village_code>``.

        Permanent by default (posters hang for years); ``expire_seconds`` (at most 30 days)
        makes a temporary one, which does not count against the 100,000 permanent codes.
        """
        scene = f"v_{village_code}"
        if len(scene) > MAX_SCENE:
            raise ValueError(f"a QR scene holds at most {MAX_SCENE} characters")
        body: dict[str, Any] = {"action_info": {"scene": {"scene_str": scene}}}
        if expire_seconds is None:
            body["action_name"] = "QR_LIMIT_STR_SCENE"
        else:
            body.update(action_name="QR_STR_SCENE", expire_seconds=expire_seconds)
        answer = await self._call("POST", "/cgi-bin/qrcode/create", body=body)
        expires = answer.get("expire_seconds")
        return QrCode(str(answer["ticket"]), str(answer["url"]), int(expires) if expires else None)

    async def download_media(self, media_id: str, *, max_bytes: int = MAX_MEDIA_BYTES) -> Media:
        """A voice note or image a person sent (kept by WeChat for 3 days)."""
        answer = await self._call(
            "GET", "/cgi-bin/media/get", query={"media_id": media_id}, max_bytes=max_bytes
        )
        if "data" not in answer:
            raise WeChatError(Failed("the media is not a file (a video answers with a link)"))
        return Media(answer["data"], answer["content_type"], answer["filename"])

    # ----------------------------------------------------------------- the access token

    async def access_token(self) -> str:
        """A valid token: from memory, from the shared row, or fetched by one worker.

        When another worker holds the refresh lease and no valid token exists, this waits
        (polling the row) for at most ``wait_limit`` seconds, then answers "retry later".
        """
        cached = self._cached
        if cached is not None and cached.token and cached.usable(self.clock(), self.refresh_margin):
            return cached.token
        async with self._token_lock:  # one coroutine of this process asks the database
            deadline = time.monotonic() + self.wait_limit
            while True:
                now = self.clock()
                stored = await asyncio.to_thread(tokens.read, self.db, self.app_id)
                if stored.token and stored.usable(now, self.refresh_margin):
                    self._cached = stored
                    return stored.token
                if await asyncio.to_thread(self._claim, now):
                    return await self._refresh(now)
                if stored.token and stored.usable(now, timedelta(0)):
                    return stored.token  # still valid; another worker is renewing it
                if time.monotonic() > deadline:
                    raise WeChatError(RetryLater("token refresh elsewhere did not finish", 5.0))
                log.debug("waiting for another worker's WeChat token refresh")
                await asyncio.sleep(self.poll_interval)

    def _claim(self, now: datetime) -> bool:
        return tokens.claim(
            self.db,
            self.app_id,
            self._owner,
            now=now,
            margin=self.refresh_margin,
            lease=self.lease,
        )

    async def _refresh(self, now: datetime) -> str:
        """Fetch a token under our lease and store it for every worker."""
        query = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        try:
            answer = await self._request("GET", "/cgi-bin/token", query=query)
            token, expires_in = str(answer["access_token"]), int(answer["expires_in"])
        except (KeyError, TypeError, ValueError):
            await asyncio.to_thread(tokens.release, self.db, self.app_id, self._owner)
            raise WeChatError(RetryLater("malformed token answer", CONFIG_PAUSE, True)) from None
        except BaseException:
            await asyncio.to_thread(tokens.release, self.db, self.app_id, self._owner)
            raise
        expires_at = now + timedelta(seconds=expires_in)
        kept = await asyncio.to_thread(
            lambda: tokens.store(
                self.db, self.app_id, self._owner, token=token, expires_at=expires_at, now=now
            )
        )
        log.info("fetched a WeChat access token (valid %d s, stored: %s)", expires_in, kept)
        self._cached = tokens.StoredToken(token, expires_at, None, 0) if kept else None
        return token

    async def _forget(self, token: str) -> None:
        """WeChat refused ``token``: nobody should use it again."""
        if self._cached is not None and self._cached.token == token:
            self._cached = None
        now = self.clock()
        await asyncio.to_thread(lambda: tokens.invalidate(self.db, self.app_id, token, now=now))

    # ----------------------------------------------------------------- HTTP

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        """One API call with the token; refreshed once and repeated if WeChat refuses it."""
        for attempt in (1, 2):
            token = await self.access_token()
            params = {**(query or {}), "access_token": token}
            try:
                return await self._request(
                    method, path, query=params, body=body, max_bytes=max_bytes
                )
            except WeChatError as error:
                if error.errcode not in TOKEN_REFUSED:
                    raise
                await self._forget(token)
                if attempt == 2:
                    log.error("WeChat refused a freshly fetched access token (%s)", error.errcode)
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str],
        body: dict[str, Any] | None = None,
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"} if content else None
        request = self._http.build_request(
            method, path, params=query, content=content, headers=headers
        )
        try:
            response = await self._http.send(request, stream=True)
        except _NEVER_SENT as error:
            raise WeChatError(
                RetryLater(f"no connection to WeChat ({type(error).__name__})", 5.0)
            ) from None
        except httpx.HTTPError as error:
            raise WeChatError(
                Uncertain(f"no answer from WeChat ({type(error).__name__})")
            ) from None
        try:
            return await _read(response, max_bytes)
        finally:
            await response.aclose()


async def _read(response: httpx.Response, max_bytes: int | None) -> dict[str, Any]:
    """The JSON answer, or for media (``max_bytes`` given) the file; errors raised."""
    if response.status_code >= 500:
        raise WeChatError(RetryLater(f"WeChat answered HTTP {response.status_code}", 5.0))
    content_type = response.headers.get("content-type", "")
    is_file = (
        max_bytes is not None and "json" not in content_type and "text/plain" not in content_type
    )
    limit = max_bytes if max_bytes is not None else 1024 * 1024
    data = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > limit:
                raise WeChatError(Failed(f"answer larger than {limit} bytes"))
    except httpx.HTTPError as error:
        raise WeChatError(Uncertain(f"answer cut off ({type(error).__name__})")) from None
    if is_file:
        return {"data": bytes(data), "content_type": content_type, "filename": _filename(response)}
    return _json_answer(response.status_code, bytes(data))


def _json_answer(status: int, data: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(data)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        # Not WeChat's answer (a proxy's page?): whether a send went through is unknown.
        raise WeChatError(Uncertain(f"HTTP {status} without a JSON object"))
    try:
        errcode = int(answer.get("errcode") or 0)
    except (TypeError, ValueError):
        raise WeChatError(Uncertain(f"HTTP {status} with an unreadable errcode")) from None
    if errcode:
        outcome = outcome_for(errcode, str(answer.get("errmsg", "")))
        if errcode in TOKEN_REFUSED:
            outcome = RetryLater(
                f"wechat {errcode}: access token refused", CONFIG_PAUSE, flood=True
            )
        raise WeChatError(outcome, errcode)
    return answer


def _filename(response: httpx.Response) -> str | None:
    disposition = response.headers.get("content-disposition", "")
    _, _, name = disposition.partition("filename=")
    return name.strip().strip('"') or None
