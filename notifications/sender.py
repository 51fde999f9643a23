"""What a channel adapter promises the dispatcher: send one payload, say what happened.

``notifications`` never imports ``bot``: channel adapters in ``bot.channels`` implement
:class:`Sender`, and the composition root hands them to the dispatcher.

The outcome tells the dispatcher whether the message may be sent again.
:class:`RetryLater` says it may: an adapter returns it only when it *knows* nothing was
delivered (a 429, a 5xx answer, a refused connection). When it cannot know - a read
timeout after the request went out - it returns :class:`Uncertain`, and the outbox's rule
for the row's kind decides: a reply is sent again, anything else never
(:data:`notifications.outbox.AT_LEAST_ONCE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Delivered:
    """The channel accepted the message."""

    external_id: str | None = None


@dataclass(frozen=True)
class RetryLater:
    """Nothing was delivered; try again no sooner than ``after`` seconds.

    ``flood`` marks a channel-wide limit (Telegram's 429): every send on the channel waits,
    and the attempt does not count against the row's retry cap (the channel said when).
    """

    reason: str
    after: float = 0.0
    flood: bool = False


@dataclass(frozen=True)
class Stopped:
    """The recipient will not receive messages (blocked the bot, left the chat)."""

    reason: str


@dataclass(frozen=True)
class Failed:
    """The channel refused this message for good (bad request); do not retry."""

    reason: str


@dataclass(frozen=True)
class Uncertain:
    """The request went out but no answer came back: it may have been delivered.

    A reply to the villager is sent again (a possible duplicate beats a silent stop); any
    other row is marked ``unknown`` and never sent again (a retry could deliver it twice).
    """

    reason: str


Outcome = Delivered | RetryLater | Stopped | Failed | Uncertain


class Sender(Protocol):
    """A channel adapter that can deliver outbox payloads."""

    channel: str

    async def send(self, recipient: str, payload: dict[str, Any]) -> Outcome:
        """Deliver ``payload`` (``{"text": ..., "buttons": [...]}``) to ``recipient``."""
        ...


@runtime_checkable
class MultipartSender(Protocol):
    """A sender whose payload may need several channel messages (a text over 4,096 chars).

    The dispatcher asks :meth:`parts`, then calls ``send`` once per part with
    ``payload["part"]`` set, pacing each one and remembering how many went, so a retry
    resumes after the last delivered part and never repeats one.
    """

    channel: str

    def parts(self, payload: dict[str, Any]) -> int:
        """How many channel messages ``payload`` needs (at least 1)."""
        ...

    async def send(self, recipient: str, payload: dict[str, Any]) -> Outcome:
        """Deliver part ``payload["part"]`` (or the whole payload when it has one part)."""
        ...
