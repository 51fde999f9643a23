"""Every status, kind, action, role… has a name in both languages, and nothing more."""

from __future__ import annotations

from intake.assessment import Assessment
from intake.procedure import Action
from intake.queue import ItemKind, ItemStatus
from intake.users import Role
from intake.web.answers_view import ANSWER_FIELDS
from intake.web.labels import (
    ACTION,
    ANSWER,
    EVENT,
    FAMILIES,
    HINT,
    KIND,
    RECOMMENDATION,
    ROLE,
    STATUS,
)
from locales import catalog


def test_every_enum_value_has_a_label() -> None:
    assert set(STATUS) == {s.value for s in ItemStatus}
    assert set(KIND) == {k.value for k in ItemKind}
    assert set(ACTION) == set(HINT) == {a.value for a in Action}
    assert {f"procedure.{a.value}" for a in Action} <= set(EVENT)
    assert set(ROLE) == {r.value for r in Role}
    assert set(ANSWER) == set(ANSWER_FIELDS)
    recommendation = Assessment.model_fields["recommendation"].annotation
    assert set(RECOMMENDATION) == set(recommendation.__args__)  # type: ignore[union-attr]


def test_every_label_is_translated_in_both_languages() -> None:
    for family in FAMILIES.values():
        for msgid in family.values():
            assert msgid in catalog("zh_CN") and msgid in catalog("en"), msgid
