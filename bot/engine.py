"""The dialog engine: ``(session, input, context) -> (session', events)``, with no I/O.

Sessions are plain JSON-able data; the caller stores them, performs the effects and
renders the replies. Global words work at every step: 返回 (back), 重新开始 (restart),
帮助 (help), 人工 / 转人工 / 打电话给我 (ask a cadre to call back) and 菜单 (menu); the words
are data (``locales/*/intents.yaml``). Buttons carry their step id, so a stale or
double-tapped button never answers a later question; an empty message gets the question
asked again. A number read with some guessing ("四万多", "一个月500", "2.5" as a year's
income) is confirmed before it is stored: the session keeps it as ``pending`` until the
person says 对 or 不对 (:mod:`bot.understanding`).

Nothing in progress is dropped silently: a /start (a poster scanned again, the terminal
chat restarted) or an idle timeout in the middle of an application goes to the menu with
the application kept there, and the menu asks 继续上次的申请 / 重新开始 first; 菜单 and
返回 out of it show the menu with 继续上次的申请 on top, as a saved draft is shown. Only
重新开始 said in so many words lets the work go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot import answering, understanding
from bot.asking import CONFIRM_NO, CONFIRM_YES, GLOBAL_PREFIX, confirm_reply, render_step
from bot.flow import (
    UNFINISHED,
    Answers,
    Await,
    Context,
    Dialog,
    EndDialog,
    Event,
    Goto,
    Input,
    Reply,
    StartDialog,
    Step,
    Text,
    Transition,
)
from bot.parsing import clean
from bot.state import MENU, Session, copy_session, unfinished
from locales.intents import COMMANDS, Intents, default_intents

#: The menu's step of choices (its first step asks about unfinished work, when there is).
MENU_CHOICES = "choose"
WELCOME_BACK_AFTER = timedelta(hours=1)
#: Commands that open a dialog from anywhere and come back to where the person was
#: (a channel may offer them as ``g:status`` buttons or map its own commands onto them).
SHORTCUTS = {"human": "callback", "status": "status", "language": "language", "mine": "mine"}
#: Intents typed at any step: the commands, and 我的申请 (the person's own applications).
TYPED_COMMANDS = (*COMMANDS, "mine")


@dataclass(frozen=True)
class Sprint:
    """The engine's answer: the new session and what to say and do."""

    session: Session
    events: tuple[Event, ...]


class Engine:
    """Walks declared dialogs. Holds the registry and the intent words; every call is pure."""

    def __init__(self, dialogs: Mapping[str, Dialog], intents: Intents | None = None) -> None:
        if MENU not in dialogs:
            raise ValueError("the dialogs must include the menu")
        self.dialogs = dict(dialogs)
        self.intents = intents or default_intents()

    def resume(self, session: Session | None, given: Input, context: Context) -> Sprint:
        """Advance ``session`` (``None`` for a first contact) by one input."""
        run = _Run(self, context)
        if session is None:
            run.say(Text("welcome"))
            state = Session(language=context.language)
            entry = self._entry(state, given, context)  # a first contact by a deep link
            if entry is not None:
                state = run.open(state, *entry)
            else:
                state = self._first_words(run, state, given) or run.enter(state, MENU)
        else:
            state = copy_session(session)
            idle = _idle(state, context.now)
            if idle is not None and idle > context.session_ttl:
                state = self._expired(run, state)
            else:
                if idle is not None and idle > WELCOME_BACK_AFTER and state.dialog != MENU:
                    run.say(Text("session.welcome_back"))
                state = self._handle(run, state, given)
        state.updated_at = context.now.isoformat()
        return Sprint(state, tuple(run.events))

    def _first_words(self, run: _Run, state: Session, given: Input) -> Session | None:
        """A first message the menu understands goes straight there, after the welcome.

        Someone whose first words are a helper's link code, a tracking code, "我要投诉" or
        a menu choice ("申请") gets that, not a menu asking what they already said;
        anything else (你好) is answered by the menu, without a "not understood". A bare
        number ("1") picks nothing: the person has not seen the numbered choices yet.
        """
        if given.start or given.data is not None:
            return None
        if not any(ch.isalpha() for ch in clean(given.text)):
            return None
        menu = self.dialogs[MENU]
        step = menu.first({}, run.context)
        if step is None:
            return None
        state.dialog, state.step, state.answers = MENU, step.id, {}
        understood = understanding.interpret(
            step, understanding.chosen(step, given, self.intents), self.intents
        )
        if not isinstance(understood, understanding.Check | Text):
            result = answering.read(step, understood, state.answers, run.context)
            if not isinstance(result, Text):
                return self._store(run, state, menu, step, result)
        if step.fallback is None:
            return None
        rescue = step.fallback(clean(given.text), state.answers, run.context)
        if isinstance(rescue, Text):  # a mistyped code: explained, as at the menu
            run.say(rescue)
        if rescue is None or isinstance(rescue, Text):
            return None
        return run.advance(state, menu, step, rescue)

    def _expired(self, run: _Run, state: Session) -> Session:
        """Idle past the session's life: start from the menu, offering unfinished work back."""
        kept = unfinished(self.dialogs, state)
        run.say(Text("session.expired" if kept is None else "session.expired_kept"))
        return run.to_menu(state, offer=True)

    def _handle(self, run: _Run, state: Session, given: Input) -> Session:
        entry = self._entry(state, given, run.context)
        if entry is not None:
            return run.open(state, *entry)
        if given.start:
            return run.to_menu(state, offer=True)
        dialog = self.dialogs.get(state.dialog)
        if dialog is None or not dialog.has_step(state.step):
            # A session stored before its dialog changed: start again from the menu.
            return run.enter(Session(language=state.language), MENU)
        step = dialog.step(state.step)
        if state.pending is not None and state.pending.get("step") != step.id:
            state.pending = None
        given = understanding.chosen(step, given, self.intents)
        command = self._command_of(given)
        if command is not None:
            return self._command(run, state, command)
        if state.pending is not None:
            return self._confirming(run, state, dialog, step, given)
        return self._answer(run, state, dialog, step, given)

    def _answer(
        self, run: _Run, state: Session, dialog: Dialog, step: Step, given: Input
    ) -> Session:
        """Read ``given`` as the answer to ``step``: store it, confirm a guess, or ask again."""
        if given.data is not None and _stale(step, given.data):
            run.say(Text("error.stale_button"))
            return run.prompt(state)
        if given.data is None and not clean(given.text):
            # An empty line (or only spaces) is not a wrong answer: ask the question again.
            run.say(Text("error.empty"))
            return run.prompt(state)
        understood = understanding.interpret(step, given, self.intents)
        if isinstance(understood, understanding.Check):
            pending = understood.pending(step)
            checked = answering.read(step, Input(text=pending["value"]), state.answers, run.context)
            if isinstance(checked, Text):  # out of bounds: say so rather than confirm it
                return self._store(run, state, dialog, step, checked)
            state.pending = pending
            return run.prompt(state)
        result = (
            understood
            if isinstance(understood, Text)
            else answering.read(step, understood, state.answers, run.context)
        )
        if isinstance(result, Text) and step.fallback and given.data is None:
            rescue = step.fallback(clean(given.text), state.answers, run.context)
            if isinstance(rescue, Text):
                result = rescue
            elif rescue is not None:
                return run.advance(state, dialog, step, rescue)
        return self._store(run, state, dialog, step, result)

    def _confirming(
        self, run: _Run, state: Session, dialog: Dialog, step: Step, given: Input
    ) -> Session:
        """The answer to "大约 40,000 元，对吗？".

        对 stores the number, 不对 asks the question again, and anything else is read as a
        fresh answer (a new number typed instead of pressing 不对).
        """
        pending, state.pending = state.pending or {}, None
        said = understanding.confirmation(step, given, self.intents)
        if said is None:
            return self._answer(run, state, dialog, step, given)
        if not said:
            if pending.get("ask") == "confirm.wan":  # not 万: say how to write plain yuan
                run.say(Text("confirm.again_yuan", {"number": pending.get("typed", "")}))
            else:
                run.say(Text("confirm.again"))
            return run.prompt(state)
        result = answering.read(
            step, Input(text=str(pending.get("value", ""))), state.answers, run.context
        )
        return self._store(run, state, dialog, step, result)

    def _store(self, run: _Run, state: Session, dialog: Dialog, step: Step, result: Any) -> Session:
        """Keep a valid answer and move on; explain an invalid one and ask again."""
        if isinstance(result, Text):
            state.invalid += 1
            run.say(result)
            if state.invalid >= 3:
                run.say(Text("error.need_help"))
            return run.prompt(state)
        state.invalid = 0
        state.answers[step.key] = result
        transition = step.after(result, state.answers, run.context) if step.after else None
        return run.advance(state, dialog, step, transition)

    def _entry(self, state: Session, given: Input, context: Context) -> tuple[Dialog, str] | None:
        """The dialog a start payload or an earlier button opens, with the rest of it.

        A button the dialog's first step offers, pressed while that step is asked, is an
        ordinary answer.
        """
        raw = given.payload if given.start else given.data
        for dialog in self.dialogs.values():
            entry = dialog.entry
            if entry is None or not raw or not raw.startswith(entry.prefix):
                continue
            if (entry.via == "start") != given.start:
                continue
            rest = raw[len(entry.prefix) :]
            first = dialog.steps[0]
            if not given.start and state.dialog == dialog.id and state.step == first.id:
                offered = {c.value for c in first.options(state.answers, context)}
                if rest in offered:
                    return None
            return dialog, rest
        return None

    def _command_of(self, given: Input) -> str | None:
        if given.data is not None:
            if given.data.startswith(GLOBAL_PREFIX):
                return given.data[len(GLOBAL_PREFIX) :] or None
            return None
        return self.intents.match(clean(given.text), TYPED_COMMANDS)

    def _command(self, run: _Run, state: Session, command: str) -> Session:
        if state.pending is not None and command != "help":
            state.pending = None
            if command == "back":  # 返回 while confirming: ask the question itself again
                return run.prompt(state)
        if command == "help":
            step = self.dialogs[state.dialog].step(state.step)
            run.say(Text(step.help or "help.general"))
            return run.prompt(state)
        if command == "back":
            return run.back(state)
        shortcut = SHORTCUTS.get(command)
        if shortcut is not None:
            if state.dialog == shortcut:
                return run.prompt(state)
            return run.start(state, StartDialog(shortcut, suspend=True))
        if command == "restart":  # said in so many words: the unfinished work goes
            run.say(Text("restart.done"))
            return run.enter(Session(language=state.language), MENU)
        run.say(Text("menu.back"))
        return run.to_menu(state, offer=False)


class _Run:
    """One engine call's scratch space: the events said so far."""

    def __init__(self, engine: Engine, context: Context) -> None:
        self.engine = engine
        self.context = context
        self.events: list[Event] = []

    def say(self, text: Text) -> None:
        self.events.append(Reply((text,)))

    def enter(
        self,
        state: Session,
        dialog_id: str,
        answers: Answers | None = None,
        step_id: str | None = None,
        history: Iterable[str] = (),
    ) -> Session:
        """Start ``dialog_id`` in ``state`` and ask its first question (or ``step_id``)."""
        dialog = self.engine.dialogs[dialog_id]
        state.dialog, state.answers = dialog_id, dict(answers or {})
        state.history = list(history)
        state.editing, state.invalid, state.pending = False, 0, None
        step = dialog.step(step_id) if step_id else dialog.first(state.answers, self.context)
        if step is None:
            return self.finish(state, dialog.finish(state.answers, self.context))
        state.step = step.id
        return self.prompt(state)

    def prompt(self, state: Session) -> Session:
        """Ask the current step's question with its buttons."""
        dialog = self.engine.dialogs[state.dialog]
        step = dialog.step(state.step)
        if state.pending is not None and state.pending.get("step") == step.id:
            self.events.append(confirm_reply(step, state.pending))
            return state
        in_menu = state.dialog == MENU
        self.events.append(render_step(step, state.answers, self.context, in_menu=in_menu))
        return state

    def advance(
        self, state: Session, dialog: Dialog, step: Step, transition: Transition | None
    ) -> Session:
        """Move on after a valid answer."""
        if isinstance(transition, Await):
            self.events.extend(transition.effects)
            return state
        if isinstance(transition, EndDialog):
            return self.finish(state, transition)
        if isinstance(transition, StartDialog):
            return self.start(state, transition)
        state.history.append(step.id)
        if isinstance(transition, Goto):
            state.editing = state.editing or transition.editing
            state.step = transition.step
            return self.prompt(state)
        following = self._following(state, dialog, step)
        if following is None:
            return self.finish(state, dialog.finish(state.answers, self.context))
        state.step = following.id
        return self.prompt(state)

    def _following(self, state: Session, dialog: Dialog, step: Step) -> Step | None:
        """The next step; while editing, the next *unanswered* one or the summary."""
        candidate = dialog.after(step.id, state.answers, self.context)
        if not state.editing:
            return candidate
        while candidate is not None and candidate.key in state.answers and not candidate.review:
            candidate = dialog.after(candidate.id, state.answers, self.context)
        if candidate is not None and candidate.review:
            state.editing = False
        return candidate

    def start(self, state: Session, transition: StartDialog) -> Session:
        """Leave for another dialog, keeping this one to come back to when suspending."""
        if transition.suspend:
            state.stack.append(
                {
                    "dialog": state.dialog,
                    "step": state.step,
                    "answers": state.answers,
                    "history": state.history,
                }
            )
        return self.enter(
            state, transition.dialog, transition.answers, transition.step, transition.history
        )

    def finish(self, state: Session, end: EndDialog) -> Session:
        """Close the dialog: effects, a closing text, then the suspended dialog or the menu."""
        if end.language:
            state.language = end.language
        if end.context_updates:
            self.context = replace(self.context, **end.context_updates)
        self.events.extend(end.effects)
        if end.message is not None:
            self.say(end.message)
        if state.stack:
            frame = state.stack.pop()
            state.dialog, state.step, state.pending = frame["dialog"], frame["step"], None
            state.answers, state.history = dict(frame["answers"]), list(frame["history"])
            return self.prompt(state)
        return self.enter(Session(language=state.language), MENU)

    def open(self, state: Session, dialog: Dialog, rest: str) -> Session:
        """Into ``dialog`` by its :class:`~bot.flow.Entry`; the dialog the person was in
        (other than the menu) waits on the stack, as for 人工."""
        assert dialog.entry is not None
        if state.dialog not in (MENU, dialog.id):
            state.stack.append(
                {"dialog": state.dialog, "step": state.step, "answers": state.answers,
                 "history": state.history}
            )  # fmt: skip
        state.dialog, state.step, state.answers, state.history = dialog.id, "", {}, []
        state.editing, state.invalid, state.pending = False, 0, None
        first = dialog.steps[0]
        state.step = first.id
        transition = dialog.entry.open(rest, state.answers, self.context)
        if isinstance(transition, Goto):
            state.step = transition.step
            return self.prompt(state)
        return self.advance(state, dialog, first, transition)

    def back(self, state: Session) -> Session:
        """One step back; from a dialog's first step, out to where we came from."""
        state.invalid, state.pending = 0, None
        if state.history:
            state.step = state.history.pop()
            return self.prompt(state)
        if state.stack:
            return self.finish(state, EndDialog())
        if state.dialog != MENU:
            return self.to_menu(state, offer=False)
        return self.prompt(state)

    def to_menu(self, state: Session, *, offer: bool) -> Session:
        """Go to the menu, keeping unfinished work in it: nothing in progress is dropped.

        With ``offer`` (a /start, a poster scanned again, an idle timeout) the menu first
        asks 继续上次的申请 / 重新开始; without (菜单, 返回 out of a dialog) it shows its
        choices with 继续上次的申请 on top, the way a saved draft is offered.
        """
        kept = unfinished(self.engine.dialogs, state)
        fresh = Session(language=state.language)
        if kept is None:
            return self.enter(fresh, MENU)
        return self.enter(fresh, MENU, {UNFINISHED: kept}, None if offer else MENU_CHOICES)


def _stale(step: Step, data: str) -> bool:
    """A button of another step, or the 对 of a confirmation no longer asked."""
    mine, value = data.startswith(f"{step.id}:"), data[len(step.id) + 1 :]
    return not mine or value in (CONFIRM_YES, CONFIRM_NO)


def _idle(session: Session, now: datetime) -> timedelta | None:
    if not session.updated_at:
        return None
    try:
        return now - datetime.fromisoformat(session.updated_at)
    except (TypeError, ValueError):
        return None


__all__ = [
    "GLOBAL_PREFIX",
    "MENU",
    "SHORTCUTS",
    "WELCOME_BACK_AFTER",
    "Engine",
    "Input",
    "Session",
    "Sprint",
]
