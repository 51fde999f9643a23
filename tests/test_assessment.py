"""The assessment: every boundary on both sides, the exception path, regions differ by data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from intake.answers import MAX_AMOUNT_YUAN, NEGATIVE_IDS, Answers, parse_answers
from intake.assessment import Assessment, assess, assessment_year
from intake.policy import CRITERIA, Policy, load_policies

CASES = yaml.safe_load(
    (Path(__file__).parent / "fixtures/assessment/cases.yaml").read_text(encoding="utf-8")
)
POLICIES = load_policies()
GANGKOU, BOLUO = POLICIES["gangkou"], POLICIES["boluo"]
REFUSALS = ("不符合", "不予", "not eligible", "ineligible", "rejected")


def variant(base: Policy, **changes: Any) -> Policy:
    """The base policy with dotted-path changes (``thresholds__x=1``), validated again."""
    data = base.model_dump()
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = data
        for part in parents:
            node = node[part]
        node[last] = value
    return Policy.model_validate(data)


WITH_LINE = variant(
    GANGKOU, income_line=[{"year": 2022, "yuan_per_capita": 6000, "source": "test figure"}]
)


def run(raw: dict[str, Any], policy: Policy = GANGKOU, year: int | None = 2022) -> Assessment:
    return assess(parse_answers(raw), policy, year=year)


def explained(result: Assessment, rule: str) -> list[str]:
    return [e.kind for e in result.explanations if e.rule == rule]


# --- whole-household cases (tests/fixtures/assessment/cases.yaml) ------------------------


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_cases(case: dict[str, Any]) -> None:
    result = run(case["answers"], POLICIES[case["policy"]], case["year"])
    got = result.to_json()
    got["risk_types"] = [rt["code"] for rt in got["risk_types"]]
    assert {key: got[key] for key in case["expect"]} == case["expect"]
    chinese = " ".join(e.text_zh for e in result.explanations)
    for phrase in case["explains"]:
        assert phrase in chinese


# --- boundaries, both sides --------------------------------------------------------------

MEDICAL = [
    (19_999, 100_000, False),
    (20_000, 100_000, False),  # exactly 20 %: the seed says 超出, strictly more
    (20_001, 100_000, True),
    (6_666.6, 33_333, False),  # 20 % of 33,333 is 6,666.6 exactly
    (6_666.61, 33_333, True),
    (29_999, 200_000, False),
    (30_000, 200_000, True),  # 3万元以上: 30,000 or more
    (30_001, 200_000, True),
    (30_000, None, True),
    (1, 0, True),
    (0, 0, False),
]


@pytest.mark.parametrize(("oop", "income", "met"), MEDICAL)
def test_medical(oop: float, income: float | None, met: bool) -> None:
    result = run({"medical_out_of_pocket_yuan": oop, "annual_income_yuan": income})
    assert ("medical" in result.criteria_met) is met
    assert explained(result, "medical") == ["met" if met else "not_met"]


def test_medical_with_unknown_income_below_the_cap_says_so() -> None:
    result = run({"medical_out_of_pocket_yuan": 29_999})
    assert explained(result, "medical") == ["unknown"]
    assert "年收入不清楚" in result.explanations[0].text_zh


DISASTER = [
    ({"disaster_loss_ratio": 0.49}, False),
    ({"disaster_loss_ratio": 0.5}, True),
    ({"disaster_loss_ratio": 0.51}, True),
    ({"disaster_loss_yuan": 49_999}, False),
    ({"disaster_loss_yuan": 50_000}, True),
    ({"disaster_loss_yuan": 50_001}, True),
    ({"disaster_loss_ratio": 0.49, "disaster_loss_yuan": 49_999}, False),
    ({"disaster_loss_ratio": 0.1, "disaster_loss_yuan": 50_000}, True),
]


@pytest.mark.parametrize(("raw", "met"), DISASTER)
def test_disaster(raw: dict[str, Any], met: bool) -> None:
    result = run(raw)
    assert ("disaster" in result.criteria_met) is met
    assert result.fast_track is met
    both_known = len(raw) == 2
    assert explained(result, "disaster") == [
        "met" if met else ("not_met" if both_known else "unknown")
    ]


@pytest.mark.parametrize(("value", "met"), [(True, True), (False, False), (None, False)])
def test_accident_incapacity_is_fast_tracked(value: bool | None, met: bool) -> None:
    result = run({"main_labourer_incapacitated": value})
    assert ("accident_incapacity" in result.criteria_met) is met
    assert result.fast_track is met


HOUSE = [
    (True, False, True, "met"),
    (True, None, False, "unknown"),
    (True, True, False, "not_met"),
    (False, False, False, None),
    (None, False, False, None),
]


@pytest.mark.parametrize(("destroyed", "can_rebuild", "met", "kind"), HOUSE)
def test_house_destroyed_needs_an_explicit_cannot_rebuild(
    destroyed: bool | None, can_rebuild: bool | None, met: bool, kind: str | None
) -> None:
    result = run({"only_house_destroyed": destroyed, "can_rebuild": can_rebuild})
    assert ("house_destroyed" in result.criteria_met) is met
    assert explained(result, "house_destroyed") == ([kind] if kind else [])


EDUCATION = [
    (9_999, 50_000, False),
    (10_000, 50_000, True),  # ≥ 20 % of income (a local choice, see gangkou.yaml)
    (10_001, 50_000, True),
    (0, 50_000, False),
    (0, 0, False),
    (500, 0, True),
]


@pytest.mark.parametrize(("cost", "income", "met"), EDUCATION)
def test_education(cost: float, income: float, met: bool) -> None:
    result = run({"education_expense_yuan": cost, "annual_income_yuan": income})
    assert ("education" in result.criteria_met) is met


def test_education_with_unknown_income_says_so() -> None:
    assert explained(run({"education_expense_yuan": 5000}), "education") == ["unknown"]


@pytest.mark.parametrize(
    ("months", "met"), [(0, False), (2, False), (2.9, False), (3, True), (4, True)]
)
def test_unemployment(months: float, met: bool) -> None:
    result = run({"unemployed_months": months})
    assert ("unemployment" in result.criteria_met) is met
    assert [rt.code for rt in result.risk_types] == (["05"] if met else [])


@pytest.mark.parametrize(("value", "met"), [(True, True), (False, False)])
def test_business_failure(value: bool, met: bool) -> None:
    assert ("business_failure" in run({"business_failed": value}).criteria_met) is met


@pytest.mark.parametrize(("income", "met"), [(17_999, True), (18_000, False), (18_001, False)])
def test_income_below_line_per_capita_is_strictly_below(income: float, met: bool) -> None:
    result = run({"household_size": 3, "annual_income_yuan": income}, WITH_LINE)
    assert ("income_below_line" in result.criteria_met) is met
    assert [rt.code for rt in result.risk_types] == (["99"] if met else [])


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ({"household_size": 3}, "年收入不清楚，无法按收入线判断"),
        ({"annual_income_yuan": 1}, "家庭人口不清楚"),
    ],
)
def test_income_below_line_with_unknowns_says_so(raw: dict[str, Any], phrase: str) -> None:
    result = run(raw, WITH_LINE)
    assert explained(result, "income_below_line") == ["unknown"]
    assert any(phrase in e.text_zh for e in result.explanations)


@pytest.mark.parametrize(("policy", "year"), [(GANGKOU, 2022), (WITH_LINE, 2030), (GANGKOU, None)])
def test_income_below_line_is_skipped_without_a_figure(policy: Policy, year: int | None) -> None:
    result = run({"household_size": 1, "annual_income_yuan": 0}, policy, year)
    assert "income_below_line" not in result.criteria_met
    assert explained(result, "income_below_line") == ["note"]


def test_the_default_year_is_the_current_year_in_china_as_in_the_chat() -> None:
    # 2030-12-31 16:30 UTC is already 2031-01-01 00:30 in Beijing.
    new_year = datetime(2030, 12, 31, 16, 30, tzinfo=UTC)
    assert assess(Answers(), GANGKOU, now=new_year).year == 2031
    assert assessment_year(new_year) == 2031
    in_2022 = datetime(2022, 6, 1, tzinfo=UTC)
    poor = parse_answers({"household_size": 1, "annual_income_yuan": 1})
    assert assess(poor, WITH_LINE, now=in_2022).criteria_met == ["income_below_line"]
    assert assess(poor, WITH_LINE, now=new_year).criteria_met == []  # no 2031 line
    today = datetime.now(ZoneInfo("Asia/Shanghai")).year
    assert run({}, GANGKOU, None).year == today
    assert run({}, variant(GANGKOU, income_line=[]), None).year == today


RIGID = [  # medical 10,000 + school 5,000 = 15,000 of rigid expenses
    (14_999, True),
    (15_000, False),  # must clearly exceed last year's income
    (15_001, False),
]


@pytest.mark.parametrize(("previous", "met"), RIGID)
def test_rigid_expense_exceeds_previous_year_income(previous: float, met: bool) -> None:
    raw = {
        "medical_out_of_pocket_yuan": 10_000,
        "education_expense_yuan": 5_000,
        "previous_year_income_yuan": previous,
    }
    result = run(raw)
    assert ("rigid_expense_exceeds_income" in result.criteria_met) is met
    assert [rt.code for rt in result.risk_types] == (["10"] if met else [])


def test_rigid_expense_with_unknown_previous_income_says_so() -> None:
    result = run({"medical_out_of_pocket_yuan": 1})
    assert explained(result, "rigid_expense_exceeds_income") == ["unknown"]
    assert explained(run({}), "rigid_expense_exceeds_income") == []


# --- negative list and the exception path ------------------------------------------------

EXCEPTION_BASE: dict[str, Any] = {  # per capita 7,000; rigid 70,000 ≥ income; debts 20,000
    "household_size": 10,
    "annual_income_yuan": 70_000,
    "medical_out_of_pocket_yuan": 70_000,
    "debts_yuan": 20_000,
    "negative": {"public_sector_job": True},
}

EXCEPTION = [
    ({}, True),
    ({"annual_income_yuan": 79_990, "medical_out_of_pocket_yuan": 80_000}, True),  # 7,999
    ({"annual_income_yuan": 80_000, "medical_out_of_pocket_yuan": 80_000}, False),  # 8,000
    ({"debts_yuan": 19_999}, False),
    ({"debts_yuan": 20_001}, True),
    ({"medical_out_of_pocket_yuan": 69_999}, False),  # rigid just under income, no drop
    ({"medical_out_of_pocket_yuan": 69_999, "previous_year_income_yuan": 100_000}, True),  # -30 %
    ({"medical_out_of_pocket_yuan": 0, "previous_year_income_yuan": 100_000}, True),
    ({"medical_out_of_pocket_yuan": 0, "previous_year_income_yuan": 99_999}, False),  # -29.99 %
    ({"medical_out_of_pocket_yuan": None}, False),  # burden unknown
    ({"debts_yuan": None}, False),
    ({"household_size": None}, False),
]


@pytest.mark.parametrize(("change", "holds"), EXCEPTION)
def test_exception_path(change: dict[str, Any], holds: bool) -> None:
    result = run({**EXCEPTION_BASE, **change})
    assert result.negative_flags == ["public_sector_job"]
    assert result.exception_path is holds
    assert result.recommendation == "cadre_decides"  # with or without the exception
    kinds = explained(result, "exception_path")
    assert kinds == ["exception"] if holds else kinds in (["not_met"], ["unknown"])


def test_no_exception_path_without_a_flag() -> None:
    result = run({**EXCEPTION_BASE, "negative": {"public_sector_job": False}})
    assert (result.negative_flags, result.exception_path) == ([], False)
    assert explained(result, "exception_path") == []
    assert result.recommendation == "likely"


def test_every_flag_is_listed_and_explained_in_order() -> None:
    result = run({"negative": dict.fromkeys(reversed(NEGATIVE_IDS), True)})
    assert result.negative_flags == list(NEGATIVE_IDS)
    flags = [e for e in result.explanations if e.kind == "flag"]
    assert [e.rule for e in flags] == [f"negative.{n}" for n in NEGATIVE_IDS]
    assert all("港口乡方案 附件2" in e.text_zh for e in flags)


def test_a_not_sure_negative_answer_is_listed_for_the_cadre_not_dropped() -> None:
    result = run({"business_failed": True, "negative_unknown": ["car_or_machinery"]})
    assert result.negative_flags == []
    assert result.negative_unknown == ["car_or_machinery"]
    assert result.recommendation == "review"  # not "likely": no "无负面清单情形" yet
    unknown = [e for e in result.explanations if e.rule == "negative.car_or_machinery"]
    assert [e.kind for e in unknown] == ["unknown"]
    assert "不清楚" in unknown[0].text_zh and "请干部核实" in unknown[0].text_zh
    assert unknown[0].text_zh.endswith("（港口乡方案 附件2）")
    assert "not sure" in unknown[0].text_en
    assert run({"business_failed": True}).recommendation == "likely"


def test_not_sure_answers_come_in_list_order_beside_flags() -> None:
    raw = {
        "negative": {"business_owner": True},
        "negative_unknown": ["refuses_work_or_misconduct", "county_town_house"],
    }
    result = run(raw)
    assert result.negative_flags == ["business_owner"]
    assert result.negative_unknown == ["county_town_house", "refuses_work_or_misconduct"]
    assert result.recommendation == "cadre_decides"
    shorter = variant(GANGKOU, negative_list=GANGKOU.model_dump()["negative_list"][1:])
    assert run(raw, shorter).negative_unknown == ["refuses_work_or_misconduct"]


def test_no_unemployment_is_not_zero_months_of_it() -> None:
    result = run({"unemployed_months": 0})
    assert explained(result, "unemployment") == ["not_met"]
    text = next(e for e in result.explanations if e.rule == "unemployment")
    assert text.text_zh.startswith("未失业（")
    assert text.text_en.startswith("Not out of work (")
    assert "0 个月" not in text.text_zh


EVERY_RULE: dict[str, Any] = {
    "household_size": 2,
    "annual_income_yuan": 10_000,
    "previous_year_income_yuan": 9_000,
    "medical_out_of_pocket_yuan": 35_000,
    "disaster_loss_ratio": 0.6,
    "main_labourer_incapacitated": True,
    "only_house_destroyed": True,
    "can_rebuild": False,
    "education_expense_yuan": 5_000,
    "unemployed_months": 4,
    "business_failed": True,
    "debts_yuan": 30_000,
    "negative": {"car_or_machinery": True},
    "negative_unknown": ["public_sector_job"],
}


@pytest.mark.parametrize("code", sorted(POLICIES))
def test_every_explanation_cites_the_policy_in_use(code: str) -> None:
    policy = POLICIES[code]
    region = policy.region.name
    for rule, source in policy.rule_sources.items():
        assert region in source, f"{code}.yaml: rule_sources.{rule} does not name {region}"
    result = run(
        EVERY_RULE,
        variant(
            policy, income_line=[{"year": 2022, "yuan_per_capita": 6000, "source": "test figure"}]
        ),
    )
    rules = {e.rule.split(".")[0] for e in result.explanations}
    assert set(CRITERIA) | {"negative", "exception_path"} <= rules
    cited = tuple(f"（{source}）" for source in policy.rule_sources.values())
    for explanation in result.explanations:
        assert explanation.text_zh.endswith(cited), explanation.text_zh


def test_a_flag_the_region_does_not_list_is_not_a_flag() -> None:
    shorter = variant(GANGKOU, negative_list=GANGKOU.model_dump()["negative_list"][1:])
    result = run({"negative": {"county_town_house": True}}, shorter)
    assert result.negative_flags == []


# --- recommendation, regions, explanations -----------------------------------------------

RECOMMENDATION = [
    ({}, "review"),
    ({"medical_out_of_pocket_yuan": 100}, "review"),
    ({"business_failed": True}, "likely"),
    ({"business_failed": True, "negative": {"business_owner": True}}, "cadre_decides"),
    ({"negative": {"business_owner": True}}, "cadre_decides"),
    ({"negative": {"business_owner": False}}, "review"),
]


@pytest.mark.parametrize(("raw", "expected"), RECOMMENDATION)
def test_recommendation(raw: dict[str, Any], expected: str) -> None:
    assert run(raw).recommendation == expected


@pytest.mark.parametrize(("oop", "note"), [(9_999, False), (10_000, False), (10_001, True)])
def test_boluo_adds_the_extra_medical_aid_note_by_data_alone(oop: float, note: bool) -> None:
    raw = {"household_size": 2, "annual_income_yuan": 1_000_000, "medical_out_of_pocket_yuan": oop}
    boluo, gangkou = run(raw, BOLUO), run(raw, GANGKOU)
    assert boluo.criteria_met == gangkou.criteria_met == []
    assert explained(boluo, "medical_extra_aid") == (["note"] if note else [])
    assert explained(gangkou, "medical_extra_aid") == []
    assert (boluo.policy_version, boluo.region_code) == (BOLUO.version, "boluo")


def test_a_threshold_change_in_data_changes_the_outcome() -> None:
    raw = {"medical_out_of_pocket_yuan": 25_000, "annual_income_yuan": 1_000_000}
    stricter = variant(GANGKOU, thresholds__medical_out_of_pocket_yuan=25_000)
    assert run(raw).criteria_met == []
    assert run(raw, stricter).criteria_met == ["medical"]
    assert "25,000 元 ≥ 25,000 元" in run(raw, stricter).explanations[0].text_zh


def test_explanations_name_the_rule_and_the_numbers_in_both_languages() -> None:
    result = run({"medical_out_of_pocket_yuan": 35_000})
    first = result.explanations[0]
    assert first.rule == "medical" and first.kind == "met"
    assert first.text_zh == "医疗自付 35,000 元 ≥ 30,000 元（港口乡方案 四(一)1(1)）"
    assert first.text_en == (
        "Medical out-of-pocket 35,000 yuan ≥ 30,000 yuan (港口乡方案 四(一)1(1))."
    )
    as_json = result.to_json()
    assert as_json["explanations"][0] == {
        "rule": "medical",
        "kind": "met",
        "text_zh": first.text_zh,
        "text_en": first.text_en,
    }
    assert json.loads(json.dumps(as_json)) == as_json


# --- properties --------------------------------------------------------------------------

_amount = st.none() | st.integers(0, MAX_AMOUNT_YUAN) | st.floats(0, MAX_AMOUNT_YUAN)
_flag = st.none() | st.booleans()
_answers = st.builds(
    Answers,
    household_size=st.none() | st.integers(1, 50),
    annual_income_yuan=_amount,
    previous_year_income_yuan=_amount,
    medical_out_of_pocket_yuan=_amount,
    disaster_loss_yuan=_amount,
    disaster_loss_ratio=st.none() | st.floats(0, 1),
    main_labourer_incapacitated=_flag,
    only_house_destroyed=_flag,
    can_rebuild=_flag,
    education_expense_yuan=_amount,
    unemployed_months=st.none() | st.floats(0, 600),
    business_failed=_flag,
    debts_yuan=_amount,
    negative=st.fixed_dictionaries({n: _flag for n in NEGATIVE_IDS}).map(
        lambda d: parse_answers({"negative": d}).negative
    ),
).flatmap(
    lambda a: st.lists(st.sampled_from(NEGATIVE_IDS), unique=True).map(
        lambda ids: a.model_copy(
            update={"negative_unknown": tuple(n for n in ids if getattr(a.negative, n) is None)}
        )
    )
)


@settings(max_examples=300)
@given(
    answers=_answers,
    policy=st.sampled_from([GANGKOU, BOLUO, WITH_LINE]),
    year=st.none() | st.integers(2000, 2100),
)
def test_assess_never_raises_and_never_refuses(
    answers: Answers, policy: Policy, year: int | None
) -> None:
    result = assess(answers, policy, year=year)
    assert assess(answers, policy, year=year) == result  # pure
    assert set(result.criteria_met) <= set(CRITERIA)
    assert result.fast_track == bool({"disaster", "accident_incapacity"} & {*result.criteria_met})
    met_explained = [e.rule for e in result.explanations if e.kind == "met"]
    assert met_explained == result.criteria_met
    assert set(result.negative_unknown) == set(answers.negative_unknown)  # both lists in full
    if result.negative_flags:
        assert result.recommendation == "cadre_decides"
    else:
        likely = result.criteria_met and not result.negative_unknown
        assert result.recommendation == ("likely" if likely else "review")
        assert not result.exception_path
    text = json.dumps(result.to_json(), ensure_ascii=False)
    assert not any(word in text for word in REFUSALS)
