"""Report kinds from the policy files, and the routing rules they feed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from intake.policy import PolicyError, bundled_policy_dir, load_policies, load_policy
from intake.reports.kinds import Level, ReportKind, SubjectKind, report_rules
from intake.reports.routing import level_above, route

POLICIES = load_policies()


def _with_reports(tmp_path: Path, change: Any) -> Path:
    """A copy of gangkou.yaml whose ``reports`` section ``change`` edits in place."""
    data = yaml.safe_load((bundled_policy_dir() / "gangkou.yaml").read_text(encoding="utf-8"))
    change(data["reports"])
    path = tmp_path / "gangkou.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("region", sorted(POLICIES))
def test_every_bundled_policy_has_every_kind(region: str) -> None:
    rules = report_rules(POLICIES[region])
    assert set(rules.kinds) == set(ReportKind)
    assert rules.objection_days >= 1 and rules.anonymous_per_chat_per_day >= 1


@pytest.mark.parametrize(
    ("kind", "subject", "told", "level", "reason"),
    [
        ("tip", "household", True, Level.VILLAGE, "rule_household"),
        ("tip", "household", False, Level.TOWNSHIP, "village_not_told"),
        ("report", "household", True, Level.VILLAGE, "rule_household"),
        ("report", "household", False, Level.TOWNSHIP, "village_not_told"),
        ("complaint", "cadre", True, Level.TOWNSHIP, "concerns_village"),
        ("complaint", "committee", True, Level.TOWNSHIP, "concerns_village"),
        ("complaint", "township", True, Level.COUNTY, "concerns_township"),
        ("inquiry", "general", True, Level.VILLAGE, "rule_general"),
        ("suggestion", "general", True, Level.TOWNSHIP, "rule_general"),
    ],
)
def test_routing_follows_the_policy_file(
    kind: str, subject: str, told: bool, level: Level, reason: str
) -> None:
    rule = report_rules(POLICIES["gangkou"]).kind(kind)
    found = route(rule, SubjectKind(subject), village_told=told)
    assert (found.level, found.reason) == (level, reason)


def test_asking_the_village_not_be_told_never_lowers_a_level() -> None:
    rule = report_rules(POLICIES["gangkou"]).kind("complaint")
    assert route(rule, SubjectKind.TOWNSHIP, village_told=False).level is Level.COUNTY


def test_a_question_cannot_skip_the_village_when_the_policy_does_not_allow_it() -> None:
    rule = report_rules(POLICIES["gangkou"]).kind("inquiry")
    with pytest.raises(ValueError, match="cannot bypass"):
        route(rule, SubjectKind.GENERAL, village_told=False)


def test_an_objection_goes_one_level_up_and_stops_at_the_county() -> None:
    assert [level_above(level) for level in Level] == [
        Level.TOWNSHIP,
        Level.COUNTY,
        Level.COUNTY,
    ]


@pytest.mark.parametrize(
    ("subject", "level"), [("cadre", "village"), ("committee", "village"), ("township", "township")]
)
def test_a_policy_routing_a_complaint_to_the_level_it_concerns_is_refused(
    tmp_path: Path, subject: str, level: str
) -> None:
    path = _with_reports(
        tmp_path, lambda r: r["kinds"]["complaint"]["routes"].update({subject: level})
    )
    with pytest.raises(PolicyError) as caught:
        report_rules(load_policy(path), str(path))
    assert caught.value.key == "reports.kinds.complaint"
    assert "must go above" in caught.value.problem


def test_a_policy_missing_a_kind_is_refused(tmp_path: Path) -> None:
    path = _with_reports(tmp_path, lambda r: r["kinds"].pop("suggestion"))
    with pytest.raises(PolicyError, match="kinds missing: suggestion"):
        report_rules(load_policy(path))


def test_a_subject_without_a_route_is_refused(tmp_path: Path) -> None:
    path = _with_reports(tmp_path, lambda r: r["kinds"]["tip"]["routes"].clear())
    with pytest.raises(PolicyError, match="subject 'household' has no route"):
        report_rules(load_policy(path))


def test_a_policy_without_the_section_says_so(tmp_path: Path) -> None:
    data = yaml.safe_load((bundled_policy_dir() / "gangkou.yaml").read_text(encoding="utf-8"))
    del data["reports"]
    path = tmp_path / "gangkou.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        report_rules(load_policy(path), str(path))
    assert (caught.value.key, caught.value.problem) == ("reports", "missing key")
