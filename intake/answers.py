"""A household's answers to the self-application questions, and their parser.

Integrators (the chat dialogs, the hotline console, the webhook channel) send the answers
as one JSON object with exactly these field names. Every field may be absent or ``null``,
which means "unknown"; the assessment then says what it could not judge.

========================================  ======  ===================================
field                                     unit    allowed values
========================================  ======  ===================================
``household_size``                        people  whole number, 1 to 50
``annual_income_yuan``                    yuan    number ≥ 0 (household, this year)
``previous_year_income_yuan``             yuan    number ≥ 0 (household, last year)
``medical_out_of_pocket_yuan``            yuan    number ≥ 0 (after all insurance)
``disaster_loss_yuan``                    yuan    number ≥ 0
``disaster_loss_ratio``                   share   number from 0 to 1 (0.5 = half lost)
``main_labourer_incapacitated``           -       true / false (by a sudden accident)
``only_house_destroyed``                  -       true / false (the only house, by disaster)
``can_rebuild``                           -       true / false (can rebuild on its own)
``education_expense_yuan``                yuan    number ≥ 0 (school costs, one year)
``unemployed_months``                     months  number from 0 to 600
``business_failed``                       -       true / false (farm or business failed)
``debts_yuan``                            yuan    number ≥ 0 (outstanding debts)
``has_illness``                           -       true / false (someone seriously ill)
``has_disaster``                          -       true / false (hit by a disaster)
``has_student``                           -       true / false (a child in school)
``unemployed``                            -       true / false (a worker lost the job)
``negative``                              -       object with the booleans below
``negative.county_town_house``            -       owns a house in the county town
``negative.car_or_machinery``             -       owns a usable car or large farm machine
``negative.public_sector_job``             -       stable job in government / state firm
``negative.business_owner``               -       private business owner or shareholder
``negative.high_contributions_or_pension``  -     high fund contributions or a pension
``negative.refuses_work_or_misconduct``   -       refuses work / support, gambling, drugs
``negative_unknown``                      -       list of the negative-list ids above that
                                                  were asked and answered "not sure"
========================================  ======  ===================================

The four ``has_…``/``unemployed`` answers are the yes/no questions asked before an amount:
they let a cadre see "否" where the amount field holds the 0 the assessment needs.
Amounts are capped at 100,000,000 yuan. Booleans must be real JSON ``true``/``false``.
An unknown field is rejected by name, so a typo never silently becomes "unknown". A
negative-list question left out of ``negative`` was not asked; one listed in
``negative_unknown`` was asked and the household did not know (the cadre checks it); an id
may not be in both. Every bad field is named, not only the first.

Example::

    >>> a = parse_answers({"household_size": 4, "medical_out_of_pocket_yuan": 35000})
    >>> a.to_json()
    {'household_size': 4, 'medical_out_of_pocket_yuan': 35000}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_AMOUNT_YUAN",
    "NEGATIVE_IDS",
    "Answers",
    "AnswersError",
    "NegativeAnswers",
    "NegativeId",
    "parse_answers",
]

MAX_AMOUNT_YUAN = 100_000_000
MAX_HOUSEHOLD_SIZE = 50
MAX_MONTHS = 600

NegativeId = Literal[
    "county_town_house",
    "car_or_machinery",
    "public_sector_job",
    "business_owner",
    "high_contributions_or_pension",
    "refuses_work_or_misconduct",
]
NEGATIVE_IDS: tuple[NegativeId, ...] = get_args(NegativeId)

Amount = Annotated[float, Field(ge=0, le=MAX_AMOUNT_YUAN, allow_inf_nan=False)]
Ratio = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Months = Annotated[float, Field(ge=0, le=MAX_MONTHS, allow_inf_nan=False)]
HouseholdSize = Annotated[int, Field(ge=1, le=MAX_HOUSEHOLD_SIZE)]

_MODEL_CONFIG = ConfigDict(frozen=True, extra="forbid", strict=True)


class AnswersError(ValueError):
    """A bad answers object; ``field`` is dotted (``negative.car_or_machinery``).

    ``field`` and ``problem`` are the first bad field's; ``problems`` lists every bad field
    as ``(field, problem)`` in the object's order, and ``str(error)`` names them all
    (``"debts_yuan: must be a number ≥ 0; typo: unknown field"``).
    """

    def __init__(self, field: str, problem: str, *more: tuple[str, str]) -> None:
        self.problems: tuple[tuple[str, str], ...] = ((field, problem), *more)
        super().__init__("; ".join(f"{name}: {what}" for name, what in self.problems))
        self.field = field
        self.problem = problem


class NegativeAnswers(BaseModel):
    """Answers to the negative list (seed 000 附件2); ``None`` means not asked or unknown."""

    model_config = _MODEL_CONFIG

    county_town_house: bool | None = None
    car_or_machinery: bool | None = None
    public_sector_job: bool | None = None
    business_owner: bool | None = None
    high_contributions_or_pension: bool | None = None
    refuses_work_or_misconduct: bool | None = None

    def flagged(self) -> list[NegativeId]:
        """Ids answered ``true``, in the fixed order of :data:`NEGATIVE_IDS`."""
        return [nid for nid in NEGATIVE_IDS if getattr(self, nid) is True]


class Answers(BaseModel):
    """One household's answers; every field optional (``None`` = unknown)."""

    model_config = _MODEL_CONFIG

    household_size: HouseholdSize | None = None
    annual_income_yuan: Amount | None = None
    previous_year_income_yuan: Amount | None = None
    medical_out_of_pocket_yuan: Amount | None = None
    disaster_loss_yuan: Amount | None = None
    disaster_loss_ratio: Ratio | None = None
    main_labourer_incapacitated: bool | None = None
    only_house_destroyed: bool | None = None
    can_rebuild: bool | None = None
    education_expense_yuan: Amount | None = None
    unemployed_months: Months | None = None
    business_failed: bool | None = None
    debts_yuan: Amount | None = None
    has_illness: bool | None = None
    has_disaster: bool | None = None
    has_student: bool | None = None
    unemployed: bool | None = None
    negative: NegativeAnswers = Field(default_factory=NegativeAnswers)
    #: Negative-list questions answered "not sure", in the order of :data:`NEGATIVE_IDS`.
    negative_unknown: tuple[NegativeId, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The set fields only, JSON-ready; whole-number amounts come back as ints."""
        out: dict[str, Any] = {}
        exclude = {"negative", "negative_unknown"}
        for name, value in self.model_dump(exclude_none=True, exclude=exclude).items():
            out[name] = _tidy_number(value)
        negative = self.negative.model_dump(exclude_none=True)
        if negative:
            out["negative"] = negative
        if self.negative_unknown:
            out["negative_unknown"] = list(self.negative_unknown)
        return out


def _tidy_number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# --- parsing ---------------------------------------------------------------------------

_Checker = Callable[[object], "float | int | bool | None"]


class _Bad(Exception):
    """Raised by a checker; carries the plain-English problem."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _number(value: object) -> float | int | None:
    """The value as a finite number, or ``None`` if it is not one (bools are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _amount(value: object) -> float | int:
    number = _number(value)
    if number is None or number < 0:
        raise _Bad("must be a number ≥ 0")
    if number > MAX_AMOUNT_YUAN:
        raise _Bad(f"must be at most {MAX_AMOUNT_YUAN:,}")
    return number


def _ratio(value: object) -> float | int:
    number = _number(value)
    if number is None or not 0 <= number <= 1:
        raise _Bad("must be between 0 and 1")
    return number


def _months(value: object) -> float | int:
    number = _number(value)
    if number is None or number < 0:
        raise _Bad("must be a number ≥ 0")
    if number > MAX_MONTHS:
        raise _Bad(f"must be at most {MAX_MONTHS}")
    return number


def _household_size(value: object) -> int:
    number = _number(value)
    if number is None or number != int(number) or not 1 <= number <= MAX_HOUSEHOLD_SIZE:
        raise _Bad(f"must be a whole number from 1 to {MAX_HOUSEHOLD_SIZE}")
    return int(number)


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Bad("must be true or false")
    return value


_FIELDS: dict[str, _Checker] = {
    "household_size": _household_size,
    "annual_income_yuan": _amount,
    "previous_year_income_yuan": _amount,
    "medical_out_of_pocket_yuan": _amount,
    "disaster_loss_yuan": _amount,
    "disaster_loss_ratio": _ratio,
    "main_labourer_incapacitated": _boolean,
    "only_house_destroyed": _boolean,
    "can_rebuild": _boolean,
    "education_expense_yuan": _amount,
    "unemployed_months": _months,
    "business_failed": _boolean,
    "debts_yuan": _amount,
    "has_illness": _boolean,
    "has_disaster": _boolean,
    "has_student": _boolean,
    "unemployed": _boolean,
}
_NEGATIVE_FIELDS: dict[str, _Checker] = dict.fromkeys(NEGATIVE_IDS, _boolean)


def _negative_unknown(value: object) -> list[tuple[str, str]] | tuple[NegativeId, ...]:
    """The ids of ``negative_unknown`` in the fixed order, or the problems found."""
    name = "negative_unknown"
    if not isinstance(value, list | tuple):
        return [(name, "must be a list of negative-list ids")]
    problems = [
        (f"{name}.{i}", "unknown negative-list id")
        for i, item in enumerate(value)
        if item not in NEGATIVE_IDS
    ]
    if problems:
        return problems
    return tuple(nid for nid in NEGATIVE_IDS if nid in value)


def _check_object(
    raw: Mapping[Any, Any],
    fields: dict[str, _Checker],
    prefix: str,
    problems: list[tuple[str, str]],
) -> dict[str, Any]:
    """The checked fields of ``raw``; every problem found is appended to ``problems``."""
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if key in ("negative", "negative_unknown") and not prefix:
            if value is None:
                continue
            if key == "negative_unknown":
                checked = _negative_unknown(value)
                if isinstance(checked, tuple):
                    clean[key] = checked
                else:
                    problems.extend(checked)
            elif not isinstance(value, Mapping):
                problems.append((name, "must be an object"))
            else:
                clean[key] = _check_object(value, _NEGATIVE_FIELDS, "negative.", problems)
            continue
        checker = fields.get(key) if isinstance(key, str) else None
        if checker is None:
            problems.append((name, "unknown field"))
            continue
        if value is None:
            continue
        try:
            clean[key] = checker(value)
        except _Bad as bad:
            problems.append((name, bad.problem))
    return clean


def parse_answers(raw: object) -> Answers:
    """Validate a decoded JSON object into :class:`Answers`.

    Raises :class:`AnswersError` naming every bad field in the object's own order (the
    first as ``field``/``problem``), e.g.
    ``AnswersError("negative.car_or_machinery", "must be true or false")``.
    An :class:`Answers` instance is returned unchanged.
    """
    if isinstance(raw, Answers):
        return raw
    if not isinstance(raw, Mapping):
        raise AnswersError("answers", "must be a JSON object")
    problems: list[tuple[str, str]] = []
    clean = _check_object(raw, _FIELDS, "", problems)
    negative = clean.pop("negative", {})
    both = [nid for nid in clean.get("negative_unknown", ()) if negative.get(nid) is not None]
    problems.extend((f"negative.{nid}", "also listed in negative_unknown") for nid in both)
    if problems:
        raise AnswersError(*problems[0], *problems[1:])
    return Answers(**clean, negative=NegativeAnswers(**negative))
