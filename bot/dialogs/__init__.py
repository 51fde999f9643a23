"""The conversations, one module each; :data:`DIALOGS` is the registry the engine walks."""

from __future__ import annotations

from bot.dialogs import (
    callback,
    helper_link,
    language,
    menu,
    mine,
    report,
    report_followup,
    self_application,
    status_lookup,
    visit,
)
from bot.flow import Dialog

DIALOGS: dict[str, Dialog] = {
    module.DIALOG.id: module.DIALOG
    for module in (
        menu,
        self_application,
        status_lookup,
        callback,
        language,
        mine,
        report,
        report_followup,
        helper_link,
        visit,
    )
}

__all__ = ["DIALOGS"]
