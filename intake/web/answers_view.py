"""The application's answers as the villager gave them, for the item page.

The stored answers are the assessment's (``intake.answers``): an amount whose question was
answered "否" is stored as 0 so the rules can count it. A cadre must see the "否", not a
number nobody said; and a negative-list "不清楚" is an answer to check, not a gap.
"""

from __future__ import annotations

from typing import Any

from intake.answers import NEGATIVE_IDS
from intake.policy import Policy

#: The answers shown on the item page: each yes/no question just before its amount.
ANSWER_FIELDS = (
    "household_size",
    "annual_income_yuan",
    "previous_year_income_yuan",
    "has_illness",
    "medical_out_of_pocket_yuan",
    "has_disaster",
    "disaster_loss_ratio",
    "disaster_loss_yuan",
    "main_labourer_incapacitated",
    "only_house_destroyed",
    "can_rebuild",
    "has_student",
    "education_expense_yuan",
    "unemployed",
    "unemployed_months",
    "business_failed",
    "debts_yuan",
)
#: An amount the assessment sets to 0 when its question was answered "否": the page
#: shows that "否" and leaves the invented 0 out.
GATED = {
    "medical_out_of_pocket_yuan": "has_illness",
    "education_expense_yuan": "has_student",
    "unemployed_months": "unemployed",
    "disaster_loss_ratio": "has_disaster",
    "disaster_loss_yuan": "has_disaster",
}
_NEGATIVE_ORDER = {nid: n for n, nid in enumerate(NEGATIVE_IDS)}


def answers_as_given(answers: dict[str, Any]) -> list[tuple[str, Any]]:
    """The answers in page order, without the 0 an amount got from a "否" before it.

    A ratio is shown as a percentage, as the villager chose it ("50%").
    """
    shown: list[tuple[str, Any]] = []
    for name in ANSWER_FIELDS:
        if name not in answers or answers.get(GATED.get(name, "")) is False:
            continue
        value = answers[name]
        if name == "disaster_loss_ratio" and isinstance(value, int | float):
            value = f"{value * 100:.0f}%"
        shown.append((name, value))
    return shown


def negative_answers(policy: Policy, answers: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every negative-list question asked, "不清楚" included, in the policy's order."""
    given = {k: "yes" if v else "no" for k, v in (answers.get("negative") or {}).items()}
    given |= dict.fromkeys(answers.get("negative_unknown") or (), "unknown")
    rows = []
    for key in sorted(given, key=lambda k: _NEGATIVE_ORDER.get(k, len(NEGATIVE_IDS))):
        entry = policy.negative_item(key)
        rows.append((entry.zh if entry else key, entry.en if entry else key, given[key]))
    return rows
