"""The person picks another language: kept on the contact for what is sent later."""

from __future__ import annotations

from bot.effects import EffectCall, handles
from bot.flow import Reply


@handles("language_changed")
def language_changed(call: EffectCall) -> list[Reply]:
    """Notices and reminders go out in the language chosen here."""
    call.contact.language = str(call.data["language"])
    call.db.add(call.contact)
    return []
