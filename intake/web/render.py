"""Jinja2 rendering for the cadre pages: autoescaped templates, texts from the catalogs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from intake.notices import format_date
from intake.web.forms import required_fields
from intake.web.item_view import due_text
from intake.web.labels import FAMILIES
from locales import normalize_locale, translate

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["due_text"] = due_text
templates.env.globals["format_date"] = format_date
templates.env.globals["required_fields"] = required_fields
templates.env.filters["todatetime"] = datetime.fromisoformat


def translator(locale: str) -> Any:
    """``t(msgid, **params)`` for templates; ``t.label("status", key)`` names a key of a
    :mod:`~intake.web.labels` family (an unknown key is shown as it is)."""
    locale = normalize_locale(locale)

    def t(msgid: str, /, **params: object) -> str:
        return translate(locale, msgid, **params)

    def label(family: str, key: str) -> str:
        msgid = FAMILIES[family].get(key)
        return translate(locale, msgid) if msgid else key

    t.label = label  # type: ignore[attr-defined]
    t.locale = locale  # type: ignore[attr-defined]
    return t


def page(
    request: Request, name: str, locale: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render template ``name`` with the page texts of ``locale``."""
    data = {"t": translator(locale), "locale": normalize_locale(locale), **context}
    return templates.TemplateResponse(request, name, data, status_code=status_code)
