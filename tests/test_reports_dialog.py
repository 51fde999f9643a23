"""The report dialog through the real engine: each kind, anonymous and named, and its texts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.dialogs import DIALOGS
from bot.dialogs.report import DIALOG, SUBJECTS
from bot.engine import Engine, Input, Session
from bot.flow import Context, Effect, Reply, Village
from bot.render import render
from intake.policy import load_policies
from intake.reports.kinds import report_rules
from locales import LOCALES, catalog

NOW = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
VILLAGES = (Village("v-a", "甲村", "t-1", "一乡"), Village("v-b", "乙村", "t-1", "一乡"))
ENGINE = Engine({**DIALOGS, "report": DIALOG})
CONTEXT = Context(now=NOW, villages=VILLAGES)
XSS = "<script>alert(1)</script> =cmd|' /C calc'!A0"


def _run(steps: list[tuple[str, str]]) -> tuple[list[Reply], list[Effect]]:
    """Drive the dialog from its first question: ``("press", value)`` or ``("type", text)``."""
    state = Session(dialog="report", step="kind")
    replies: list[Reply] = []
    effects: list[Effect] = []
    for how, value in steps:
        given = Input(data=f"{state.step}:{value}") if how == "press" else Input(text=value)
        sprint = ENGINE.resume(state, given, CONTEXT)
        state = sprint.session
        replies += [e for e in sprint.events if isinstance(e, Reply)]
        effects += [e for e in sprint.events if isinstance(e, Effect)]
    assert state.dialog == "menu", "the dialog finished"
    return replies, effects


def _asked(replies: list[Reply]) -> list[str]:
    return [getattr(r.parts[0], "msgid", "") for r in replies]


def test_an_anonymous_tip_the_village_is_not_told_of() -> None:
    replies, effects = _run(
        [
            ("press", "tip"),
            ("press", "v-a"),
            ("type", "张大山"),
            ("press", "no"),
            ("type", XSS),
            ("press", "anonymous"),
        ]
    )
    assert _asked(replies)[:5] == [
        "report.village",
        "report.household_name",
        "report.village_told",
        "report.text",
        "report.identity",
    ]
    identity = render(replies[4], "zh_CN").text
    assert "乡镇工作专班" in identity and "匿名" in identity and "实名" in identity
    assert "被反映的人看不到是谁反映的" in identity
    assert [e.name for e in effects] == ["report_filed"]
    data: dict[str, Any] = dict(effects[0].data)
    assert data == {
        "kind": "tip",
        "village": "v-a",
        "subject": "household",
        "subject_name": "张大山",
        "village_told": False,
        "text": XSS,
        "anonymous": True,
        "started_at": NOW.isoformat(),
    }


def test_a_named_complaint_about_a_cadre_with_an_id_number() -> None:
    replies, effects = _run(
        [
            ("press", "complaint"),
            ("press", "v-b"),
            ("press", "cadre"),
            ("type", "李支书"),
            ("type", "评定时优亲厚友。"),
            ("press", "named"),
            ("type", "王小红"),
            ("type", "13800138000"),
            ("press", "yes"),
            ("press", "yes"),
            ("type", "11010519491231002X"),
        ]
    )
    said = render(replies[4], "en").text
    assert "the village will not see this complaint" in said
    data = dict(effects[0].data)
    assert (data["subject"], data["anonymous"], data["callback_consent"]) == ("cadre", False, True)
    assert (data["name"], data["phone"], data["id_number"]) == (
        "王小红",
        "13800138000",
        "11010519491231002X",
    )


@pytest.mark.parametrize(
    ("kind", "who"), [("inquiry", "本村村委会"), ("suggestion", "乡镇工作专班")]
)
def test_a_question_or_suggestion_asks_no_subject(kind: str, who: str) -> None:
    replies, effects = _run(
        [("press", kind), ("press", "v-a"), ("type", "低保怎么申请？"), ("press", "anonymous")]
    )
    assert "report.subject" not in _asked(replies)
    identity = render(replies[-2], "zh_CN").text
    assert who in identity
    # No one is reported on: the prompt says who reads it, not that "they" will not see.
    assert "只有办理的干部看得到" in identity and "被反映的人" not in identity
    assert effects[0].data["subject"] == "general"
    asked = render(replies[-3], "en").text
    assert asked == (
        "Please write your question:" if kind == "inquiry" else "Please write your suggestion:"
    )


def test_a_complaint_about_the_township_says_the_county_handles_it() -> None:
    replies, effects = _run(
        [
            ("press", "complaint"),
            ("press", "v-a"),
            ("press", "township"),
            ("type", "拖了三个月没人管。"),
            ("press", "named"),
            ("type", "王小红"),
            ("type", "13800138000"),
            ("press", "no"),
            ("press", "no"),
        ]
    )
    assert any("县里" in render(r, "zh_CN").text for r in replies)
    assert effects[0].data["id_number"] is None and effects[0].data["callback_consent"] is False


@pytest.mark.parametrize("region", sorted(load_policies()))
def test_the_subjects_offered_are_the_policy_files(region: str) -> None:
    rules = report_rules(load_policies()[region])
    for kind, rule in rules.kinds.items():
        assert SUBJECTS[kind.value] == tuple(s.value for s in rule.subjects)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_text_the_dialog_names_is_in_the_catalogs(locale: str) -> None:
    named = set()
    for step in DIALOG.steps:
        named.update(t for t in (step.prompt, step.help) if t)
        named.update(c.label for c in step.choices if not c.literal)
    named |= {f"report.subject.{s}" for s in ("household", "cadre", "committee", "township")}
    named |= {f"report.who.{w}" for w in ("village", "township", "township_not_village", "county")}
    assert sorted(named - catalog(locale).keys()) == []
