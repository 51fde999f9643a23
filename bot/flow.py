"""The vocabulary dialogs are declared in: steps, choices, transitions, texts, events.

A dialog is data: an ordered tuple of :class:`Step`, each asked when its ``when`` holds.
The engine (:mod:`bot.engine`) walks it; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeAlias

Answers: TypeAlias = dict[str, Any]


@dataclass(frozen=True)
class Input:
    """What arrived: typed text, a pressed button's data, or a start with a payload."""

    text: str = ""
    data: str | None = None
    start: bool = False
    payload: str | None = None


@dataclass(frozen=True)
class Text:
    """A message id with its parameters; parameters may themselves be texts."""

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Button:
    """A button: what it says and the data it sends back (≤ 64 bytes)."""

    label: Text | str
    data: str


@dataclass(frozen=True)
class Reply:
    """One message to the person: lines of text and, maybe, buttons."""

    parts: tuple[Text | str, ...]
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class Effect:
    """Something the caller must do: record an application, look up a status…"""

    name: str
    data: Mapping[str, Any] = field(default_factory=dict)


Event: TypeAlias = Reply | Effect


class Kind(StrEnum):
    """How a step's answer is typed and checked."""

    CHOICE = "choice"
    NUMBER = "number"
    TEXT = "text"
    #: A person's name: letters (Chinese, Latin…), "·" and spaces; no digits or emoji.
    NAME = "name"
    ID_NUMBER = "id_number"
    PHONE = "phone"
    TRACKING_CODE = "tracking_code"


@dataclass(frozen=True)
class Village:
    """A village the person can pick, with its township (for grouping the buttons)."""

    code: str
    name: str
    township_code: str
    township_name: str


@dataclass(frozen=True)
class Context:
    """What the engine may know of the world, handed in by the caller (no lookups)."""

    now: datetime
    villages: tuple[Village, ...] = ()
    session_ttl: timedelta = timedelta(days=3)
    draft: Answers | None = None
    known_village: str | None = None
    #: The language a brand-new session starts in (the contact's).
    language: str = "zh_CN"
    #: The chat is linked to a helper (帮扶责任人): the menu offers 记录走访.
    helper: bool = False

    def village(self, code: str | None) -> Village | None:
        """The village with ``code``, if listed."""
        return next((v for v in self.villages if v.code == code), None)


@dataclass(frozen=True)
class Choice:
    """One button of a choice step; ``store`` is what lands in the answers."""

    value: str
    label: str
    store: Any = None
    #: The label is a name to show as it is (a village), not a message id.
    literal: bool = False
    #: Typed words of this intent (``locales/*/intents.yaml``) choose this button:
    #: ``"no"`` for 没/没有/不是, ``"relation.child"`` for 儿子/闺女.
    intent: str | None = None

    @property
    def text(self) -> Text | str:
        """The label as the renderer takes it."""
        return self.label if self.literal else Text(self.label)

    @property
    def stored(self) -> Any:
        """The answer value this choice records."""
        return self.value if self.store is None else self.store


@dataclass(frozen=True)
class Goto:
    """Jump to a step of the same dialog; ``editing`` returns to the review step after."""

    step: str
    editing: bool = False


@dataclass(frozen=True)
class StartDialog:
    """Leave this dialog for another one, optionally with answers and a first step."""

    dialog: str
    answers: Answers = field(default_factory=dict)
    step: str | None = None
    suspend: bool = False
    #: The steps already answered, when coming back to unfinished work (返回 then works).
    history: tuple[str, ...] = ()


@dataclass(frozen=True)
class EndDialog:
    """Finish the dialog: emit effects, say a closing text, go back to the menu."""

    effects: tuple[Effect, ...] = ()
    message: Text | None = None
    language: str | None = None
    #: What the effects change in the world the menu is drawn from (e.g. a draft saved).
    context_updates: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Await:
    """Stay put and let the effects decide: their handler looks something up (a link code,
    a helper's households), puts the person at their next step and asks it. The engine
    says nothing more in this turn."""

    effects: tuple[Effect, ...]


Transition: TypeAlias = Goto | StartDialog | EndDialog | Await
#: The menu's answer key holding unfinished work (a dialog's step, answers and history)
#: the person left for the menu: a /start, a poster scanned again, an idle timeout.
UNFINISHED = "unfinished"
#: Per unit of a number step: the hint shown with the question and the examples given when
#: an answer cannot be read. Every number step's unit must be listed here.
NUMBER_UNITS: Mapping[str, tuple[str, str]] = {
    "unit.yuan": ("hint.yuan", "example.yuan"),
    "unit.percent": ("hint.percent", "example.percent"),
    "unit.months": ("hint.months", "example.months"),
    "unit.people": ("hint.people", "example.people"),
    "unit.day": ("hint.day", "example.day"),
}
#: Runs after a valid answer; ``None`` means "go on to the next step".
After: TypeAlias = Callable[[Any, Answers, Context], Transition | None]
When: TypeAlias = Callable[[Answers, Context], bool]
ChoicesFor: TypeAlias = Callable[[Answers, Context], tuple[Choice, ...]]
PromptParams: TypeAlias = Callable[[Answers, Context], Mapping[str, Any]]


def always(_answers: Answers, _context: Context) -> bool:
    """The default ``when``: ask the step."""
    return True


@dataclass(frozen=True)
class Step:
    """One question. Every text is a message id in ``locales``."""

    id: str
    prompt: str
    kind: Kind = Kind.CHOICE
    field: str | None = None
    choices: tuple[Choice, ...] = ()
    choices_for: ChoicesFor | None = None
    when: When = always
    after: After | None = None
    help: str | None = None
    prompt_params: PromptParams | None = None
    #: Number steps: unit shown with the prompt (a key of :data:`NUMBER_UNITS`), range, and
    #: whether "不清楚" is offered.
    unit: str | None = None
    minimum: float = 0
    maximum: float = 100_000_000
    integer: bool = False
    unknown_allowed: bool = False
    #: Stored value = typed number × scale (a percentage typed, a ratio stored).
    scale: float = 1.0
    #: Yuan steps: an amount a year, so "一个月500" is read as 6,000 and confirmed.
    per_year: bool = False
    #: A smaller number typed without a unit is implausible here ("2.5" as a year's income)
    #: and is asked back as 万 ("是 2.5 万元吗？").
    implausible_below: float = 0
    quick: tuple[Choice, ...] = ()
    #: Text and name steps: length bounds and whether a "skip" button is offered.
    min_length: int = 1
    max_length: int = 200
    skippable: bool = False
    #: Shown in the summary under this label; sensitive values are masked there.
    summary: str | None = None
    sensitive: bool = False
    #: The review step (summary): an edit made from it comes back to it.
    review: bool = False
    #: Typed text no choice matches goes here before the step asks again; it may move on
    #: (a transition), explain what was wrong (a text) or pass (``None``).
    fallback: Callable[[str, Answers, Context], Transition | Text | None] | None = None

    @property
    def key(self) -> str:
        """Where the answer is stored."""
        return self.field or self.id

    def options(self, answers: Answers, context: Context) -> tuple[Choice, ...]:
        """The choices on offer now (static or computed from the answers)."""
        if self.choices_for is not None:
            return self.choices_for(answers, context)
        return self.choices


@dataclass(frozen=True)
class Entry:
    """A way into a dialog from wherever the person is: a ``/start`` payload
    (``via="start"``: ``h_<code>``) or a button sent earlier (``via="button"``: a
    reminder's ``visit:<id>``), both starting with ``prefix``. ``open`` gets the rest."""

    prefix: str
    via: str
    open: Callable[[str, Answers, Context], Transition]


@dataclass(frozen=True)
class Dialog:
    """A named conversation: its steps and what happens when the last one is answered."""

    id: str
    steps: tuple[Step, ...]
    finish: Callable[[Answers, Context], EndDialog]
    #: Work in this dialog is kept when the person leaves it for the menu, and offered
    #: back (继续上次的申请 / 重新开始): an application takes ten minutes to fill in.
    resumable: bool = False
    #: How the dialog is opened from anywhere, besides the menu (see :class:`Entry`).
    entry: Entry | None = None

    def step(self, step_id: str) -> Step:
        """The step called ``step_id``."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(f"{self.id} has no step {step_id!r}")

    def has_step(self, step_id: str) -> bool:
        """Whether a step is called ``step_id`` (a stored session may predate a change)."""
        return any(step.id == step_id for step in self.steps)

    def first(self, answers: Answers, context: Context) -> Step | None:
        """The first step that applies."""
        return self.after(None, answers, context)

    def after(self, step_id: str | None, answers: Answers, context: Context) -> Step | None:
        """The next step after ``step_id`` (or the first) whose ``when`` holds."""
        started = step_id is None
        for step in self.steps:
            if started and step.when(answers, context):
                return step
            if step.id == step_id:
                started = True
        return None
