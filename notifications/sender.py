"""What a channel adapter promises the dispatcher: send one payload, say what happened.

``notifications`` never imports ``bot``: channel adapters in ``bot.channels`` implement
:class:`Sender`, and the composition root hands them to the dispatcher.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Delivered:
    """The channel accepted the message."""

    external_id: str | None = None


@dataclass(frozen=True)
class RetryLater:
    """Nothing was delivered; try again no sooner than ``after`` seconds.

    ``flood`` marks a channel-wide limit (Telegram's 429): every send on the channel waits.
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


Outcome = Delivered | RetryLater | Stopped | Failed


class Sender(Protocol):
    """A channel adapter that can deliver outbox payloads."""

    channel: str

    async def send(self, recipient: str, payload: dict[str, Any]) -> Outcome:
        """Deliver ``payload`` (``{"text": ..., "buttons": [...]}``) to ``recipient``."""
        ...
