"""The channel interface: what every way a villager reaches the hotline declares.

A channel is a thin adapter (DESIGN decision 2). It says

* its :attr:`~Channel.name` (the ``channel`` column of inbound rows, contacts and the
  outbox) and its :class:`Capabilities`: tappable buttons or numbered choices, how long
  one message may be, which markup, and whether replies go back in the HTTP response
  (``inline``) or through the outbox;
* its routes (:meth:`~Channel.router`, an ``APIRouter`` or ``None``);
* how it decodes what arrives into the engine's input (:meth:`~Channel.decode` returns
  an :class:`~bot.conversation.Incoming`, or ``None`` for what is not a message);
* how it presents replies (:meth:`~Channel.present`, by capability);
* what the outbox dispatcher needs: :attr:`~Channel.sender`, :attr:`~Channel.limits`,
  :meth:`~Channel.is_group`; and the cadre pages: :attr:`~Channel.opener` for files;
* its start, stop and close hooks, run by the app's lifespan.

:class:`ChannelFactory` builds one from the settings (``None`` when not configured);
:data:`bot.channels.registry.CHANNELS` lists one factory per channel, and the app, the
dispatcher wiring and the conversation service loop over that list: adding a channel is a
module and a line there, nothing else.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from fastapi import APIRouter

from bot.render import Rendered
from intake.web.deps import OpenAttachment
from locales import translate
from notifications.outbox import OutboxMessage
from notifications.ratelimit import Limits
from notifications.sender import Sender

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.conversation import Answered, Incoming
    from bot.services import Services

Raw = TypeVar("Raw")
_HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Capabilities:
    """What a channel can show, and where its replies go."""

    #: Tappable buttons; without them choices are numbered lines ("回复数字").
    buttons: bool = True
    #: The most characters one message may carry; a longer reply is split at line ends.
    max_text: int = 4096
    #: ``"html"`` when the channel reads markup; ``None`` for plain text.
    markup: str | None = None
    #: Replies go back in the HTTP response (or the terminal); else through the outbox.
    inline: bool = True


class Channel(ABC, Generic[Raw]):
    """One channel. Subclasses set :attr:`name` and :attr:`capabilities`, and decode."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    #: Delivers outbox rows of this channel (``None``: nothing is sent later).
    sender: Sender | None = None
    #: The send limits the dispatcher keeps on this channel.
    limits: Limits = Limits()
    #: Fetches a file a villager sent, for the cadre pages (``None``: none are kept).
    opener: OpenAttachment | None = None

    def __init__(self) -> None:
        #: Called on the event loop when replies were queued: the dispatcher's wake-up.
        self.wake: Callable[[], None] = lambda: None
        #: Hands rows written claimed for the dispatcher to it (on the event loop).
        self.offer: Callable[[str, Sequence[OutboxMessage]], None] = lambda _c, _r: None

    def dispatch(self, answered: Answered) -> None:
        """After a message was answered: hand its reply rows to the dispatcher, or wake
        the dispatcher to claim them (call it on the event loop)."""
        if answered.handed:
            self.offer(self.name, answered.handed)
        elif not answered.duplicate:
            self.wake()

    @abstractmethod
    def decode(self, raw: Raw) -> Incoming | None:
        """What arrived as the engine's input; ``None`` for what is not a message."""

    def router(self) -> APIRouter | None:
        """The channel's inbound routes, if it has any."""
        return None

    def is_group(self, recipient: str) -> bool:
        """Whether ``recipient`` is a group chat (slower limits); most channels have none."""
        del recipient
        return False

    def present(self, replies: Sequence[Rendered]) -> list[Rendered]:
        """The replies as this channel can show them (numbered choices, split text)."""
        return [part for reply in replies for part in adapt(reply, self.capabilities)]

    async def start(self) -> None:
        """Begin taking messages (after the dispatcher started)."""

    async def stop(self) -> None:
        """Stop taking messages; work under way may finish."""

    async def close(self) -> None:
        """Release connections (after the dispatcher stopped sending)."""


@dataclass(frozen=True)
class ChannelFactory:
    """Builds a channel from the settings, or ``None`` when it is not configured.

    ``inline`` is known before anything is built, so the conversation service knows which
    channels' replies it must queue in the outbox in the message's own transaction.
    """

    name: str
    inline: bool
    build: Callable[[Settings, Services], Channel[Any] | None]

    def __call__(self, settings: Settings, services: Services) -> Channel[Any] | None:
        return self.build(settings, services)


def adapt(reply: Rendered, capabilities: Capabilities) -> list[Rendered]:
    """``reply`` within ``capabilities``: buttons as numbered lines, text split to fit.

    Numbered lines keep the buttons on the returned reply (the last part), so the channel
    can still tell which number means which choice.
    """
    text = reply.text
    if reply.buttons and not capabilities.buttons:
        text = numbered(reply)
    parts = split_text(text, capabilities.max_text)
    return [
        Rendered(part, reply.buttons if last else (), reply.free_answer)
        for last, part in ((i == len(parts) - 1, p) for i, p in enumerate(parts))
    ]


def numbered(reply: Rendered) -> str:
    """The reply's text with its choices as ``1. 是`` lines and a hint to reply a number;
    lettered (``A. 不清楚``) when the question itself wants a typed answer."""
    # Said in the reply's own language (a Chinese reply has 汉字).
    locale = "zh_CN" if _HAN.search(reply.text) else "en"
    hint = translate(
        locale, "channel.lettered_hint" if reply.free_answer else "channel.numbered_hint"
    )
    keys = [chr(ord("A") + i) if reply.free_answer else str(i + 1) for i in range(26)]
    lines = [f"{key}. {label}" for key, (label, _) in zip(keys, reply.buttons, strict=False)]
    return "\n".join([reply.text, *lines, hint]) if reply.text else "\n".join([*lines, hint])


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at line ends when possible."""
    if limit < 1:
        raise ValueError("a message holds at least one character")
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        cut = cut if cut > 0 else limit
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    parts.append(rest)
    return parts
