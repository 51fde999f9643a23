"""The hotline operator's console (``/cadre/hotline``): the chat's dialogs, run by the
operator on a caller's behalf, in the browser.

It is a channel like Telegram or the terminal, not a second form: each step the operator
takes is a message to :class:`~bot.conversation.Conversations`, answered by the same engine,
with the same questions, checks and buttons a villager sees in the chat. A button on the
page sends the button's data; the text box sends what the caller said.

* **A call is a conversation.** Taking a call makes a fresh call id; the conversation's
  sender is derived from the operator and that id (``op<user>-<call>``), so every call
  starts clean, two calls never share answers, and no operator can reach another's call
  (the sender is built from the logged-in user, never read from the page).
* **Each step is sent once.** The page carries a message id; pressing twice, or the
  browser sending the form again, is a redelivery the conversation answers with its first
  replies and otherwise ignores.
* **Replies are shown in the response** (``inline``): the stored copy of an anonymous
  report's dialog is scrubbed after it is answered, so the tracking code is read from the
  answer itself and shown large, for the operator to read back.
* **Consent to a call-back** is the dialog's own question, asked of a named reporter; the
  page reminds the operator to ask it in so many words.
* **The search box** finds the caller's existing applications and reports
  (:mod:`intake.web.reports.search`: exact matches on keyed hashes, within the operator's
  region).

Login, session and CSRF are the cadre pages' own (:mod:`intake.web.auth`); only users with
the ``operator`` role (and administrators) may use the console.
"""

# No ``from __future__ import annotations``: FastAPI must see the local Annotated aliases.

import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from bot import inbound
from bot.channels.base import Capabilities, Channel, ChannelFactory
from bot.config import Settings
from bot.conversation import Conversations, Incoming
from bot.engine import Input
from bot.parsing import code_in
from bot.render import Rendered
from intake.outage import StorageUnavailable
from intake.tracking import normalize_tracking_code
from intake.users import Role
from intake.web import auth
from intake.web.auth import Viewer
from intake.web.deps import WebDeps
from intake.web.errors import route_class
from intake.web.render import HERE as CADRE_WEB
from intake.web.render import templates as cadre_templates
from intake.web.render import translator
from intake.web.reports.pages import report_label
from intake.web.reports.search import search
from locales import normalize_locale

if TYPE_CHECKING:
    from bot.services import Services

CHANNEL = "operator"
PREFIX = "/cadre/hotline"
ROLES = frozenset({Role.OPERATOR, Role.ADMIN})
_CALL_ID = re.compile(r"^[0-9a-f]{12}$")
_MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_TYPED = 2000

templates = Jinja2Templates(
    directory=[
        str(Path(__file__).resolve().parent / "operator_templates"),
        str(CADRE_WEB / "templates"),
    ]
)
templates.env.globals.update(cadre_templates.env.globals)
templates.env.filters.update(cadre_templates.env.filters)


@dataclass(frozen=True)
class Turn:
    """One step the operator takes in a call: typed text, a pressed button, or the start."""

    operator_id: int
    call_id: str
    message_id: str
    text: str = ""
    data: str | None = None
    start: bool = False
    language: str = "zh_CN"


def sender_of(operator_id: int, call_id: str) -> str:
    """The conversation's sender for one call of one operator."""
    return f"op{operator_id}-{call_id}"


def new_call_id() -> str:
    """A fresh call id (12 hex characters)."""
    return secrets.token_hex(6)


def spoken_code(replies: Sequence[Rendered]) -> str | None:
    """The tracking code the replies give (the last one that names a valid code)."""
    found = None
    for reply in replies:
        candidate = code_in(reply.text)
        code = normalize_tracking_code(candidate) if candidate else None
        if code is not None:
            found = code
    return found


class OperatorChannel(Channel[Turn]):
    """The console as a channel: replies inline, nothing sent later (no sender)."""

    name = CHANNEL
    capabilities = Capabilities(buttons=True, max_text=16_000, markup=None, inline=True)

    def __init__(self, conversations: Conversations, deps: WebDeps) -> None:
        super().__init__()
        self.conversations = conversations
        self.deps = deps

    def decode(self, raw: Turn) -> Incoming:
        """One console step as the engine's input."""
        sender = sender_of(raw.operator_id, raw.call_id)
        given = (
            Input(start=True)
            if raw.start
            else Input(text=raw.text[:MAX_TYPED], data=raw.data or None)
        )
        return Incoming(CHANNEL, f"{sender}:{raw.message_id}", sender, given, raw.language)

    def take(self, turn: Turn) -> tuple[Rendered, ...]:
        """Hand one step to the conversation; its replies as the console shows them."""
        outcome = self.conversations.receive(self.decode(turn))
        return tuple(self.present(outcome.replies))

    def last_replies(self, operator_id: int, call_id: str) -> tuple[Rendered, ...]:
        """The replies to the call's latest answered step (nothing once scrubbed)."""
        sender = sender_of(operator_id, call_id)
        with self.conversations.db.read() as db:
            row = db.exec(
                select(inbound.InboundMessage)
                .where(
                    inbound.InboundMessage.channel == CHANNEL,
                    inbound.InboundMessage.sender == sender,
                    col(inbound.InboundMessage.replies).is_not(None),
                )
                .order_by(col(inbound.InboundMessage.id).desc())
            ).first()
        replies = row.replies if row is not None and row.replies else []
        return tuple(Rendered.from_json(reply) for reply in replies)

    def router(self) -> APIRouter:
        """The console's pages under ``/cadre/hotline``."""
        return _router(self)


def _page(
    request: Request, name: str, viewer: Viewer, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    locale = normalize_locale(viewer.locale)
    data = {
        "t": translator(locale),
        "locale": locale,
        "viewer": viewer,
        "csrf": viewer.csrf,
        "rl": report_label,
        **context,
    }
    return templates.TemplateResponse(request, name, data, status_code=status_code)


def _router(channel: OperatorChannel) -> APIRouter:
    deps = channel.deps
    api = APIRouter(prefix=PREFIX, tags=["hotline"], route_class=route_class(deps))

    def operator(request: Request) -> Viewer:
        viewer = auth.viewer(request, deps)
        if viewer.scope.role not in ROLES:
            raise HTTPException(status_code=403, detail="the console is for hotline operators")
        return viewer

    Operator = Annotated[Viewer, Depends(operator)]

    @api.get("", response_class=HTMLResponse)
    def console(request: Request, viewer: Operator) -> Response:
        typed = request.query_params.get("q") or ""
        found = None
        if typed.strip():
            with deps.db.read() as db:
                found = search(db, viewer.scope, deps.cipher, typed)
        context = {"found": found, "q": typed, "search_action": PREFIX}
        return _page(request, "hotline.html", viewer, context)

    @api.post("/calls", response_class=HTMLResponse)
    async def take_call(request: Request, viewer: Operator) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        assert viewer.user.id is not None
        call = new_call_id()
        turn = Turn(viewer.user.id, call, uuid.uuid4().hex, start=True, language=viewer.locale)
        return await _step(request, channel, viewer, turn)

    @api.get("/calls/{call_id}", response_class=HTMLResponse)
    def call_page(request: Request, call_id: str, viewer: Operator) -> Response:
        if not _CALL_ID.match(call_id):
            raise HTTPException(status_code=404)
        assert viewer.user.id is not None
        replies = channel.last_replies(viewer.user.id, call_id)
        if not replies:
            return RedirectResponse(PREFIX, status_code=303)
        return _call_page(request, viewer, call_id, replies)

    @api.post("/calls/{call_id}", response_class=HTMLResponse)
    async def say(request: Request, call_id: str, viewer: Operator) -> Response:
        await auth.check_csrf(request, viewer.csrf)
        if not _CALL_ID.match(call_id):
            raise HTTPException(status_code=404)
        assert viewer.user.id is not None
        form = await request.form()
        message_id = str(form.get("mid") or "")
        if not _MESSAGE_ID.match(message_id):
            message_id = uuid.uuid4().hex
        data = form.get("data")
        text = form.get("text")
        turn = Turn(
            viewer.user.id,
            call_id,
            message_id,
            text=text if isinstance(text, str) else "",
            data=data[:64] if isinstance(data, str) and data else None,
            language=viewer.locale,
        )
        return await _step(request, channel, viewer, turn)

    return api


async def _step(request: Request, channel: OperatorChannel, viewer: Viewer, turn: Turn) -> Response:
    try:
        replies = await run_in_threadpool(channel.take, turn)
    except StorageUnavailable:
        context = {"call_id": turn.call_id, "replies": (), "code": None, "mid": turn.message_id}
        context["error"] = "cadre.hotline.unavailable"
        return _page(request, "hotline_call.html", viewer, context, status_code=503)
    return _call_page(request, viewer, turn.call_id, replies)


def _call_page(
    request: Request, viewer: Viewer, call_id: str, replies: Sequence[Rendered]
) -> Response:
    context = {
        "call_id": call_id,
        "replies": replies,
        "buttons": replies[-1].buttons if replies else (),
        "code": spoken_code(replies),
        "mid": uuid.uuid4().hex,
        "error": None,
    }
    return _page(request, "hotline_call.html", viewer, context)


def console_deps(settings: Settings, services: "Services") -> WebDeps:
    """The cadre pages' services the console needs (its login and session are theirs)."""
    return WebDeps(
        db=services.db,
        cipher=services.cipher,
        policies=services.policies,
        calendar=services.calendar,
        clock=services.clock,
        cookie_secret=settings.resolved_secret("cookie_secret"),
        cookie_secure=settings.secure_cookie(),
    )


def _build(settings: Settings, services: "Services") -> OperatorChannel:
    """Always on: the pages refuse everyone but logged-in operators."""
    return OperatorChannel(services.conversations, console_deps(settings, services))


FACTORY = ChannelFactory(CHANNEL, inline=True, build=_build)
