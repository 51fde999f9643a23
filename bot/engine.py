"""The dialog engine: ``(session, input, context) -> (session', events)``, with no I/O.

Sessions are plain JSON-able data; the caller stores them, performs the effects and
renders the replies. Global words work at every step: 返回 (back), 重新开始 (restart),
帮助 (help), 人工 (ask a cadre to call back) and 菜单 (menu). Buttons carry their step id,
so a stale or double-tapped button never answers a later question; an empty message gets
the question asked again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot import answering
from bot.flow import (
    NUMBER_UNITS,
    Answers,
    Button,
    Context,
    Dialog,
    EndDialog,
    Event,
    Goto,
    Kind,
    Reply,
    StartDialog,
    Step,
    Text,
    Transition,
)
from bot.parsing import clean, command_of

MENU = "menu"
WELCOME_BACK_AFTER = timedelta(hours=1)
GLOBAL_PREFIX = "g:"
#: Commands that open a dialog from anywhere and come back to where the person was
#: (a channel may offer them as ``g:status`` buttons or map its own commands onto them).
SHORTCUTS = {"human": "callback", "status": "status", "language": "language"}


@dataclass(frozen=True)
class Input:
    """What arrived: typed text, a pressed button's data, or a start with a payload."""

    text: str = ""
    data: str | None = None
    start: bool = False
    payload: str | None = None


@dataclass
class Session:
    """Where one person stands: dialog, step, answers so far, and the way back."""

    dialog: str = MENU
    step: str = ""
    answers: Answers = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    language: str = "zh_CN"
    editing: bool = False
    invalid: int = 0
    stack: list[dict[str, Any]] = field(default_factory=list)
    updated_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "dialog": self.dialog,
            "step": self.step,
            "answers": self.answers,
            "history": self.history,
            "language": self.language,
            "editing": self.editing,
            "invalid": self.invalid,
            "stack": self.stack,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Session:
        """Rebuild from :meth:`to_json` output."""
        return cls(
            dialog=str(data.get("dialog", MENU)),
            step=str(data.get("step", "")),
            answers=dict(data.get("answers", {})),
            history=list(data.get("history", [])),
            language=str(data.get("language", "zh_CN")),
            editing=bool(data.get("editing", False)),
            invalid=int(data.get("invalid", 0)),
            stack=list(data.get("stack", [])),
            updated_at=data.get("updated_at"),
        )


@dataclass(frozen=True)
class Sprint:
    """The engine's answer: the new session and what to say and do."""

    session: Session
    events: tuple[Event, ...]


class Engine:
    """Walks declared dialogs. Holds only the registry; every call is pure."""

    def __init__(self, dialogs: Mapping[str, Dialog]) -> None:
        if MENU not in dialogs:
            raise ValueError("the dialogs must include the menu")
        self.dialogs = dict(dialogs)

    def resume(self, session: Session | None, given: Input, context: Context) -> Sprint:
        """Advance ``session`` (``None`` for a first contact) by one input."""
        run = _Run(self, context)
        state = self._arrive(run, session, context)
        if state is None:
            state = run.enter(
                Session(language=session.language if session else context.language), MENU
            )
        else:
            state = self._handle(run, state, given)
        state.updated_at = context.now.isoformat()
        return Sprint(state, tuple(run.events))

    def _arrive(self, run: _Run, session: Session | None, context: Context) -> Session | None:
        """Check the session is alive; greet a new or returning person."""
        if session is None:
            run.say(Text("welcome"))
            return None
        idle = _idle(session, context.now)
        if idle is not None and idle > context.session_ttl:
            run.say(Text("session.expired"))
            return None
        if idle is not None and idle > WELCOME_BACK_AFTER and session.dialog != MENU:
            run.say(Text("session.welcome_back"))
        return replace(session, answers=dict(session.answers), history=list(session.history))

    def _handle(self, run: _Run, state: Session, given: Input) -> Session:
        if given.start:
            return run.enter(Session(language=state.language), MENU)
        command = _command(given)
        if command is not None:
            return self._command(run, state, command)
        dialog = self.dialogs.get(state.dialog)
        if dialog is None or not state.step:
            return run.enter(Session(language=state.language), MENU)
        step = dialog.step(state.step)
        if given.data is not None and not given.data.startswith(f"{step.id}:"):
            run.say(Text("error.stale_button"))
            return run.prompt(state)
        if given.data is None and not clean(given.text):
            # An empty line (or only spaces) is not a wrong answer: ask the question again.
            run.say(Text("error.empty"))
            return run.prompt(state)
        result = answering.read(step, given, state.answers, run.context)
        if isinstance(result, Text) and step.fallback and given.data is None:
            rescue = step.fallback(clean(given.text), state.answers, run.context)
            if isinstance(rescue, Text):
                result = rescue
            elif rescue is not None:
                return run.advance(state, dialog, step, rescue)
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

    def _command(self, run: _Run, state: Session, command: str) -> Session:
        if command == "help":
            dialog = self.dialogs.get(state.dialog)
            step = dialog.step(state.step) if dialog and state.step else None
            run.say(Text(step.help if step and step.help else "help.general"))
            return run.prompt(state)
        if command == "back":
            return run.back(state)
        shortcut = SHORTCUTS.get(command)
        if shortcut is not None:
            if state.dialog == shortcut:
                return run.prompt(state)
            return run.start(state, StartDialog(shortcut, suspend=True))
        run.say(Text("restart.done" if command == "restart" else "menu.back"))
        return run.enter(Session(language=state.language), MENU)


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
    ) -> Session:
        """Start ``dialog_id`` in ``state`` and ask its first question."""
        dialog = self.engine.dialogs[dialog_id]
        state.dialog, state.answers, state.history = dialog_id, dict(answers or {}), []
        state.editing, state.invalid = False, 0
        step = dialog.step(step_id) if step_id else dialog.first(state.answers, self.context)
        if step is None:
            return self.finish(state, dialog.finish(state.answers, self.context))
        state.step = step.id
        return self.prompt(state)

    def prompt(self, state: Session) -> Session:
        """Ask the current step's question with its buttons."""
        dialog = self.engine.dialogs[state.dialog]
        step = dialog.step(state.step)
        self.events.append(render_step(step, state, self.context))
        return state

    def advance(
        self, state: Session, dialog: Dialog, step: Step, transition: Transition | None
    ) -> Session:
        """Move on after a valid answer."""
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
        return self.enter(state, transition.dialog, transition.answers, transition.step)

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
            state.dialog, state.step = frame["dialog"], frame["step"]
            state.answers, state.history = dict(frame["answers"]), list(frame["history"])
            return self.prompt(state)
        return self.enter(Session(language=state.language), MENU)

    def back(self, state: Session) -> Session:
        """One step back; from a dialog's first step, out to where we came from."""
        state.invalid = 0
        if state.history:
            state.step = state.history.pop()
            return self.prompt(state)
        if state.stack:
            return self.finish(state, EndDialog())
        if state.dialog != MENU:
            return self.enter(Session(language=state.language), MENU)
        return self.prompt(state)


def render_step(step: Step, state: Session, context: Context) -> Reply:
    """The question of ``step`` as a reply: prompt, hints and buttons."""
    params = dict(step.prompt_params(state.answers, context)) if step.prompt_params else {}
    parts: list[Text | str] = [Text(step.prompt, params)]
    buttons: list[Button] = []
    if step.kind is Kind.CHOICE:
        buttons = [
            Button(c.text, f"{step.id}:{c.value}") for c in step.options(state.answers, context)
        ]
    else:
        unit = NUMBER_UNITS.get(step.unit or "") if step.kind is Kind.NUMBER else None
        if unit is not None:
            parts.append(Text(unit[0]))
        buttons = [Button(c.text, f"{step.id}:{c.value}") for c in step.quick]
        if step.unknown_allowed:
            buttons.append(Button(Text("common.unknown"), f"{step.id}:unknown"))
        if step.skippable:
            buttons.append(Button(Text("common.skip"), f"{step.id}:skip"))
    if state.dialog != MENU:
        buttons.append(Button(Text("common.back"), f"{GLOBAL_PREFIX}back"))
    return Reply(tuple(parts), tuple(buttons))


def _command(given: Input) -> str | None:
    if given.data is not None:
        if given.data.startswith(GLOBAL_PREFIX):
            return given.data[len(GLOBAL_PREFIX) :] or None
        return None
    return command_of(clean(given.text))


def _idle(session: Session, now: datetime) -> timedelta | None:
    if not session.updated_at:
        return None
    try:
        return now - datetime.fromisoformat(session.updated_at)
    except (TypeError, ValueError):
        return None
