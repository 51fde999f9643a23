"""The monthly figures: counts by kind, route, outcome and time to answer; the XLSX is text."""

from __future__ import annotations

import io
from datetime import date

import pytest
from conftest import FakeClock
from openpyxl import load_workbook
from reports_support import ReportWorld, complaint, make_world, tip

from intake.policy import Policy
from intake.reports.figures import figures_rows, figures_xlsx, monthly_figures
from intake.reports.kinds import report_rules
from intake.reports.models import Report
from intake.reports.procedure import Action, apply


@pytest.fixture
def world(database_url: str, clock: FakeClock) -> ReportWorld:
    return make_world(database_url, clock)


def _answer(world: ReportWorld, report: Report, user: str) -> None:
    person = world.users[user]
    with world.db.write() as session:
        row = session.get(Report, report.id)
        assert row is not None
        for action, facts in (
            (Action.ACCEPT, {"assignee_id": person.id}),
            (Action.ANSWER, {"answer": "已答复。"}),
        ):
            apply(
                session,
                row,
                action,
                user=person,
                cipher=world.cipher,
                now=world.clock(),
                facts=facts,
            )


def _figures(world: ReportWorld, user: str, today: date = date(2026, 12, 31)):  # type: ignore[no-untyped-def]
    with world.db.read() as session:
        return monthly_figures(
            session,
            scope=world.users[user].scope(),
            year=2026,
            month=11,
            calendar=world.calendar,
            today=today,
        )


def test_the_county_counts_by_kind_route_outcome_and_time(world: ReportWorld) -> None:
    answered = world.file(tip())
    world.file(tip(village_told=False))
    world.file(complaint("cadre"))
    world.file(complaint("township"))
    world.clock.advance(days=2)  # Friday 27 Nov: two working days after filing
    _answer(world, answered, "bailing")
    world.clock.advance(days=10)  # December: not in November's figures
    world.file(tip())
    figures = _figures(world, "county")
    assert figures.total == 4
    assert figures.by_kind == {"tip": 2, "complaint": 2}
    assert figures.by_route == {"village": 1, "township": 2, "county": 1}
    assert figures.by_outcome == {"answered": 1, "received": 3}
    assert figures.working_days == (2,) and figures.answered_on_time == 1
    assert figures.open_overdue == 3  # first responses were due by 30 Nov
    rows = figures_rows(figures, world.rules)
    assert ["按类型", "投诉", 2] in rows and ["按类型", "建议", 0] in rows
    assert ["按办理层级", "县级办理", 1] in rows
    assert ["答复时间", "答复用时中位数（工作日）", 2] in rows


def test_the_village_counts_only_what_the_scope_rule_shows_it(world: ReportWorld) -> None:
    world.file(tip())
    world.file(complaint("cadre"))
    world.file(complaint("committee"))
    assert _figures(world, "bailing").total == 1
    assert _figures(world, "township").total == 3


def test_every_text_cell_of_the_sheet_is_text_never_a_formula(world: ReportWorld) -> None:
    world.file(tip())
    policy: Policy = world.policy
    reports = dict(policy.reports)
    kinds = dict(reports["kinds"])
    kinds["tip"] = dict(kinds["tip"]) | {"name": '=HYPERLINK("http://x","线索")'}
    kinds["report"] = dict(kinds["report"]) | {"name": "@SUM(1+1)"}
    rules = report_rules(policy.model_copy(update={"reports": reports | {"kinds": kinds}}))
    data = figures_xlsx(_figures(world, "county"), rules, unit="+港口乡\t")
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    texts = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
    assert all(c.data_type == "s" for c in texts)
    values = [c.value for c in texts]
    assert '\'=HYPERLINK("http://x","线索")' in values and "'@SUM(1+1)" in values
    assert "单位：+港口乡\t" in values
    assert not any(str(v).startswith(("=", "+", "-", "@")) for v in values)
    assert sheet["A1"].value == "2026年11月群众反映办理情况"
