"""Short tracking codes that survive being read aloud over the phone or copied by hand.

A code is 8 symbols shown as ``"ABCD-234G"``: 7 random symbols and 1 check symbol. The
alphabet leaves out every character easily taken for another: 0/O, 1/I/L, U (V) and Z (2),
which leaves 29 symbols. Because 29 is prime, the check symbol makes
``sum((i + 1) * value(symbol_i) for i in 0..7) % 29 == 0``; with the distinct weights 1..8
this catches every single wrong symbol and every swap of two symbols. 29**7 (about 1.7e10)
codes leave guessing hopeless as long as status lookups are rate-limited.
"""

from __future__ import annotations

import random
import re
import secrets
from enum import StrEnum

__all__ = [
    "ALPHABET",
    "LOOK_ALIKES",
    "CodeProblem",
    "looks_like_tracking_code",
    "new_tracking_code",
    "normalize_tracking_code",
    "tracking_code_problem",
]

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXY"
_MODULUS = len(ALPHABET)  # 29, prime
_RANDOM_SYMBOLS = 7
_VALUE = {symbol: index for index, symbol in enumerate(ALPHABET)}
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―－]+")
#: Characters left out of the alphabet, each with the symbols it was most likely meant as
#: (0 and O look like D or Q; 1, I and L like 7, J or T; U is V; Z is 2).
LOOK_ALIKES = {"0": "DQ", "O": "DQ", "1": "7JT", "I": "7JT", "L": "7JT", "U": "V", "Z": "2"}


class CodeProblem(StrEnum):
    """Why typed text is not a valid code."""

    #: Not 8 characters of the alphabet (too short, too long, other characters).
    SHAPE = "shape"
    #: 8 characters, some of them left out of the alphabet as look-alikes (0, O, 1, I, L, U, Z).
    LOOK_ALIKE = "look_alike"
    #: 8 symbols of the alphabet, but the check symbol does not match: a typo or a swap.
    CHECK = "check"


def _check_symbol(body: str) -> str:
    """The symbol that makes the weighted sum of ``body + symbol`` divisible by 29."""
    partial = sum((i + 1) * _VALUE[symbol] for i, symbol in enumerate(body))
    weight = len(body) + 1
    return ALPHABET[(-partial * pow(weight, -1, _MODULUS)) % _MODULUS]


def _format(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def new_tracking_code(rng: random.Random | None = None) -> str:
    """A fresh code like ``"K7QX-M4HD"``; pass a seeded ``random.Random`` in tests."""
    choose = secrets.choice if rng is None else rng.choice
    body = "".join(choose(ALPHABET) for _ in range(_RANDOM_SYMBOLS))
    return _format(body + _check_symbol(body))


def _compact(raw: str) -> str:
    """Half-width, upper-cased, without separators."""
    return _SEPARATORS.sub("", raw.translate(_HALF_WIDTH)).upper()


def _symbols(raw: str) -> str | None:
    """Upper-cased symbols without separators if ``raw`` has a code's shape, else None."""
    text = _compact(raw)
    if len(text) != _RANDOM_SYMBOLS + 1 or any(symbol not in _VALUE for symbol in text):
        return None
    return text


def normalize_tracking_code(raw: str) -> str | None:
    """Canonical ``"XXXX-XXXX"``, or None unless ``raw`` is a valid code.

    Accepts lower case, spaces, missing or extra hyphens and full-width characters. Look-alike
    characters outside the alphabet (0, O, 1, I, L, U, Z) are not guessed at: each could stand
    for two symbols, so the input is refused and the caller asks again. A wrong check symbol
    (a typo or a swap) also gives None.
    """
    symbols = _symbols(raw)
    if symbols is None or _check_symbol(symbols[:-1]) != symbols[-1]:
        return None
    return _format(symbols)


def looks_like_tracking_code(raw: str) -> bool:
    """True if ``raw`` has a code's shape (8 alphabet symbols), even with a wrong check symbol.

    Use it to route a message to the status lookup; then :func:`normalize_tracking_code`
    tells a valid code from a mistyped one, so the bot can say "one character seems wrong".
    """
    return _symbols(raw) is not None


def tracking_code_problem(raw: str) -> tuple[CodeProblem, str] | None:
    """Why ``raw`` is not a valid code, or None if it is one.

    Returns the problem and the compact characters typed (``"F57CNP95"``); for
    :attr:`CodeProblem.CHECK` they are formatted as a code (``"F57C-NP95"``) so the bot can
    show what it read. The caller turns the problem into words: a wrong check symbol means
    one character was probably misread or mistyped; a look-alike names the characters that
    are never used (see :data:`LOOK_ALIKES`).
    """
    text = _compact(raw)
    if len(text) == _RANDOM_SYMBOLS + 1 and all(ch in _VALUE for ch in text):
        if _check_symbol(text[:-1]) == text[-1]:
            return None
        return CodeProblem.CHECK, _format(text)
    if len(text) == _RANDOM_SYMBOLS + 1 and all(ch in _VALUE or ch in LOOK_ALIKES for ch in text):
        return CodeProblem.LOOK_ALIKE, text
    return CodeProblem.SHAPE, text
