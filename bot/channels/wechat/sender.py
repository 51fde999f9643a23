"""The outbox's sender for WeChat: customer-service messages, with the fall-backs WeChat needs.

A row's payload is a rendered reply (``{"text", "buttons"}``). It goes as a customer-
service message (客服消息): choices as a ``msgmenu`` when the account may send one
(``HOTLINE_WECHAT_MSGMENU``), as numbered lines otherwise; a long text in parts (the
dispatcher paces them and never repeats a delivered one).

Customer service reaches a person only within 48 hours of their last message, and only a
few times before they write again (:class:`~.outcomes.NotDeliverable`). Then the same text
goes as a template message (``HOTLINE_WECHAT_TEMPLATE_ID``: ``first`` holds the text); with
no template, as the approved SMS ``HOTLINE_WECHAT_SMS_TEMPLATE`` to the phone the person
gave in their latest application (queued in the outbox's ``sms`` channel, where the daily
cap and TD opt-out apply). With neither, the row fails with WeChat's reason, for a cadre to
see on the outbox page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from bot.channels.base import Capabilities, adapt
from bot.render import Rendered
from intake.applications import Application
from intake.contacts import find_contact
from intake.crypto import FieldCipher
from intake.db import Database
from notifications.sender import Failed, Outcome
from notifications.sms import enqueue_sms

from .api import WeChatApi
from .outcomes import NotDeliverable

CHANNEL = "wechat"
#: A customer-service text holds 2,048 bytes; 600 characters of Chinese stay well inside.
MAX_TEXT = 600


class WeChatSender:
    """Delivers outbox rows of the ``wechat`` channel (a multipart sender)."""

    channel = CHANNEL

    def __init__(
        self,
        api: WeChatApi,
        *,
        msgmenu: bool = False,
        template_id: str | None = None,
        sms: SmsFallback | None = None,
    ) -> None:
        self.api = api
        self.msgmenu = msgmenu
        self.template_id = template_id
        self.sms = sms
        self._capabilities = Capabilities(buttons=msgmenu, max_text=MAX_TEXT, inline=False)

    def pieces(self, payload: dict[str, Any]) -> list[Rendered]:
        """The messages ``payload`` becomes on WeChat."""
        return adapt(Rendered.from_json(payload), self._capabilities)

    def parts(self, payload: dict[str, Any]) -> int:
        """How many customer-service messages ``payload`` needs."""
        return len(self.pieces(payload))

    async def send(self, recipient: str, payload: dict[str, Any]) -> Outcome:
        """Send part ``payload["part"]``; past the 48-hour window, fall back."""
        pieces = self.pieces(payload)
        piece = pieces[min(int(payload.get("part") or 0), len(pieces) - 1)]
        if piece.buttons and self.msgmenu:
            choices = [(data, label) for label, data in piece.buttons]
            outcome = await self.api.send_choices(recipient, piece.text, choices)
        else:
            outcome = await self.api.send_text(recipient, piece.text)
        if isinstance(outcome, NotDeliverable):
            return await self.fall_back(recipient, piece.text, outcome)
        return outcome

    async def fall_back(self, openid: str, text: str, refused: NotDeliverable) -> Outcome:
        """A template message, else an SMS, else the row fails with WeChat's reason."""
        if self.template_id:
            sent = await self.api.send_template(
                openid, self.template_id, {"first": text, "remark": ""}
            )
            if not isinstance(sent, NotDeliverable):
                return sent
        if self.sms is not None and await asyncio.to_thread(self.sms.queue, openid):
            return Failed(f"{refused.reason}; an SMS notice was queued instead")
        return Failed(refused.reason)


class SmsFallback:
    """Queues the approved "open WeChat" SMS for a person WeChat cannot reach now."""

    def __init__(
        self, db: Database, cipher: FieldCipher, *, template: str, now: Callable[[], datetime]
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.template = template
        self.now = now

    def queue(self, openid: str) -> bool:
        """Queue it to the phone of the person's latest application; whether one was."""
        with self.db.write() as session:
            contact = find_contact(session, CHANNEL, openid)
            if contact is None:
                return False
            stored = session.exec(
                select(Application.phone_cipher)
                .where(Application.contact_id == contact.id)
                .where(col(Application.phone_cipher).is_not(None))
                .order_by(col(Application.id).desc())
                .limit(1)
            ).first()
            phone = self.cipher.unseal(stored) if stored else None
            if not phone:
                return False
            try:
                enqueue_sms(
                    session,
                    self.cipher,
                    phone=phone,
                    template=self.template,
                    params={},
                    contact_id=contact.id,
                    now=self.now(),
                )
            except ValueError:  # a landline: no SMS reaches it
                return False
            return True
