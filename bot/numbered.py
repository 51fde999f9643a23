"""Numbered choices: on a channel without buttons, a bare "2" presses the second choice.

WeChat's passive replies and SMS cannot carry buttons, so their channels show a reply's
choices as numbered lines (:func:`bot.channels.base.numbered`). The number typed back is
read against the buttons of the last reply this person was sent on that channel, which
the inbound store keeps with every answered message.

A number is a choice only where the question is one: at a choice step, or while a guessed
number waits for 对 / 不对. Where the answer is typed (an amount, a name, a phone) the
shortcuts are lettered instead (``A. 没有欠债``), so "1" stays one yuan and "A" presses
the shortcut: :func:`mark` flags those replies ``free_answer``.
"""

from __future__ import annotations

from dataclasses import replace
from unicodedata import normalize

from sqlmodel import Session, col, select

from bot import inbound
from bot.engine import Engine
from bot.flow import Input, Kind
from bot.parsing import press_number
from bot.render import Rendered
from bot.state import Session as DialogState


def resolve(
    db: Session,
    row: inbound.InboundMessage,
    given: Input,
    state: DialogState | None,
    engine: Engine,
) -> Input:
    """``given``, or the pressed choice when it is a choice's number at a choice question."""
    if given.data is not None or given.start or state is None:
        return given
    number = letter_number(given.text)
    if number is None:
        number = press_number(given.text)
        if number is None or not asks_a_choice(state, engine):
            return given
    buttons = last_buttons(db, row)
    if not 1 <= number <= len(buttons):
        return given
    return Input(data=buttons[number - 1])


def mark(replies: list[Rendered], state: DialogState, engine: Engine) -> list[Rendered]:
    """``replies`` with the question's shortcuts flagged ``free_answer`` where the answer
    is typed, so they are lettered rather than numbered."""
    if asks_a_choice(state, engine):
        return replies
    return [replace(r, free_answer=True) if r.buttons else r for r in replies]


def letter_number(text: str) -> int | None:
    """``"A"`` / ``"ｂ"`` as 1 / 2 (a lettered shortcut), or ``None``."""
    folded = normalize("NFKC", text).strip().upper()
    if len(folded) == 1 and "A" <= folded <= "Z":
        return ord(folded) - ord("A") + 1
    return None


def last_buttons(db: Session, row: inbound.InboundMessage) -> list[str]:
    """The data of the buttons under the last reply sent before ``row``, oldest first."""
    Row = inbound.InboundMessage
    query = select(Row).where(
        Row.channel == row.channel,
        Row.sender == row.sender,
        Row.status == inbound.InboundStatus.PROCESSED,
    )
    if row.id is not None:
        query = query.where(col(Row.id) < row.id)
    before = db.exec(query.order_by(col(Row.id).desc()).limit(1)).first()
    for reply in reversed((before.replies or []) if before else []):
        buttons = reply.get("buttons") or []
        if buttons:
            return [str(button["data"]) for button in buttons]
    return []


def asks_a_choice(state: DialogState, engine: Engine) -> bool:
    """Whether the question now asked is answered by a choice (or 对 / 不对)."""
    if state.pending is not None:
        return True
    dialog = engine.dialogs.get(state.dialog)
    if dialog is None or not dialog.has_step(state.step):
        return False
    return dialog.step(state.step).kind is Kind.CHOICE
