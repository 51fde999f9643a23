"""Words per intent, as data: what villagers type to ask for a person, say yes, or name kin.

Each language has ``locales/<lang>/intents.yaml``; a region adds its dialect words in
``locales/<lang>/intents.<region>.yaml`` (same shape, words only added, never removed).
Every file of every language is merged, so a villager may type either language at any
step. A typed text matches an intent when, after folding, it equals one of the words:
folding makes full-width characters half-width, lowers the case, drops spaces and
punctuation, then particles (的/了/吧/啊…) at either end and one leading filler
(我要, 帮我, 我是他…). So ``"我要找村干部！"`` and ``"转人工吧"`` are both ``human``.

    >>> default_intents().command("转人工吧")
    'human'
    >>> default_intents().match("没", among=("yes", "no"))
    'no'

A word may belong to a command (``human``, ``back``…) and to one answer intent (村干部 is
``human`` and ``relation.cadre``): where a step offers that answer, the answer wins. Two
answer intents never share a word (checked at load).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml

#: Intents that act as commands at any step (see :mod:`bot.engine`).
COMMANDS: Final = ("human", "back", "restart", "help", "menu")
_HERE = Path(__file__).resolve().parent


class IntentsError(ValueError):
    """An intents file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Intents:
    """Folded words per intent, with the fillers folding strips."""

    words: Mapping[str, frozenset[str]]
    prefixes: tuple[str, ...] = ()
    particles: str = ""

    def forms(self, text: str) -> tuple[str, ...]:
        """The ways ``text`` is compared: as typed (folded), then without particles and filler."""
        typed = unicodedata.normalize("NFKC", text).strip().lower()
        bare = _fold(typed)
        trimmed = bare.strip(self.particles)
        forms = [typed, bare, trimmed]
        for prefix in self.prefixes:
            if trimmed.startswith(prefix) and len(trimmed) > len(prefix):
                forms.append(trimmed[len(prefix) :].strip(self.particles))
                break
        return tuple(dict.fromkeys(f for f in forms if f))

    def match(self, text: str, among: Iterable[str] | None = None) -> str | None:
        """The intent ``text`` names, looking only at ``among`` when given."""
        names = tuple(self.words) if among is None else tuple(among)
        for form in self.forms(text):
            for name in names:
                if form in self.words.get(name, ()):
                    return name
        return None

    def command(self, text: str) -> str | None:
        """The command (:data:`COMMANDS`) ``text`` names, if any."""
        return self.match(text, COMMANDS)


def _fold(text: str) -> str:
    """Lower case without spaces, punctuation or symbols (``"转 人工！"`` → ``"转人工"``)."""
    kept = (ch for ch in text.lower() if unicodedata.category(ch)[0] not in "PSZC")
    return "".join(kept)


def intent_files(directory: Path | None = None) -> list[Path]:
    """Every intents file: each language's ``intents.yaml``, then its regions' files."""
    root = directory or _HERE
    return sorted(root.glob("*/intents.yaml")) + sorted(root.glob("*/intents.*.yaml"))


def load_intents(directory: Path | None = None) -> Intents:
    """Merge the intents files under ``directory`` (default: the shipped ``locales/``)."""
    words: dict[str, set[str]] = {}
    prefixes: set[str] = set()
    particles: set[str] = set()
    for path in intent_files(directory):
        data = _read(path)
        fillers = data.get("fillers") or {}
        prefixes.update(_fold(p) for p in _strings(path, "fillers.prefixes", fillers, "prefixes"))
        particles.update("".join(_strings(path, "fillers.particles", fillers, "particles")))
        for name, listed in (data.get("intents") or {}).items():
            if not isinstance(name, str):  # YAML reads a bare yes: or no: as a boolean
                raise IntentsError(f"{path}: intents: the key {name!r} must be quoted")
            for word in _strings(path, f"intents.{name}", {"w": listed}, "w"):
                folded = _fold(word) or word.strip().lower()
                words.setdefault(str(name), set()).add(folded)
    _check_answers_disjoint(words)
    ordered = tuple(sorted(prefixes, key=len, reverse=True))
    return Intents({k: frozenset(v) for k, v in words.items()}, ordered, "".join(particles))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise IntentsError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(data, dict) or not set(data) <= {"fillers", "intents"}:
        raise IntentsError(f"{path}: expected the keys 'fillers' and 'intents' only")
    return data


def _strings(path: Path, key: str, data: Mapping[str, Any], field: str) -> list[str]:
    listed = data.get(field) or []
    if not isinstance(listed, list) or not all(isinstance(w, str) and w.strip() for w in listed):
        raise IntentsError(f"{path}: {key}: expected a list of non-empty words")
    return [str(w) for w in listed]


def _check_answers_disjoint(words: Mapping[str, set[str]]) -> None:
    """Two answer intents sharing a word would make that word mean two things."""
    seen: dict[str, str] = {}
    for name in sorted(words):
        if name in COMMANDS:
            continue
        for word in words[name]:
            other = seen.setdefault(word, name)
            if other != name:
                raise IntentsError(f"intents: {word!r} is under both {other!r} and {name!r}")


@cache
def default_intents() -> Intents:
    """The shipped intents, loaded once."""
    return load_intents()


__all__ = [
    "COMMANDS",
    "Intents",
    "IntentsError",
    "default_intents",
    "intent_files",
    "load_intents",
]
