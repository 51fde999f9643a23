"""Self-application (农户主动申请) for monitoring, step by step, buttons wherever possible.

Order: who files (self or proxy) → village → the criteria of seed 000 四(一)1 and the
national frame of seed 004 → the negative list of seed 000 附件2, asked gently (a flag
for the cadre, never a refusal) → household details → consent (承诺授权) → summary,
correction, confirmation. Without consent the application is kept as a draft.

Income is asked by period, the way people remember it: the last 12 months, then last
year named with its number (去年（2025年）, by Beijing's calendar); medical costs over
the last 12 months, the span a hospital stay is remembered in.
"""

from __future__ import annotations

from typing import Any

from bot.dialogs.common import YES_NO, YES_NO_UNKNOWN, answered_yes
from bot.flow import (
    Answers,
    Choice,
    Context,
    Dialog,
    Effect,
    EndDialog,
    Goto,
    Kind,
    Step,
    Text,
    Transition,
)
from intake.answers import MAX_AMOUNT_YUAN, MAX_HOUSEHOLD_SIZE, MAX_MONTHS
from intake.identity import mask_id_number, mask_phone
from intake.workdays import SHANGHAI

YUAN = "unit.yuan"
#: A year's income or cost under this, typed without a unit, is asked back as 万.
IMPLAUSIBLE_YUAN = 100

#: Dialog answer key → field of the documented assessment answers (intake.answers).
ASSESSMENT_FIELDS = {
    "household_size": "household_size",
    "annual_income_yuan": "annual_income_yuan",
    "previous_year_income_yuan": "previous_year_income_yuan",
    "medical_out_of_pocket_yuan": "medical_out_of_pocket_yuan",
    "disaster_loss_yuan": "disaster_loss_yuan",
    "disaster_loss_ratio": "disaster_loss_ratio",
    "main_labourer_incapacitated": "main_labourer_incapacitated",
    "only_house_destroyed": "only_house_destroyed",
    "can_rebuild": "can_rebuild",
    "education_expense_yuan": "education_expense_yuan",
    "unemployed_months": "unemployed_months",
    "business_failed": "business_failed",
    "debts_yuan": "debts_yuan",
}
#: The yes/no questions asked before an amount, stored as answered (intake.answers).
GATE_FIELDS = ("has_illness", "has_disaster", "has_student", "unemployed")
NEGATIVE_FIELDS = (
    "county_town_house",
    "car_or_machinery",
    "public_sector_job",
    "business_owner",
    "high_contributions_or_pension",
    "refuses_work_or_misconduct",
)


def _is_proxy(answers: Answers, _context: Context) -> bool:
    return answers.get("for_whom") == "proxy"


def _needs_township(answers: Answers, context: Context) -> bool:
    townships = {v.township_code for v in context.villages}
    return context.known_village is None and len(townships) > 1


def _needs_village(answers: Answers, context: Context) -> bool:
    return context.known_village is None


def _townships(_answers: Answers, context: Context) -> tuple[Choice, ...]:
    seen: dict[str, str] = {}
    for village in context.villages:
        seen.setdefault(village.township_code, village.township_name)
    return tuple(Choice(code, name, literal=True) for code, name in seen.items())


def _villages(answers: Answers, context: Context) -> tuple[Choice, ...]:
    township = answers.get("township")
    return tuple(
        Choice(v.code, v.name, literal=True)
        for v in context.villages
        if township is None or v.township_code == township
    )


def _consent(value: Any, answers: Answers, context: Context) -> Transition | None:
    if value == "agree":
        answers["consent_at"] = context.now.isoformat()
        return None
    draft = {k: v for k, v in answers.items() if k != "consent"}
    return EndDialog(
        effects=(Effect("draft_saved", {"answers": draft}),),
        message=Text("apply.draft_saved"),
        context_updates={"draft": draft},
    )


def _review(value: Any, answers: Answers, _context: Context) -> Transition:
    if value == "edit":
        return Goto("edit")
    return EndDialog(
        effects=(Effect("application_submitted", {"answers": dict(answers)}),),
        context_updates={"draft": None},
    )


def _edit(value: Any, _answers: Answers, _context: Context) -> Transition:
    return Goto(str(value), editing=True)


def last_year(context: Context) -> int:
    """去年 as a number, by the calendar in Beijing (on 1 January at 00:30 it is already
    the new year there, whatever the server's clock says)."""
    return context.now.astimezone(SHANGHAI).year - 1


def _yes_no(step_id: str, prompt: str, key: str, summary: str, **extra: Any) -> Step:
    return Step(step_id, prompt, field=key, choices=YES_NO, summary=summary, **extra)


def _amount(step_id: str, prompt: str, key: str, summary: str, **extra: Any) -> Step:
    """A yuan question; the bounds are those of the documented answers (intake.answers)."""
    return Step(
        step_id,
        prompt,
        kind=Kind.NUMBER,
        field=key,
        unit=YUAN,
        maximum=MAX_AMOUNT_YUAN,
        unknown_allowed=True,
        implausible_below=IMPLAUSIBLE_YUAN,
        summary=summary,
        **extra,
    )


STEPS: tuple[Step, ...] = (
    Step(
        "for_whom",
        "apply.for_whom",
        summary="summary.for_whom",
        choices=(Choice("self", "apply.for_self"), Choice("proxy", "apply.for_other")),
        help="help.for_whom",
    ),
    Step(
        "proxy_relation",
        "apply.proxy_relation",
        when=_is_proxy,
        summary="summary.proxy_relation",
        choices=(
            Choice("spouse", "relation.spouse", intent="relation.spouse"),
            Choice("child", "relation.child", intent="relation.child"),
            Choice("parent", "relation.parent", intent="relation.parent"),
            Choice("sibling", "relation.sibling", intent="relation.sibling"),
            Choice("relative", "relation.relative", intent="relation.relative"),
            Choice("cadre", "relation.cadre", intent="relation.cadre"),
        ),
    ),
    Step(
        "proxy_reason",
        "apply.proxy_reason",
        when=_is_proxy,
        summary="summary.proxy_reason",
        choices=(
            Choice("ill", "reason.ill"),
            Choice("disabled", "reason.disabled"),
            Choice("elderly", "reason.elderly"),
            Choice("away", "reason.away"),
            Choice("other", "reason.other"),
        ),
    ),
    Step(
        "proxy_name",
        "apply.proxy_name",
        kind=Kind.NAME,
        when=_is_proxy,
        min_length=2,
        max_length=30,
        summary="summary.proxy_name",
    ),
    Step("township", "apply.township", choices_for=_townships, when=_needs_township),
    Step(
        "village",
        "apply.village",
        choices_for=_villages,
        when=_needs_village,
        summary="summary.village",
        help="help.village",
    ),
    _yes_no("illness", "apply.illness", "has_illness", "summary.illness", help="help.illness"),
    _amount(
        "medical_cost",
        "apply.medical_cost",
        "medical_out_of_pocket_yuan",
        "summary.medical_cost",
        when=answered_yes("has_illness"),
        help="help.medical_cost",
        per_year=True,
    ),
    _yes_no("disaster", "apply.disaster", "has_disaster", "summary.disaster"),
    Step(
        "disaster_ratio",
        "apply.disaster_ratio",
        kind=Kind.NUMBER,
        field="disaster_loss_ratio",
        unit="unit.percent",
        maximum=100,
        scale=0.01,
        unknown_allowed=True,
        when=answered_yes("has_disaster"),
        summary="summary.disaster_ratio",
        quick=(
            Choice("30", "quick.30pct", 0.3),
            Choice("50", "quick.50pct", 0.5),
            Choice("80", "quick.80pct", 0.8),
            Choice("100", "quick.100pct", 1.0),
        ),
    ),
    _amount(
        "disaster_loss",
        "apply.disaster_loss",
        "disaster_loss_yuan",
        "summary.disaster_loss",
        when=answered_yes("has_disaster"),
    ),
    _yes_no(
        "accident",
        "apply.accident",
        "main_labourer_incapacitated",
        "summary.accident",
        help="help.accident",
    ),
    _yes_no("house", "apply.house", "only_house_destroyed", "summary.house"),
    Step(
        "rebuild",
        "apply.rebuild",
        field="can_rebuild",
        choices=YES_NO_UNKNOWN,
        when=answered_yes("only_house_destroyed"),
        summary="summary.rebuild",
    ),
    _yes_no("school", "apply.school", "has_student", "summary.school"),
    _amount(
        "school_cost",
        "apply.school_cost",
        "education_expense_yuan",
        "summary.school_cost",
        when=answered_yes("has_student"),
        per_year=True,
    ),
    _yes_no("job", "apply.job", "unemployed", "summary.job"),
    Step(
        "job_months",
        "apply.job_months",
        kind=Kind.NUMBER,
        field="unemployed_months",
        unit="unit.months",
        maximum=MAX_MONTHS,
        integer=True,
        unknown_allowed=True,
        when=answered_yes("unemployed"),
        summary="summary.job_months",
    ),
    _yes_no("business", "apply.business", "business_failed", "summary.business"),
    Step(
        "size",
        "apply.size",
        kind=Kind.NUMBER,
        field="household_size",
        unit="unit.people",
        minimum=1,
        maximum=MAX_HOUSEHOLD_SIZE,
        integer=True,
        summary="summary.size",
        quick=tuple(Choice(str(n), f"quick.people{n}", n) for n in range(1, 7)),
    ),
    _amount(
        "income",
        "apply.income",
        "annual_income_yuan",
        "summary.income",
        help="help.income",
        per_year=True,
    ),
    _amount(
        "prev_income",
        "apply.prev_income",
        "previous_year_income_yuan",
        "summary.prev_income",
        per_year=True,
        prompt_params=lambda _answers, context: {"year": last_year(context)},
    ),
    _amount(
        "debts",
        "apply.debts",
        "debts_yuan",
        "summary.debts",
        quick=(Choice("0", "quick.no_debts", 0, intent="no"),),
    ),
    Step(
        "neg_house",
        "apply.neg_house",
        field="county_town_house",
        choices=YES_NO_UNKNOWN,
        summary="summary.neg_house",
        help="help.negative",
    ),
    Step(
        "neg_car",
        "apply.neg_car",
        field="car_or_machinery",
        choices=YES_NO_UNKNOWN,
        summary="summary.neg_car",
        help="help.negative",
    ),
    Step(
        "neg_job",
        "apply.neg_job",
        field="public_sector_job",
        choices=YES_NO_UNKNOWN,
        summary="summary.neg_job",
        help="help.negative",
    ),
    Step(
        "neg_business",
        "apply.neg_business",
        field="business_owner",
        choices=YES_NO_UNKNOWN,
        summary="summary.neg_business",
        help="help.negative",
    ),
    Step(
        "neg_pension",
        "apply.neg_pension",
        field="high_contributions_or_pension",
        choices=YES_NO_UNKNOWN,
        summary="summary.neg_pension",
        help="help.negative",
    ),
    Step(
        "neg_conduct",
        "apply.neg_conduct",
        field="refuses_work_or_misconduct",
        choices=YES_NO_UNKNOWN,
        summary="summary.neg_conduct",
        help="help.negative",
    ),
    Step(
        "head_name",
        "apply.head_name",
        kind=Kind.NAME,
        min_length=2,
        max_length=30,
        summary="summary.head_name",
    ),
    Step(
        "id_number",
        "apply.id_number",
        kind=Kind.ID_NUMBER,
        summary="summary.id_number",
        sensitive=True,
        help="help.id_number",
    ),
    Step(
        "phone",
        "apply.phone",
        kind=Kind.PHONE,
        summary="summary.phone",
        sensitive=True,
        help="help.phone",
    ),
    Step(
        "consent",
        "apply.consent",
        after=_consent,
        help="help.consent",
        choices=(
            Choice("agree", "apply.consent_agree", intent="yes"),
            Choice("later", "apply.consent_later", intent="no"),
        ),
    ),
    Step(
        "summary",
        "apply.summary",
        review=True,
        after=_review,
        prompt_params=lambda answers, context: {"lines": summary_lines(answers, context)},
        choices=(
            Choice("confirm", "apply.confirm", intent="yes"),
            Choice("edit", "apply.edit", intent="no"),
        ),
    ),
    Step("edit", "apply.edit_which", choices_for=lambda a, c: _editable(a, c), after=_edit),
)


def _editable(answers: Answers, context: Context) -> tuple[Choice, ...]:
    return tuple(
        Choice(step.id, step.summary)
        for step in STEPS
        if step.summary and step.key in answers and step.when(answers, context)
    )


def summary_lines(answers: Answers, context: Context) -> tuple[Text, ...]:
    """One line per answered question, sensitive values masked."""
    lines = []
    for step in STEPS:
        if step.summary and step.key in answers and step.when(answers, context):
            value = _shown(step, answers[step.key], answers, context)
            lines.append(Text("summary.line", {"label": Text(step.summary), "value": value}))
    return tuple(lines)


def _shown(step: Step, value: Any, answers: Answers, context: Context) -> Text | str:
    if value is None or value == "unknown":
        return Text("common.unknown")
    if step.kind is Kind.CHOICE:
        match = next((c for c in step.options(answers, context) if c.stored == value), None)
        return match.text if match else str(value)
    if step.kind is Kind.NUMBER:
        shown = value / step.scale if step.scale != 1 else value
        return Text("value.number", {"number": f"{shown:,.0f}", "unit": Text(step.unit or "")})
    if step.kind is Kind.ID_NUMBER:
        return mask_id_number(str(value))
    if step.kind is Kind.PHONE:
        return mask_phone(str(value))
    return str(value)


def assessment_answers(answers: Answers) -> dict[str, Any]:
    """The documented answers object (``intake.answers``) from this dialog's answers."""
    result: dict[str, Any] = {}
    for key, target in ASSESSMENT_FIELDS.items():
        if answers.get(key) is not None and answers.get(key) != "unknown":
            result[target] = answers[key]
    for gate in GATE_FIELDS:  # kept so the cadre sees "否", not the 0 set below
        if isinstance(answers.get(gate), bool):
            result[gate] = answers[gate]
    if answers.get("has_illness") is False:
        result["medical_out_of_pocket_yuan"] = 0
    if answers.get("unemployed") is False:
        result["unemployed_months"] = 0
    if answers.get("has_student") is False:
        result["education_expense_yuan"] = 0
    negative = {k: answers[k] for k in NEGATIVE_FIELDS if isinstance(answers.get(k), bool)}
    if negative:
        result["negative"] = negative
    unknown = [k for k in NEGATIVE_FIELDS if answers.get(k) == "unknown"]
    if unknown:  # "不清楚" is for the cadre to check, not the same as never asked
        result["negative_unknown"] = unknown
    return result


DIALOG = Dialog(
    id="self_application",
    steps=STEPS,
    finish=lambda _answers, _context: EndDialog(),
    resumable=True,
)

__all__ = ["DIALOG", "STEPS", "assessment_answers", "last_year", "summary_lines"]
