"""Intents as data: the shipped words, a region's own dialect words, and bad files refused."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.dialogs import DIALOGS
from bot.engine import Engine, Input, Session
from bot.flow import Context
from locales.intents import (
    COMMANDS,
    IntentsError,
    default_intents,
    intent_files,
    load_intents,
)

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
NOW = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)


def _copy_shipped(tmp_path: Path) -> Path:
    for path in intent_files():
        target = tmp_path / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return tmp_path


def test_every_language_ships_words_for_every_command_and_answer() -> None:
    shipped = {path.parent.name for path in intent_files()}
    assert shipped == {"zh_CN", "en"}
    words = default_intents().words
    for intent in (*COMMANDS, "yes", "no", "unsure", "skip"):
        assert words.get(intent), intent
    assert {"转人工", "人工客服", "听不懂", "打电话给我"} <= words["human"]
    assert {"human", "callme"} <= words["human"]


def test_every_intent_a_button_names_has_words() -> None:
    named = {
        choice.intent
        for dialog in DIALOGS.values()
        for step in dialog.steps
        for choice in (*step.choices, *step.quick)
        if choice.intent
    }
    assert named and named <= default_intents().words.keys()


@pytest.mark.parametrize(
    ("typed", "intent"),
    [
        ("转人工吧", "human"),
        ("我要找村干部！", "human"),
        ("  转 人工 ", "human"),
        ("ＨＵＭＡＮ", "human"),
        ("是的", "yes"),
        ("没有啊", "no"),
        ("不知道呢", "unsure"),
        ("我是他儿子", "relation.child"),
        ("什么", None),
        ("", None),
    ],
)
def test_words_match_after_folding(typed: str, intent: str | None) -> None:
    assert default_intents().match(typed) == intent


def test_a_region_adds_its_dialect_words(tmp_path: Path) -> None:
    root = _copy_shipped(tmp_path)
    (root / "zh_CN" / "intents.gangkou.yaml").write_text(
        "# 港口乡的土话\nintents:\n  'no': [莫得]\n  human: [喊个人来]\n", encoding="utf-8"
    )
    regional = load_intents(root)
    assert regional.match("莫得") == "no" and regional.command("喊个人来") == "human"
    assert regional.match("没有") == "no"  # the shipped words stay
    assert default_intents().match("莫得") is None

    context = Context(now=NOW)
    at_illness = Session(dialog="self_application", step="illness", updated_at=NOW.isoformat())
    sprint = Engine(DIALOGS, intents=regional).resume(at_illness, Input(text="莫得"), context)
    assert sprint.session.answers["has_illness"] is False
    sprint = Engine(DIALOGS, intents=regional).resume(at_illness, Input(text="喊个人来"), context)
    assert sprint.session.dialog == "callback"
    sprint = Engine(DIALOGS).resume(at_illness, Input(text="莫得"), context)
    assert "has_illness" not in sprint.session.answers


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("intents:\n  no: [莫得]\n", "must be quoted"),
        ("intents:\n  human: 人工\n", "expected a list of non-empty words"),
        ("intents:\n  human: ['']\n", "expected a list of non-empty words"),
        ("words:\n  human: [人工]\n", "expected the keys"),
        ("intents: [\n", "not valid YAML"),
        ("intents:\n  relation.child: [没有]\n", "'没有' is under both"),
    ],
)
def test_a_bad_region_file_is_refused_by_name(tmp_path: Path, content: str, problem: str) -> None:
    root = _copy_shipped(tmp_path)
    (root / "zh_CN" / "intents.bad.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(IntentsError, match=problem):
        load_intents(root)
