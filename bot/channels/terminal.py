"""``hotline chat``: the conversation in a terminal, for trying the dialogs and for demos.

Type answers as a villager would; ``#2`` presses the second button shown. Every line
goes through the same conversation service (and database) as the real channels.

What a villager is told later goes through the outbox, as on every channel: a cadre's
decision on the cadre pages, a reminder. While the chat is open, the outbox rows of the
``terminal`` channel addressed to this chat's user are printed (when it opens, after each
line, and every few seconds while it waits) and marked sent, so a demo shows the whole
loop: apply here, act on the cadre pages, read the notice here.
"""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from bot.channels.base import Capabilities, Channel, ChannelFactory
from bot.config import Settings
from bot.conversation import Conversations, Incoming
from bot.engine import Input
from bot.parsing import press_number
from bot.render import Rendered
from intake.outage import StorageUnavailable
from notifications.dispatcher import Dispatcher
from notifications.sender import Delivered

if TYPE_CHECKING:
    from bot.services import Services

CHANNEL = "terminal"
#: Seconds between looks at the outbox while the chat waits for a line.
POLL_SECONDS = 3.0
#: Rows taken per look (other users' rows among them are given back at once).
_BATCH = 50
log = logging.getLogger(__name__)


def show(replies: Iterable[Rendered], out: TextIO) -> list[tuple[str, str]]:
    """Print replies; returns the buttons on offer (the last reply's)."""
    buttons: list[tuple[str, str]] = []
    for reply in replies:
        out.write(f"\n{reply.text}\n")
        if reply.buttons:
            buttons = list(reply.buttons)
            out.write("  ".join(f"[#{i}] {label}" for i, (label, _) in enumerate(buttons, 1)))
            out.write("\n")
    return buttons


class Notices:
    """Prints the outbox rows for one terminal user and marks them sent.

    The rows are claimed, marked ``sending`` and recorded ``sent`` through the
    dispatcher's own database steps, so the outbox's promises hold here too: a row is
    shown at most once, and one user's rows in the order they were written. Rows of
    other terminal users (another ``hotline chat`` open at once) are given back unsent.
    """

    def __init__(self, conversations: Conversations, user: str, show_text: Callable[[str], None]):
        self.user = user
        self.show_text = show_text
        worker = f"terminal-{uuid.uuid4().hex[:8]}"
        self.dispatcher = Dispatcher(conversations.db, {}, worker=worker, now=conversations.clock)

    def deliver(self) -> int:
        """Print what waits for this user now; returns how many rows were shown."""
        rows = self.dispatcher.claim(CHANNEL, _BATCH)
        self.dispatcher.release([row for row in rows if row.recipient != self.user])
        mine = [row for row in rows if row.recipient == self.user]
        for shown, row in enumerate(mine):
            if not self.dispatcher.mark_sending(row):  # not its turn: give the rest back
                self.dispatcher.release(mine[shown:])
                return shown
            self.show_text(Rendered.from_json(row.payload).text)
            self.dispatcher.record(row, Delivered())
        return len(mine)

    def watch(self, stop: threading.Event, every: float) -> None:
        """Deliver every ``every`` seconds until ``stop`` is set (a thread's loop)."""
        while not stop.wait(every):
            try:
                self.deliver()
            except Exception as error:  # the database is away: try again at the next look
                log.warning("terminal notices: %s", type(error).__name__)


def to_input(line: str, buttons: list[tuple[str, str]]) -> Input:
    """``#N`` presses button N (also ``＃N`` and ``# N``); anything else is typed text."""
    pressed = press_number(line, hash_required=True)
    if pressed is not None and 1 <= pressed <= len(buttons):
        return Input(data=buttons[pressed - 1][1])
    return Input(text=line)


@dataclass(frozen=True)
class Line:
    """One line typed in the terminal, with what it needs to become a message."""

    message_id: str
    user: str
    text: str
    buttons: tuple[tuple[str, str], ...] = ()
    language: str | None = None
    start: bool = False
    payload: str | None = None


class TerminalChannel(Channel[Line]):
    """``hotline chat`` as a channel: replies printed at once, notices read from the outbox
    by :class:`Notices` (no sender: nothing leaves the machine)."""

    name = CHANNEL
    capabilities = Capabilities(buttons=True, max_text=16_000, markup=None, inline=True)

    def decode(self, raw: Line) -> Incoming:
        """A typed line (``#N`` presses button N of the last reply) or the chat's start."""
        given = (
            Input(start=True, payload=raw.payload)
            if raw.start
            else to_input(raw.text, list(raw.buttons))
        )
        return Incoming(CHANNEL, raw.message_id, raw.user, given, raw.language)


def _build(settings: Settings, services: Services) -> TerminalChannel:
    del settings, services  # nothing to configure
    return TerminalChannel()


FACTORY = ChannelFactory(CHANNEL, inline=True, build=_build)
CHAT = TerminalChannel()

#: Said when the database cannot be reached: the line typed was not kept.
UNAVAILABLE = (
    "抱歉，系统暂时连不上数据库，刚才这句没有收下，请过一会儿再发一次。"
    "\n(The database is unreachable; that line was not kept. Please send it again shortly.)"
)


def run(
    conversations: Conversations,
    *,
    user: str,
    language: str,
    payload: str | None = None,
    read: Callable[[], str] = input,
    out: TextIO = sys.stdout,
    poll_seconds: float | None = POLL_SECONDS,
) -> None:
    """Chat until end of input (Ctrl-D) or ``/quit``.

    Notices for ``user`` are printed as they arrive; ``poll_seconds=None`` looks for them
    only when the chat opens and after each line.
    """
    ids = (f"{user}-{n}" for n in itertools.count())
    session_tag = f"{id(out):x}"
    printing = threading.Lock()  # the watcher thread prints too

    def print_notice(text: str) -> None:
        with printing:
            out.write(f"\n{text}\n")
            out.flush()

    notices = Notices(conversations, user, print_notice)

    def send(line: str, *, start: bool = False) -> list[tuple[str, str]]:
        typed = Line(
            f"{session_tag}-{next(ids)}", user, line, tuple(buttons), language, start, payload
        )
        message = CHAT.decode(typed)
        try:
            replies = conversations.receive(message).replies
        except StorageUnavailable:  # nothing was kept: say so, and keep the chat open
            print_notice(UNAVAILABLE)
            return buttons
        with printing:
            shown = show(replies, out) or buttons
        notices.deliver()
        return shown

    buttons: list[tuple[str, str]] = []
    buttons = send("", start=True)
    out.write("\n（输入 #数字 点按钮，/quit 退出 · type #N to press a button, /quit to leave）\n")
    stop = threading.Event()
    watcher = threading.Thread(target=notices.watch, args=(stop, poll_seconds or 0), daemon=True)
    if poll_seconds is not None:
        watcher.start()
    try:
        while True:
            try:
                line = read()
            except EOFError:
                break
            if line.strip() in {"/quit", "/exit"}:
                break
            # An empty line is sent too: the bot asks its question again.
            buttons = send(line)
    finally:
        stop.set()
        if watcher.is_alive():  # let a look under way finish before the chat is gone
            watcher.join(timeout=10)
