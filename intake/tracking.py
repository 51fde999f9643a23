"""Short tracking codes that survive being read aloud over the phone or copied by hand.

A code is 8 symbols shown as ``"ABCD-2345"``: 7 random symbols and 1 check symbol. The
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

__all__ = ["ALPHABET", "looks_like_tracking_code", "new_tracking_code", "normalize_tracking_code"]

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXY"
_MODULUS = len(ALPHABET)  # 29, prime
_RANDOM_SYMBOLS = 7
_VALUE = {symbol: index for index, symbol in enumerate(ALPHABET)}
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―－]+")


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


def _symbols(raw: str) -> str | None:
    """Upper-cased symbols without separators if ``raw`` has a code's shape, else None."""
    text = _SEPARATORS.sub("", raw.translate(_HALF_WIDTH)).upper()
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
