"""The catalogs: every message translated in every language, none unused, none missing."""

from __future__ import annotations

import re
from pathlib import Path
from string import Formatter

import pytest

from bot.dialogs import DIALOGS
from intake.identity import IdProblem
from intake.queue import ItemKind, ItemStatus
from locales import LOCALES, catalog, catalog_paths, normalize_locale, read_catalog_file, translate

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    p
    for d in ("bot", "intake", "notifications")
    for p in (ROOT / d).rglob("*")
    if p.suffix in {".py", ".html"}
]
#: Message ids built at run time from an enum or a number, by family.
DYNAMIC = {
    *(f"error.id.{p.value}" for p in IdProblem),
    *(f"status.{s.value}" for s in ItemStatus),
    *(f"status.kind.{k.value}" for k in ItemKind),
    *(f"quick.people{n}" for n in range(1, 7)),
}


def _source_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in SOURCES)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name}


def test_every_area_file_exists_in_every_language() -> None:
    names = {loc: sorted(p.name for p in catalog_paths(loc)) for loc in LOCALES}
    assert names["zh_CN"] == names["en"]


@pytest.mark.parametrize("name", [p.name for p in catalog_paths("zh_CN")])
def test_each_file_translates_the_same_ids_with_the_same_placeholders(name: str) -> None:
    zh = read_catalog_file(catalog_paths("zh_CN")[0].parent / name, "zh_CN")
    en = read_catalog_file(catalog_paths("en")[0].parent / name, "en")
    assert sorted(zh.keys() - en.keys()) == [], "untranslated in en"
    assert sorted(en.keys() - zh.keys()) == [], "untranslated in zh_CN"
    for msgid in zh:
        assert _fields(zh[msgid]) == _fields(en[msgid]), f"{msgid}: placeholders differ"


def test_no_message_is_unused() -> None:
    source = _source_text()
    unused = sorted(
        msgid
        for msgid in catalog("zh_CN")
        if msgid not in DYNAMIC and f'"{msgid}"' not in source and f"'{msgid}'" not in source
    )
    assert unused == []


def test_every_message_the_code_names_exists() -> None:
    named = set(re.findall(r'Text\(\s*"([a-z_][a-z0-9_.]*)"', _source_text()))
    for dialog in DIALOGS.values():
        for step in dialog.steps:
            named.update(t for t in (step.prompt, step.help, step.summary, step.unit) if t)
            named.update(c.label for c in (*step.choices, *step.quick) if not c.literal)
    missing = sorted((named | DYNAMIC) - catalog("zh_CN").keys())
    assert missing == []


def test_translate_fills_placeholders_and_falls_back() -> None:
    assert (
        translate("en", "status.not_found", code="X")
        == "No matter found with code X; please check it."
    )
    assert translate("fr", "common.yes") == "是"
    assert normalize_locale("en-US") == "en" and normalize_locale(None) == "zh_CN"
