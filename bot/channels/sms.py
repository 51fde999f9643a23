"""SMS as a channel: notices and reminders to people with a phone but no chat.

Nobody converses by SMS here (a text message costs the villager and the template rules
forbid free replies), so the channel decodes nothing; what the provider pushes back -
delivery reports, and replies such as TD (退订) - lands on :func:`notifications.sms.sms_router`
under ``/channels/sms``, mounted when ``HOTLINE_SMS_PUSH_TOKEN`` is set. Sending needs the
AccessKey and the approved signature (``HOTLINE_SMS_ACCESS_KEY_ID``,
``HOTLINE_SMS_ACCESS_KEY_SECRET``, ``HOTLINE_SMS_SIGN_NAME``) and the approved templates
(``HOTLINE_SMS_TEMPLATES``); each send is capped per phone a day
(``HOTLINE_SMS_DAILY_CAP``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from bot.channels.base import Capabilities, Channel, ChannelFactory
from bot.config import Settings
from bot.conversation import Incoming
from notifications.ratelimit import Limits
from notifications.sms import CHANNEL, AliyunSmsClient, SmsSender, sms_router
from notifications.sms import templates_from_setting as parse_templates

if TYPE_CHECKING:
    from bot.services import Services

#: One SMS template holds about 70 Chinese characters before the provider bills two.
SMS_TEXT = 70


class SmsChannel(Channel[Any]):
    """The sender (with the daily cap and opt-out) and the provider's push routes."""

    name = CHANNEL
    capabilities = Capabilities(buttons=False, max_text=SMS_TEXT, markup=None, inline=False)

    def __init__(self, *, sender: SmsSender | None, routes: APIRouter | None, limits: Limits):
        super().__init__()
        self.sender = sender
        self._sender = sender
        self._routes = routes
        self.limits = limits

    def decode(self, raw: Any) -> Incoming | None:
        """Nothing arriving by SMS is a dialog message (replies are opt-out words only)."""
        del raw
        return None

    def router(self) -> APIRouter | None:
        """Delivery reports and replies, when the push token is configured."""
        return self._routes

    async def close(self) -> None:
        """Release the gateway's connections."""
        if self._sender is not None:
            await self._sender.client.aclose()


def templates_from(settings: Settings) -> dict[str, Any]:
    """``HOTLINE_SMS_TEMPLATES`` parsed; a ``ValueError`` naming the setting otherwise."""
    try:
        raw = json.loads(settings.sms_templates or "{}")
    except json.JSONDecodeError:
        raise ValueError("HOTLINE_SMS_TEMPLATES must be a JSON object") from None
    if not isinstance(raw, dict):
        raise ValueError("HOTLINE_SMS_TEMPLATES must be a JSON object")
    return dict(parse_templates(raw))


def sender_from(settings: Settings, services: Services) -> SmsSender | None:
    """The SMS sender as configured, or ``None`` without an AccessKey and signature."""
    if not settings.sms_enabled():
        return None
    assert settings.sms_access_key_id and settings.sms_access_key_secret
    # The request's signed timestamp is the wall clock's, whatever clock the service keeps.
    client = AliyunSmsClient(
        settings.sms_access_key_id, settings.sms_access_key_secret, endpoint=settings.sms_endpoint
    )
    return SmsSender(
        client,
        services.db,
        services.cipher,
        sign_name=str(settings.sms_sign_name),
        templates=templates_from(settings),
        daily_cap=settings.sms_daily_cap,
        now=services.clock,
    )


def _build(settings: Settings, services: Services) -> SmsChannel | None:
    sender = sender_from(settings, services)
    token = settings.sms_push_token
    routes = sms_router(services.db, services.cipher, token=token) if token else None
    if sender is None and routes is None:
        return None
    limits = Limits(
        per_second=settings.sms_messages_per_second,
        per_recipient_interval=60.0,  # one SMS a minute to a phone, the providers' own floor
        per_recipient_burst=1,
    )
    return SmsChannel(sender=sender, routes=routes, limits=limits)


FACTORY = ChannelFactory(CHANNEL, inline=False, build=_build)
