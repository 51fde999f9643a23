"""Gettext catalogs for every text a person reads: zh_CN first, en second.

Message ids are symbolic (``apply.medical.ask``) rather than source sentences, so that
both catalogs are translations of the same key and a test can tell an untranslated or
unused message.  Catalogs are plain ``.po`` files read with Babel at first use; there is
no compile step to forget. The words villagers type per intent (转人工, 没有, 儿子…) are data
too, in ``<lang>/intents.yaml`` beside the catalogs (see :mod:`locales.intents`).

    >>> from locales import translate
    >>> translate("en", "common.yes")
    'Yes'
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Final

from babel.messages.pofile import read_po

DEFAULT_LOCALE: Final = "zh_CN"
LOCALES: Final = ("zh_CN", "en")
_HERE = Path(__file__).resolve().parent


class MissingMessage(KeyError):
    """A message id has no translation in a catalog."""


def catalog_paths(locale: str) -> list[Path]:
    """The ``.po`` files of ``locale``: ``messages.po`` (the chat) and one per other area."""
    return sorted((_HERE / locale / "LC_MESSAGES").glob("*.po"))


def read_catalog_file(path: Path, locale: str) -> dict[str, str]:
    """The translated messages of one ``.po`` file."""
    with path.open("rb") as handle:
        po = read_po(handle, locale=locale)
    return {str(m.id): str(m.string) for m in po if m.id and m.string and not m.fuzzy}


@cache
def catalog(locale: str) -> dict[str, str]:
    """Every translated message of ``locale`` as ``{msgid: text}`` (cached).

    A message id defined in two files of one locale is an error, not a silent override.
    """
    merged: dict[str, str] = {}
    for path in catalog_paths(locale):
        entries = read_catalog_file(path, locale)
        clash = sorted(merged.keys() & entries.keys())
        if clash:
            raise ValueError(f"{path}: message ids defined twice: {', '.join(clash[:5])}")
        merged.update(entries)
    return merged


def normalize_locale(value: str | None) -> str:
    """Map a client's language code (``zh-hans``, ``en-US``, ``zh_TW``…) to one we ship."""
    if not value:
        return DEFAULT_LOCALE
    lowered = value.replace("-", "_").lower()
    if lowered.startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def translate(locale: str, msgid: str, /, **params: object) -> str:
    """The text of ``msgid`` in ``locale`` with ``{name}`` placeholders filled.

    Falls back to zh_CN, then raises :class:`MissingMessage`: a missing text is a bug the
    catalog tests catch, never something a villager should see as a raw key.
    """
    text = catalog(normalize_locale(locale)).get(msgid)
    if text is None:
        text = catalog(DEFAULT_LOCALE).get(msgid)
    if text is None:
        raise MissingMessage(msgid)
    return text.format(**params) if params else text


def has_message(msgid: str) -> bool:
    """Whether the default catalog knows ``msgid``."""
    return msgid in catalog(DEFAULT_LOCALE)


__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "MissingMessage",
    "catalog",
    "catalog_paths",
    "has_message",
    "normalize_locale",
    "read_catalog_file",
    "translate",
]
