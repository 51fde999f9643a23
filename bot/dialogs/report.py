"""Reporting a problem (反映问题 / 举报 / 投诉): the mailbox and the hotline, by chat.

Order: the kind (线索, 举报, 投诉, 咨询, 建议) → the village → whom or what it is about →
their name where it helps → for a household, whether the village may be told → what
happened → then anonymous or named, after saying plainly who will see what. A named
reporter gives a name and a call-back phone, may give their ID number (so they can check
the answer from another phone) and says whether we may call. The dialog ends with the
effect ``report_filed`` carrying the answers; the caller files the report
(``intake.reports``), replies with the tracking code and, for an anonymous report, scrubs
the chat's messages from ``started_at`` on.

The subjects offered per kind mirror the ``reports:`` section of the bundled policy files
(a test holds them equal); routing itself is decided by ``intake.reports.routing``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.dialogs.common import YES_NO
from bot.dialogs.self_application import _townships, _villages
from bot.flow import (
    Answers,
    Choice,
    Context,
    Dialog,
    Effect,
    EndDialog,
    Kind,
    Step,
    Text,
    Transition,
)

#: Kind → the subjects its "whom or what" question offers (first one when only one).
SUBJECTS: Mapping[str, tuple[str, ...]] = {
    "tip": ("household",),
    "report": ("household",),
    "complaint": ("cadre", "committee", "township"),
    "inquiry": ("general",),
    "suggestion": ("general",),
}
KINDS = (
    Choice("tip", "report.kind.tip", intent="kind.tip"),
    Choice("report", "report.kind.report", intent="kind.report"),
    Choice("complaint", "report.kind.complaint", intent="kind.complaint"),
    Choice("inquiry", "report.kind.inquiry", intent="kind.inquiry"),
    Choice("suggestion", "report.kind.suggestion", intent="kind.suggestion"),
)
_SUBJECT_LABELS = {
    "household": "report.subject.household",
    "cadre": "report.subject.cadre",
    "committee": "report.subject.committee",
    "township": "report.subject.township",
}
#: Below what a message may carry (:data:`bot.parsing.MAX_INPUT_CHARS`, beyond which typed
#: text is cut): a longer account is refused with the limit, never silently shortened.
MAX_TEXT = 900


def _subject(answers: Answers) -> str:
    """The subject chosen, or the kind's only one."""
    offered = SUBJECTS.get(str(answers.get("kind")), ("general",))
    return str(answers.get("subject") or offered[0])


def _kind_chosen(value: Any, answers: Answers, context: Context) -> Transition | None:
    # The menu stamps the moment the dialog opened (so the message that opened it is
    # scrubbed too); a dialog entered otherwise starts its clock here.
    answers.setdefault("started_at", context.now.isoformat())
    answers.pop("subject", None)
    return None


def _needs_township(answers: Answers, context: Context) -> bool:
    """Asked only where the villages span several townships.

    Unlike an application, a report may concern another village than the one the
    person's poster bound them to, so the place is always asked.
    """
    townships = {v.township_code for v in context.villages}
    return "village" not in answers and len(townships) > 1


def _needs_village(answers: Answers, _context: Context) -> bool:
    return "village" not in answers


def _needs_subject(answers: Answers, _context: Context) -> bool:
    return len(SUBJECTS.get(str(answers.get("kind")), ())) > 1


def _subjects(answers: Answers, _context: Context) -> tuple[Choice, ...]:
    offered = SUBJECTS.get(str(answers.get("kind")), ())
    return tuple(Choice(s, _SUBJECT_LABELS[s]) for s in offered if s in _SUBJECT_LABELS)


def _about(subject: str) -> Any:
    def when(answers: Answers, _context: Context) -> bool:
        return _subject(answers) == subject

    return when


def _who_sees(answers: Answers, _context: Context) -> Mapping[str, Any]:
    """Who will handle it, said before the reporter chooses whether to give their name."""
    subject = _subject(answers)
    if subject in ("cadre", "committee"):
        key = "report.who.township_not_village"
    elif subject == "township":
        key = "report.who.county"
    elif answers.get("village_told") is False or answers.get("kind") == "suggestion":
        key = "report.who.township"
    else:
        key = "report.who.village"
    # A question or a suggestion names no one: say who reads it instead.
    shield = "report.identity.readers" if subject == "general" else "report.identity.shield"
    return {"who": Text(key), "shield": Text(shield)}


def _what_to_write(answers: Answers, _context: Context) -> Mapping[str, Any]:
    """A question or a suggestion is not "what happened"."""
    kind = answers.get("kind")
    if kind == "inquiry":
        return {"what": Text("report.text.question")}
    if kind == "suggestion":
        return {"what": Text("report.text.suggestion")}
    return {"what": Text("report.text.account")}


def _is_named(answers: Answers, _context: Context) -> bool:
    return answers.get("identity") == "named"


def _gives_id(answers: Answers, context: Context) -> bool:
    return _is_named(answers, context) and answers.get("give_id") is True


def _finish(answers: Answers, _context: Context) -> EndDialog:
    named = answers.get("identity") == "named"
    data: dict[str, Any] = {
        "kind": answers["kind"],
        "village": answers.get("village"),
        "subject": _subject(answers),
        "subject_name": answers.get("subject_name"),
        "village_told": answers.get("village_told", True),
        "text": answers["text"],
        "anonymous": not named,
        "started_at": answers.get("started_at"),
    }
    if named:
        data |= {
            "name": answers["reporter_name"],
            "phone": answers["phone"],
            "id_number": answers.get("id_number") if answers.get("give_id") else None,
            "callback_consent": answers.get("callback_consent", False),
        }
    return EndDialog(effects=(Effect("report_filed", data),))


STEPS: tuple[Step, ...] = (
    Step("kind", "report.kind", choices=KINDS, after=_kind_chosen, help="help.report_kind"),
    Step("township", "apply.township", choices_for=_townships, when=_needs_township),
    Step("village", "report.village", choices_for=_villages, when=_needs_village),
    Step("subject", "report.subject", choices_for=_subjects, when=_needs_subject),
    Step(
        "household_name",
        "report.household_name",
        kind=Kind.NAME,
        field="subject_name",
        max_length=32,
        when=_about("household"),
    ),
    Step(
        "cadre_name",
        "report.cadre_name",
        kind=Kind.NAME,
        field="subject_name",
        max_length=32,
        skippable=True,
        when=_about("cadre"),
    ),
    Step(
        "village_told",
        "report.village_told",
        choices=YES_NO,
        when=_about("household"),
        help="help.report_village_told",
    ),
    Step(
        "text",
        "report.text",
        kind=Kind.TEXT,
        min_length=2,
        max_length=MAX_TEXT,
        prompt_params=_what_to_write,
    ),
    Step(
        "identity",
        "report.identity",
        choices=(
            Choice("anonymous", "report.identity.anonymous"),
            Choice("named", "report.identity.named"),
        ),
        prompt_params=_who_sees,
        help="help.report_identity",
    ),
    Step("reporter_name", "report.reporter_name", kind=Kind.NAME, max_length=32, when=_is_named),
    Step("phone", "report.phone", kind=Kind.PHONE, when=_is_named, help="help.phone"),
    Step("callback_consent", "report.callback_consent", choices=YES_NO, when=_is_named),
    Step("give_id", "report.give_id", choices=YES_NO, when=_is_named),
    Step("id_number", "report.id_number", kind=Kind.ID_NUMBER, when=_gives_id),
)

DIALOG = Dialog(id="report", steps=STEPS, finish=_finish)
