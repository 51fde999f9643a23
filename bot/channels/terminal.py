"""``hotline chat``: the conversation in a terminal, for trying the dialogs and for demos.

Type answers as a villager would; ``#2`` presses the second button shown. Every line
goes through the same conversation service (and database) as the real channels.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterable
from typing import TextIO

from bot.conversation import Conversations, Incoming
from bot.engine import Input
from bot.parsing import press_number
from bot.render import Rendered

CHANNEL = "terminal"


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


def to_input(line: str, buttons: list[tuple[str, str]]) -> Input:
    """``#N`` presses button N (also ``＃N`` and ``# N``); anything else is typed text."""
    pressed = press_number(line, hash_required=True)
    if pressed is not None and 1 <= pressed <= len(buttons):
        return Input(data=buttons[pressed - 1][1])
    return Input(text=line)


def run(
    conversations: Conversations,
    *,
    user: str,
    language: str,
    payload: str | None = None,
    read: Callable[[], str] = input,
    out: TextIO = sys.stdout,
) -> None:
    """Chat until end of input (Ctrl-D) or ``/quit``."""
    ids = (f"{user}-{n}" for n in itertools.count())
    session_tag = f"{id(out):x}"

    def send(given: Input) -> list[tuple[str, str]]:
        message = Incoming(CHANNEL, f"{session_tag}-{next(ids)}", user, given, language)
        return show(conversations.receive(message).replies, out) or buttons

    buttons: list[tuple[str, str]] = []
    buttons = send(Input(start=True, payload=payload))
    out.write("\n（输入 #数字 点按钮，/quit 退出 · type #N to press a button, /quit to leave）\n")
    while True:
        try:
            line = read()
        except EOFError:
            break
        if line.strip() in {"/quit", "/exit"}:
            break
        # An empty line is sent too: the bot asks its question again.
        buttons = send(to_input(line, buttons))
