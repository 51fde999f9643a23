"""The answers object: field names are fixed, bad values are named, JSON round-trips."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import intake.answers
from intake.answers import (
    MAX_AMOUNT_YUAN,
    NEGATIVE_IDS,
    Answers,
    AnswersError,
    NegativeAnswers,
    parse_answers,
)

AMOUNT_FIELDS = [
    "annual_income_yuan",
    "previous_year_income_yuan",
    "medical_out_of_pocket_yuan",
    "disaster_loss_yuan",
    "education_expense_yuan",
    "debts_yuan",
]
BOOL_FIELDS = [
    "main_labourer_incapacitated",
    "only_house_destroyed",
    "can_rebuild",
    "business_failed",
]

FULL: dict[str, Any] = {
    "household_size": 4,
    "annual_income_yuan": 36000,
    "previous_year_income_yuan": 52000.5,
    "medical_out_of_pocket_yuan": 12000,
    "disaster_loss_yuan": 0,
    "disaster_loss_ratio": 0.25,
    "main_labourer_incapacitated": False,
    "only_house_destroyed": False,
    "can_rebuild": True,
    "education_expense_yuan": 3000,
    "unemployed_months": 2.5,
    "business_failed": False,
    "debts_yuan": 20000,
    "has_illness": True,
    "has_disaster": True,
    "has_student": True,
    "unemployed": True,
    "negative": {nid: False for nid in NEGATIVE_IDS[:-1]},
    "negative_unknown": [NEGATIVE_IDS[-1]],
}


def test_the_documented_field_names_are_exactly_the_model_fields() -> None:
    names = set(Answers.model_fields)
    assert names == {*FULL}
    assert set(NegativeAnswers.model_fields) == set(NEGATIVE_IDS)
    for name in (*names, *(f"negative.{n}" for n in NEGATIVE_IDS)):
        assert f"``{name}``" in (intake.answers.__doc__ or "")


def test_a_full_object_parses() -> None:
    answers = parse_answers(FULL)
    assert answers.household_size == 4
    assert answers.previous_year_income_yuan == 52000.5
    assert answers.negative.car_or_machinery is False
    assert answers.negative.flagged() == []


@pytest.mark.parametrize("raw", [{}, {k: None for k in FULL}, {"negative": None}])
def test_everything_may_be_absent_or_null(raw: dict[str, Any]) -> None:
    assert parse_answers(raw) == Answers()


def test_to_json_keeps_only_set_fields_and_round_trips() -> None:
    answers = parse_answers({"household_size": 3, "negative": {"business_owner": True}})
    assert answers.to_json() == {"household_size": 3, "negative": {"business_owner": True}}
    assert parse_answers(answers.to_json()) == answers
    full = parse_answers(FULL)
    assert full.to_json() == FULL  # whole-number amounts come back as ints
    assert parse_answers(json.loads(json.dumps(full.to_json()))) == full


def test_an_answers_instance_passes_through() -> None:
    answers = Answers(household_size=2)
    assert parse_answers(answers) is answers


BAD: list[tuple[dict[Any, Any], str, str]] = [
    ({"household_siez": 3}, "household_siez", "unknown field"),
    ({"negative": {"car": True}}, "negative.car", "unknown field"),
    (
        {"negative": {"car_or_machinery": "yes"}},
        "negative.car_or_machinery",
        "must be true or false",
    ),
    ({"negative": {"business_owner": 1}}, "negative.business_owner", "must be true or false"),
    ({"negative": [True]}, "negative", "must be an object"),
    ({"can_rebuild": "false"}, "can_rebuild", "must be true or false"),
    ({"can_rebuild": 0}, "can_rebuild", "must be true or false"),
    ({"debts_yuan": -1}, "debts_yuan", "must be a number ≥ 0"),
    ({"debts_yuan": "20000"}, "debts_yuan", "must be a number ≥ 0"),
    ({"debts_yuan": True}, "debts_yuan", "must be a number ≥ 0"),
    ({"debts_yuan": math.nan}, "debts_yuan", "must be a number ≥ 0"),
    ({"debts_yuan": math.inf}, "debts_yuan", "must be a number ≥ 0"),
    ({"debts_yuan": MAX_AMOUNT_YUAN + 1}, "debts_yuan", "must be at most 100,000,000"),
    ({"disaster_loss_ratio": 1.5}, "disaster_loss_ratio", "must be between 0 and 1"),
    ({"disaster_loss_ratio": -0.1}, "disaster_loss_ratio", "must be between 0 and 1"),
    ({"disaster_loss_ratio": "half"}, "disaster_loss_ratio", "must be between 0 and 1"),
    ({"household_size": 0}, "household_size", "must be a whole number from 1 to 50"),
    ({"household_size": 51}, "household_size", "must be a whole number from 1 to 50"),
    ({"household_size": 2.5}, "household_size", "must be a whole number from 1 to 50"),
    ({"household_size": True}, "household_size", "must be a whole number from 1 to 50"),
    ({"unemployed_months": -1}, "unemployed_months", "must be a number ≥ 0"),
    ({"unemployed_months": 601}, "unemployed_months", "must be at most 600"),
    ({1: 2}, "1", "unknown field"),
    (
        {"negative_unknown": "car_or_machinery"},
        "negative_unknown",
        "must be a list of negative-list ids",
    ),
    ({"negative_unknown": ["car"]}, "negative_unknown.0", "unknown negative-list id"),
    (
        {"negative": {"car_or_machinery": False}, "negative_unknown": ["car_or_machinery"]},
        "negative.car_or_machinery",
        "also listed in negative_unknown",
    ),
]


@pytest.mark.parametrize(("raw", "field", "problem"), BAD)
def test_a_bad_field_is_named_with_a_plain_problem(
    raw: dict[Any, Any], field: str, problem: str
) -> None:
    with pytest.raises(AnswersError) as caught:
        parse_answers(raw)
    assert (caught.value.field, caught.value.problem) == (field, problem)
    assert str(caught.value) == f"{field}: {problem}"


@pytest.mark.parametrize("raw", [[], "answers", 3, None])
def test_the_root_must_be_an_object(raw: object) -> None:
    with pytest.raises(AnswersError, match=r"^answers: must be a JSON object$"):
        parse_answers(raw)


def test_the_first_bad_field_in_object_order_is_named() -> None:
    with pytest.raises(AnswersError) as caught:
        parse_answers({"household_size": 2, "debts_yuan": -5, "typo": 1})
    assert caught.value.field == "debts_yuan"


def test_every_bad_field_is_named_in_object_order() -> None:
    raw = {
        "household_size": 0,
        "annual_income_yuan": 1000,
        "debts_yuan": "lots",
        "typo": 1,
        "negative": {"car": True, "business_owner": 1},
    }
    with pytest.raises(AnswersError) as caught:
        parse_answers(raw)
    assert caught.value.problems == (
        ("household_size", "must be a whole number from 1 to 50"),
        ("debts_yuan", "must be a number ≥ 0"),
        ("typo", "unknown field"),
        ("negative.car", "unknown field"),
        ("negative.business_owner", "must be true or false"),
    )
    assert (caught.value.field, caught.value.problem) == caught.value.problems[0]
    assert str(caught.value) == (
        "household_size: must be a whole number from 1 to 50; debts_yuan: must be a number ≥ 0; "
        "typo: unknown field; negative.car: unknown field; "
        "negative.business_owner: must be true or false"
    )


def test_negative_list_answers_not_sure_are_kept_apart_from_not_asked() -> None:
    answers = parse_answers(
        {"negative_unknown": ["refuses_work_or_misconduct", "car_or_machinery"]}
    )
    assert answers.negative_unknown == ("car_or_machinery", "refuses_work_or_misconduct")
    assert answers.negative.car_or_machinery is None
    assert answers.to_json() == {
        "negative_unknown": ["car_or_machinery", "refuses_work_or_misconduct"]
    }
    assert parse_answers(answers.to_json()) == answers
    assert parse_answers({"negative_unknown": []}) == parse_answers({}) == Answers()


@pytest.mark.parametrize("field", AMOUNT_FIELDS)
@pytest.mark.parametrize("value", [0, 0.01, 19999.99, MAX_AMOUNT_YUAN])
def test_amounts_accept_the_whole_range(field: str, value: float) -> None:
    assert getattr(parse_answers({field: value}), field) == value


@pytest.mark.parametrize("field", BOOL_FIELDS)
def test_booleans_accept_true_and_false(field: str) -> None:
    assert getattr(parse_answers({field: True}), field) is True
    assert getattr(parse_answers({field: False}), field) is False


def test_household_size_accepts_a_whole_float_and_the_bounds() -> None:
    assert parse_answers({"household_size": 3.0}).household_size == 3
    assert parse_answers({"household_size": 1}).household_size == 1
    assert parse_answers({"household_size": 50}).household_size == 50


def test_answers_are_frozen() -> None:
    answers = Answers()
    with pytest.raises(ValueError, match="frozen"):
        answers.household_size = 3


_amount = st.one_of(st.integers(0, MAX_AMOUNT_YUAN), st.floats(0, MAX_AMOUNT_YUAN, allow_nan=False))


def _with_negative(raw: dict[str, Any], negative: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with negative-list answers (true, false or "unknown") split into the fields."""
    known = {k: v for k, v in negative.items() if isinstance(v, bool)}
    unknown = [k for k, v in negative.items() if v == "unknown"]
    return {
        **raw,
        **({"negative": known} if known else {}),
        **({"negative_unknown": unknown} if unknown else {}),
    }


_json_answers = st.builds(
    _with_negative,
    st.fixed_dictionaries(
        {},
        optional={
            "household_size": st.integers(1, 50),
            **{name: _amount for name in AMOUNT_FIELDS},
            "disaster_loss_ratio": st.floats(0, 1),
            "unemployed_months": st.integers(0, 600),
            **{name: st.booleans() for name in BOOL_FIELDS},
        },
    ),
    st.fixed_dictionaries(
        {}, optional={n: st.sampled_from([True, False, "unknown"]) for n in NEGATIVE_IDS}
    ),
)


@given(_json_answers)
def test_any_valid_object_round_trips(raw: dict[str, Any]) -> None:
    answers = parse_answers(raw)
    assert parse_answers(answers.to_json()) == answers
    assert parse_answers(json.loads(json.dumps(answers.to_json()))) == answers
