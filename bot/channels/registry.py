"""Every channel, one factory each: the list the app, the dispatcher and the conversation
service loop over. A new channel is a module with a ``FACTORY`` and one line here."""

from __future__ import annotations

import bot.channels.sms as sms
import bot.channels.wechat.channel as wechat
from bot.channels import operator, telegram, terminal, webhook
from bot.channels.base import ChannelFactory

CHANNELS: tuple[ChannelFactory, ...] = (
    telegram.FACTORY,
    webhook.FACTORY,
    terminal.FACTORY,
    wechat.FACTORY,
    sms.FACTORY,
    operator.FACTORY,
)


def outbox_channels(factories: tuple[ChannelFactory, ...] = CHANNELS) -> frozenset[str]:
    """The channels whose replies the conversation service queues in the outbox."""
    return frozenset(factory.name for factory in factories if not factory.inline)
