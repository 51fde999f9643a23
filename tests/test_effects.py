"""The effect registry: each kind registers its handler; the effects know no dialog."""

from __future__ import annotations

import inspect
import re
import sys
from datetime import UTC, datetime

import pytest

from bot import effect_kinds
from bot.dialogs import DIALOGS
from bot.effects import HANDLERS, EffectCall, handles
from bot.flow import Effect, Reply
from bot.services import Services
from bot.state import Session as DialogState
from intake.contacts import Contact


def test_every_effect_a_wired_dialog_emits_has_a_handler() -> None:
    emitted: set[str] = set()
    for dialog in DIALOGS.values():
        source = inspect.getsource(sys.modules[_module_of(dialog.id)])
        emitted |= set(re.findall(r'Effect\(\s*"([a-z_]+)"', source))
    assert emitted and emitted <= set(effect_kinds.HANDLERS)


def _module_of(dialog_id: str) -> str:
    import bot.dialogs as package

    for name in package.__dict__:
        module = sys.modules.get(f"bot.dialogs.{name}")
        if module is not None and getattr(module, "DIALOG", None) is DIALOGS[dialog_id]:
            return module.__name__
    raise LookupError(dialog_id)


def test_the_effects_module_imports_no_dialog() -> None:
    import bot.effects

    assert "bot.dialogs" not in inspect.getsource(bot.effects)


def test_a_second_handler_for_one_name_is_refused_at_import() -> None:
    def other(call: EffectCall) -> list[Reply]:
        return []

    with pytest.raises(ValueError, match="already has a handler"):
        handles("draft_saved")(other)
    assert HANDLERS["draft_saved"] is not other


def test_an_effect_without_a_handler_is_a_lookup_error(services: Services) -> None:
    with services.db.write() as db, pytest.raises(LookupError, match="no handler"):
        services.effects.apply(
            db, Effect("nobody_handles_this"), Contact(channel="x", external_id="y"),
            DialogState(), datetime(2026, 11, 25, tzinfo=UTC),
        )  # fmt: skip
