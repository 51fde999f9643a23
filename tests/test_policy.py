"""Policy files: the bundled regions load, and a broken file names file, key and problem."""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from intake.answers import NEGATIVE_IDS
from intake.policy import (
    CRITERIA,
    Policy,
    PolicyError,
    bundled_policy_dir,
    default_policy_path,
    load_policies,
    load_policy,
)

GANGKOU_VILLAGES = [
    "柏岭村",
    "横岭村",
    "大东港村",
    "小东港村",
    "北山村",
    "塘口村",
    "小沙坪村",
    "港口村",
    "油榨村",
    "石岭村",
    "游家村",
    "畈上村",
    "洞泉村",
]


@pytest.fixture(scope="module")
def policies() -> dict[str, Policy]:
    return load_policies()


@pytest.fixture(scope="module")
def gangkou_data() -> dict[str, Any]:
    data = yaml.safe_load(default_policy_path().read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _write(tmp_path: Path, data: object, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# --- the bundled files -------------------------------------------------------------------


def test_both_bundled_regions_load(policies: dict[str, Policy]) -> None:
    assert set(policies) == {"gangkou", "boluo"}
    assert {p.name for p in bundled_policy_dir().glob("*.yaml")} == {"gangkou.yaml", "boluo.yaml"}
    assert default_policy_path() == bundled_policy_dir() / "gangkou.yaml"
    assert load_policy(default_policy_path()) == policies["gangkou"]
    assert load_policy(str(default_policy_path())) == policies["gangkou"]


def test_gangkou_carries_seed_000(policies: dict[str, Policy]) -> None:
    gangkou = policies["gangkou"]
    assert gangkou.region.name == "港口乡"
    assert gangkou.region.level == "township"
    assert gangkou.region.hotline == "0715-3811061"
    assert gangkou.region.parents.county == "崇阳县"
    assert gangkou.source.document.endswith("000_364f6ef7a398cbc3.txt")
    assert [v.name for _, v in gangkou.villages()] == GANGKOU_VILLAGES
    t = gangkou.thresholds
    assert (t.medical_out_of_pocket_share, t.medical_out_of_pocket_yuan) == (0.2, 30000)
    assert (t.disaster_loss_ratio, t.disaster_loss_yuan) == (0.5, 50000)
    assert t.unemployed_months == 3
    assert t.medical_extra_aid_yuan is None
    assert t.exception_per_capita_income_yuan == 8000
    limits = gangkou.time_limits
    assert (limits.township_review_working_days, limits.public_notice_days) == (3, 7)
    assert (limits.help_max_months, limits.followup_months) == (12, 12)


def test_boluo_carries_seed_003_and_labels_its_sample_villages(policies: dict[str, Policy]) -> None:
    boluo = policies["boluo"]
    assert boluo.region.name == "博罗县"
    assert boluo.region.level == "county"
    assert boluo.region.hotline is None
    assert boluo.thresholds.medical_extra_aid_yuan == 10000
    assert boluo.rule_source("medical_extra_aid") == "博罗县方案 四4(4)"
    assert all(t.sample for t in boluo.townships)
    assert not any(t.sample for t in policies["gangkou"].townships)


def test_the_regions_differ_by_data(policies: dict[str, Policy]) -> None:
    gangkou, boluo = policies["gangkou"], policies["boluo"]
    assert gangkou.thresholds != boluo.thresholds
    assert gangkou.region.hotline != boluo.region.hotline


def test_lookups(policies: dict[str, Policy]) -> None:
    gangkou = policies["gangkou"]
    village = gangkou.village("gangkou-bailing")
    assert village is not None and village.name == "柏岭村"
    township = gangkou.township_of("gangkou-dongquan")
    assert township is not None and township.name == "港口乡"
    assert gangkou.village("boluo-sample-yicun") is None
    assert gangkou.township_of("nowhere") is None
    assert gangkou.risk_type_name("01") == "因重大疾病"
    assert gangkou.risk_type_name("42") == "42"
    assert [rt.code for rt in gangkou.risk_types_for("house_destroyed")] == ["02", "08"]
    item = gangkou.negative_item("business_owner")
    assert item is not None and item.zh == "私营业主和股东的"


def test_income_lines_without_a_figure_say_so(policies: dict[str, Policy]) -> None:
    for policy in policies.values():
        for line in policy.income_line:
            assert line.yuan_per_capita is None  # the seeds give no figure
            assert line.note
    found = policies["gangkou"].income_line_for(2022)
    assert found is not None and found.year == 2022
    assert policies["gangkou"].income_line_for(1999) is None


def test_vocabularies_are_complete(policies: dict[str, Policy]) -> None:
    for policy in policies.values():
        assert [n.id for n in policy.negative_list] == list(NEGATIVE_IDS)
        mapped = {c for rt in policy.risk_types for c in rt.criteria}
        assert mapped == set(CRITERIA)
        codes = [rt.code for rt in policy.risk_types]
        assert codes[:5] == ["01", "02", "03", "04", "05"] and "99" in codes
        for item in policy.negative_list:  # a flag, never a refusal
            assert "不符合" not in item.zh and "not eligible" not in item.en


def test_village_codes_are_unique_slugs(policies: dict[str, Policy]) -> None:
    codes = [v.code for p in policies.values() for _, v in p.villages()]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[a-z][a-z0-9-]*", c) for c in codes)


def test_a_policy_is_frozen(policies: dict[str, Policy]) -> None:
    with pytest.raises(ValueError, match="frozen"):
        policies["gangkou"].version = "x"  # type: ignore[misc]


# --- broken files ------------------------------------------------------------------------


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return edit


_DELETE = object()

BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    (
        "missing key",
        _set("thresholds.disaster_loss_yuan", _DELETE),
        "thresholds.disaster_loss_yuan",
        "missing key",
    ),
    (
        "ratio above 1",
        _set("thresholds.disaster_loss_ratio", 1.5),
        "thresholds.disaster_loss_ratio",
        "must be ≤ 1 (got 1.5)",
    ),
    (
        "negative amount",
        _set("thresholds.medical_out_of_pocket_yuan", -1),
        "thresholds.medical_out_of_pocket_yuan",
        "must be ≥ 0 (got -1)",
    ),
    (
        "number as text",
        _set("thresholds.disaster_loss_ratio", "0.5"),
        "thresholds.disaster_loss_ratio",
        "must be a number",
    ),
    ("unknown key", _set("thresholds.typo", 1), "thresholds.typo", "unknown key"),
    ("unquoted code", _set("risk_types.0.code", 1), "risk_types.0.code", "must be a string"),
    ("bad level", _set("region.level", "city"), "region.level", "must be one of 'township'"),
    (
        "bad village code",
        _set("townships.0.villages.0.code", "Bai Ling"),
        "townships.0.villages.0.code",
        "must match",
    ),
    (
        "duplicate village code",
        _set("townships.0.villages.1.code", "gangkou-bailing"),
        "townships.0.villages.1.code",
        "duplicate village code 'gangkou-bailing'",
    ),
    (
        "duplicate year",
        _set("income_line.1.year", 2021),
        "income_line.1.year",
        "duplicate year '2021'",
    ),
    (
        "null income line without a note",
        _set("income_line.0.note", _DELETE),
        "income_line.0",
        "a note is required when yuan_per_capita is null",
    ),
    (
        "unknown criterion",
        _set("risk_types.0.criteria", ["illness"]),
        "risk_types.0.criteria.0",
        "must be one of",
    ),
    (
        "criterion mapped nowhere",
        _set("risk_types.0.criteria", []),
        "risk_types",
        "criterion 'medical' maps to no risk type",
    ),
    ("unknown negative id", _set("negative_list.0.id", "yacht"), "negative_list.0.id", "must be"),
    ("no villages", _set("townships.0.villages", []), "townships.0.villages", "must not be empty"),
    ("bad hotline", _set("region.hotline", "call us"), "region.hotline", "must match"),
]


@pytest.mark.parametrize(
    ("edit", "key", "problem"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN]
)
def test_a_broken_file_names_file_key_and_problem(
    tmp_path: Path,
    gangkou_data: dict[str, Any],
    edit: Callable[[dict[str, Any]], None],
    key: str,
    problem: str,
) -> None:
    data = copy.deepcopy(gangkou_data)
    edit(data)
    path = _write(tmp_path, data)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    error = caught.value
    assert error.file == str(path)
    assert error.key == key
    assert error.problem.startswith(problem)
    assert str(error) == f"{path}: {key}: {error.problem}"


def test_several_problems_are_counted(tmp_path: Path, gangkou_data: dict[str, Any]) -> None:
    data = copy.deepcopy(gangkou_data)
    data["thresholds"]["disaster_loss_ratio"] = 2
    data["thresholds"]["medical_out_of_pocket_share"] = 3
    with pytest.raises(PolicyError, match=r"\(and 1 more problems\)$"):
        load_policy(_write(tmp_path, data))


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text('version: "1"\nregion:\n  code: x\n   name: y\n', encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.key == "<yaml>"
    assert caught.value.problem.startswith("line 4, column")


@pytest.mark.parametrize("text", ["- a list\n", "just text\n", ""])
def test_the_root_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "root.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=r": <root>: must be a mapping"):
        load_policy(path)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "nope.yaml")
    assert caught.value.key == "<file>"


# --- several files -----------------------------------------------------------------------


def test_a_village_code_must_be_unique_across_files(
    tmp_path: Path, gangkou_data: dict[str, Any]
) -> None:
    shutil.copy(default_policy_path(), tmp_path / "a_gangkou.yaml")
    other = copy.deepcopy(gangkou_data)
    other["region"]["code"] = "other"
    other["townships"][0]["code"] = "other"
    other["townships"][0]["villages"] = [{"code": "gangkou-beishan", "name": "北山村"}]
    path = _write(tmp_path, other, "b_other.yaml")
    with pytest.raises(PolicyError) as caught:
        load_policies(tmp_path)
    assert caught.value.file == str(path)
    assert caught.value.key == "townships.0.villages.0.code"
    assert caught.value.problem == "village 'gangkou-beishan' also in a_gangkou.yaml"


def test_a_region_code_must_be_unique_across_files(tmp_path: Path) -> None:
    shutil.copy(default_policy_path(), tmp_path / "a.yaml")
    shutil.copy(default_policy_path(), tmp_path / "b.yaml")
    with pytest.raises(PolicyError, match=r"b\.yaml: region\.code: duplicate region 'gangkou'"):
        load_policies(tmp_path)


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no policy files"):
        load_policies(tmp_path)
